// Transposed 2-D convolution with PyTorch's conv_transpose2d semantics (no groups, no dilation),
// one thread per output element. Row-major NCHW:
//   x: [batch, in_channels, in_h, in_w]       w: [in_channels, out_channels, kernel_h, kernel_w]
//   bias: [out_channels] (read only when has_bias == 1)   y: [batch, out_channels, out_h, out_w]
// PyTorch defines it as a scatter: input pixel (iy, ix) adds x * w[ci, co, ky, kx] to output
// (iy * stride_h - pad_h + ky, ix * stride_w - pad_w + kx). Here it is a gather, so no two
// threads write one element: output (oy, ox) takes tap ky from input row
// iy = (oy + pad_h - ky) / stride_h when that division is exact and 0 <= iy < in_h; same for x.
// output_padding only makes out_h, out_w larger, so the shader never sees it.

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
    // Consecutive input channels of w[ci, co, ky, kx] lie one [out_channels, kh, kw] block apart.
    let w_step = p.out_channels * taps;
    let x_base = b * p.in_channels * plane;
    let w_base = co * taps;
    // Unsigned: oy + pad_h - ky must be >= 0, so ky <= ty, and only the taps congruent to ty
    // modulo the stride divide exactly; start at the first and step by the stride.
    let ty = oy + p.pad_h;
    let tx = ox + p.pad_w;
    var acc = 0.0;
    for (var ky = ty % p.stride_h; ky < p.kernel_h && ky <= ty; ky += p.stride_h) {
        let iy = (ty - ky) / p.stride_h;
        if (iy >= p.in_h) {
            continue;
        }
        for (var kx = tx % p.stride_w; kx < p.kernel_w && kx <= tx; kx += p.stride_w) {
            let ix = (tx - kx) / p.stride_w;
            if (ix >= p.in_w) {
                continue;
            }
            let x_at = x_base + iy * p.in_w + ix;
            let w_at = w_base + ky * p.kernel_w + kx;
            for (var ci = 0u; ci < p.in_channels; ci++) {
                acc = fma(x[x_at + ci * plane], w[w_at + ci * w_step], acc);
            }
        }
    }
    if (p.has_bias == 1u) {
        acc += bias[co];
    }
    y[i] = acc;
}
