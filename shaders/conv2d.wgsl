// 2-D convolution with PyTorch's conv2d semantics (no groups, no dilation), one thread per output
// element. Row-major NCHW:
//   x: [batch, in_channels, in_h, in_w]       w: [out_channels, in_channels, kernel_h, kernel_w]
//   bias: [out_channels] (read only when has_bias == 1)   y: [batch, out_channels, out_h, out_w]
// y[b, co, oy, ox] = bias[co] + sum over ci, ky, kx of
//   x[b, ci, oy * stride_h + ky - pad_h, ox * stride_w + kx - pad_w] * w[co, ci, ky, kx],
// where taps that fall in the zero padding add nothing.

struct Params {
    total: u32,
    in_channels: u32,
    out_channels: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.total) {
        return;
    }
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let co = (i / (p.out_w * p.out_h)) % p.out_channels;
    let b = i / (p.out_w * p.out_h * p.out_channels);
    let plane = p.in_h * p.in_w;
    let taps = p.kernel_h * p.kernel_w;
    let x_base = b * p.in_channels * plane;
    let w_base = co * p.in_channels * taps;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kernel_h; ky++) {
        // Coordinates in the padded image stay unsigned: a tap reads the image when
        // pad <= coordinate < size + pad.
        let py = oy * p.stride_h + ky;
        if (py < p.pad_h || py >= p.in_h + p.pad_h) {
            continue;
        }
        for (var kx = 0u; kx < p.kernel_w; kx++) {
            let px = ox * p.stride_w + kx;
            if (px < p.pad_w || px >= p.in_w + p.pad_w) {
                continue;
            }
            let x_at = x_base + (py - p.pad_h) * p.in_w + (px - p.pad_w);
            let w_at = w_base + ky * p.kernel_w + kx;
            for (var ci = 0u; ci < p.in_channels; ci++) {
                acc = fma(x[x_at + ci * plane], w[w_at + ci * taps], acc);
            }
        }
    }
    if (p.has_bias == 1u) {
        acc += bias[co];
    }
    y[i] = acc;
}
