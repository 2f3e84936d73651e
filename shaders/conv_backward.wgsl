// The backward pass of conv.wgsl's convolutions, for the parameters (the gradient with respect
// to the input is the other convolution: see conv_backward.rs). Row-major NCHW, as the forward.
//
// weight_grad: for conv2d(x, w) = y, the gradient dw[co, ci, ky, kx] = sum over b, oy, ox of
//   dy[b, co, oy, ox] * x[b, ci, oy * stride_h + ky - pad_h, ox * stride_w + kx - pad_w] (taps in
//   the padding add nothing); dw is [out_channels, in_channels, kernel_h, kernel_w], and dy is
//   [batch, out_channels, out_h, out_w]. One thread per weight element, summing its taps in order.
//   (conv_transpose2d's weight gradient is this one with x and dy swapped.)
// bias_grad: db[c] = sum over b and the plane of dy[b, c, ..]; one 64-thread workgroup per
//   channel (the grid wraps into y).
// Both add to what the gradient holds when p.accumulate is 1, as PyTorch's .grad does over two
// backward passes, and overwrite it when 0.

struct Params {
    total: u32,
    batch: u32,
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
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;

fn store(i: u32, sum: f32) {
    grad[i] = select(sum, grad[i] + sum, p.accumulate == 1u);
}

@compute @workgroup_size(256, 1, 1)
fn weight_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.total) {
        return;
    }
    let kx = i % p.kernel_w;
    let ky = (i / p.kernel_w) % p.kernel_h;
    let ci = (i / (p.kernel_w * p.kernel_h)) % p.in_channels;
    let co = i / (p.kernel_w * p.kernel_h * p.in_channels);
    let in_plane = p.in_h * p.in_w;
    let out_plane = p.out_h * p.out_w;
    var sum = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        let x_base = (b * p.in_channels + ci) * in_plane;
        let dy_base = (b * p.out_channels + co) * out_plane;
        for (var oy = 0u; oy < p.out_h; oy++) {
            // Unsigned coordinates in the padded image, as the forward kernel.
            let py = oy * p.stride_h + ky;
            if (py < p.pad_h || py >= p.in_h + p.pad_h) {
                continue;
            }
            let x_row = x_base + (py - p.pad_h) * p.in_w;
            for (var ox = 0u; ox < p.out_w; ox++) {
                let px = ox * p.stride_w + kx;
                if (px < p.pad_w || px >= p.in_w + p.pad_w) {
                    continue;
                }
                sum = fma(dy[dy_base + oy * p.out_w + ox], x[x_row + px - p.pad_w], sum);
            }
        }
    }
    store(i, sum);
}

@compute @workgroup_size(REDUCE_THREADS)
fn bias_grad(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let c = wg.x + wg.y * groups.x;
    if (c >= p.out_channels) {
        return;
    }
    let plane = p.out_h * p.out_w;
    var sum = 0.0;
    for (var j = li; j < p.batch * plane; j += REDUCE_THREADS) {
        sum += dy[((j / plane) * p.out_channels + c) * plane + j % plane];
    }
    let total = workgroup_reduce(li, sum, false);
    if (li == 0u) {
        store(c, total);
    }
}
