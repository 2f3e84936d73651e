// 2-D convolution and transposed convolution with PyTorch's semantics (no groups, no
// dilation), both as gathers (no atomics). Row-major NCHW:
//   x: [batch, in_channels, in_h, in_w]      y: [batch, out_channels, out_h, out_w]
//   w: [out_channels, in_channels, kernel_h, kernel_w] for conv2d,
//      [in_channels, out_channels, kernel_h, kernel_w] for conv_transpose2d (PyTorch's layouts)
//   bias: [out_channels] (read only when has_bias == 1)
// Each thread computes CO_BLOCK consecutive output channels of one output pixel: every input
// value it reads meets CO_BLOCK weights, so x is read CO_BLOCK times less often than with one
// thread per output element; neighbouring threads take neighbouring pixels (coalesced reads of
// x, and the same weights: one fetch serves the workgroup). The block comes from the file
// prefixed to this one: conv_block4.wgsl (a vec4 of channels), or conv_block1.wgsl for layers of
// fewer channels (an image's 1 or 3), where a block of 4 would mostly compute channels that do
// not exist. Each gives CO_BLOCK, the accumulator type Block, the weight offsets of the block's
// channels (Offsets, from offsets()), weights() to read a block's weights and lane() one value.
//
// conv2d: y[b, co, oy, ox] = bias[co] + sum over ci, ky, kx of
//   x[b, ci, oy * stride_h + ky - pad_h, ox * stride_w + kx - pad_w] * w[co, ci, ky, kx],
// where taps that fall in the zero padding add nothing.
//
// conv_transpose2d: PyTorch defines it as a scatter: input pixel (iy, ix) adds x * w[ci, co, ky, kx]
// to output (iy * stride_h - pad_h + ky, ix * stride_w - pad_w + kx). As a gather, no two threads
// write one element: output (oy, ox) takes tap ky from input row iy = (oy + pad_h - ky) / stride_h
// when that division is exact and 0 <= iy < in_h; same for x. output_padding only makes out_h,
// out_w larger, so the shader never sees it.

struct Params {
    total: u32, // threads: batch * ceil(out_channels / CO_BLOCK) * out_h * out_w
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

// The output pixel and channels this thread computes: (batch, first channel, row, column).
struct Output {
    b: u32,
    co: u32,
    oy: u32,
    ox: u32,
}

// Threads run over the pixels of one channel block of one image, then the blocks, then the batch.
fn output_of(gid: vec3<u32>, groups: vec3<u32>) -> Output {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    let blocks = (p.out_channels + CO_BLOCK - 1u) / CO_BLOCK;
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let block = (i / (p.out_w * p.out_h)) % blocks;
    let b = i / (p.out_w * p.out_h * blocks);
    return Output(b, block * CO_BLOCK, oy, ox);
}

fn write(o: Output, acc: Block) {
    for (var r = 0u; r < CO_BLOCK; r++) {
        let co = o.co + r;
        if (co < p.out_channels) {
            var v = lane(acc, r);
            if (p.has_bias == 1u) {
                v += bias[co];
            }
            y[((o.b * p.out_channels + co) * p.out_h + o.oy) * p.out_w + o.ox] = v;
        }
    }
}

@compute @workgroup_size(256, 1, 1)
fn conv2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    if (gid.x + gid.y * groups.x * WORKGROUP_SIZE >= p.total) {
        return;
    }
    let o = output_of(gid, groups);
    let plane = p.in_h * p.in_w;
    let taps = p.kernel_h * p.kernel_w;
    let x_base = o.b * p.in_channels * plane;
    let w_base = offsets(o.co, p.in_channels * taps);
    var acc = Block(0.0);
    for (var ky = 0u; ky < p.kernel_h; ky++) {
        // Coordinates in the padded image stay unsigned: a tap reads the image when
        // pad <= coordinate < size + pad.
        let py = o.oy * p.stride_h + ky;
        if (py < p.pad_h || py >= p.in_h + p.pad_h) {
            continue;
        }
        for (var kx = 0u; kx < p.kernel_w; kx++) {
            let px = o.ox * p.stride_w + kx;
            if (px < p.pad_w || px >= p.in_w + p.pad_w) {
                continue;
            }
            let x_at = x_base + (py - p.pad_h) * p.in_w + (px - p.pad_w);
            let tap = ky * p.kernel_w + kx;
            for (var ci = 0u; ci < p.in_channels; ci++) {
                let xv = x[x_at + ci * plane];
                let w_at = tap + ci * taps;
                acc = fma(Block(xv), weights(w_base, w_at), acc);
            }
        }
    }
    write(o, acc);
}

@compute @workgroup_size(256, 1, 1)
fn conv_transpose2d(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    if (gid.x + gid.y * groups.x * WORKGROUP_SIZE >= p.total) {
        return;
    }
    let o = output_of(gid, groups);
    let plane = p.in_h * p.in_w;
    let taps = p.kernel_h * p.kernel_w;
    // Consecutive input channels of w[ci, co, ky, kx] lie one [out_channels, kh, kw] block apart.
    let w_step = p.out_channels * taps;
    let x_base = o.b * p.in_channels * plane;
    let w_base = offsets(o.co, taps);
    // Unsigned: oy + pad_h - ky must be >= 0, so ky <= ty, and only the taps congruent to ty
    // modulo the stride divide exactly; start at the first and step by the stride.
    let ty = o.oy + p.pad_h;
    let tx = o.ox + p.pad_w;
    var acc = Block(0.0);
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
            let tap = ky * p.kernel_w + kx;
            for (var ci = 0u; ci < p.in_channels; ci++) {
                let xv = x[x_at + ci * plane];
                let w_at = tap + ci * w_step;
                acc = fma(Block(xv), weights(w_base, w_at), acc);
            }
        }
    }
    write(o, acc);
}
