// out = x w^T for x [m, k] in f32 and a quantized w [n, k], without a dequantized copy of w.
// Prefixed with the block format's functions (q4_1.wgsl or q8_0.wgsl): binding 2 `w`,
// block_scale and block_codes, over rows of k / 32 blocks. One thread per output element: it
// adds d * (x . q) + m * sum(x) per block. Neighbouring threads take neighbouring weight rows,
// whose blocks the upload placed side by side. (Giving a thread several rows of x, to unpack
// each block once for all of them, was 1.2-4x slower on lavapipe, likely from its private
// array of accumulators.)

struct Params {
    m: u32,
    n: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let col = id.x;
    let row = id.y;
    if (col >= p.n || row >= p.m) {
        return;
    }
    let blocks = p.k / 32u;
    var acc = 0.0;
    for (var b = 0u; b < blocks; b++) {
        let xb = row * p.k + b * 32u;
        var qx = 0.0;
        var sum = vec4<f32>();
        for (var g = 0u; g < 8u; g++) {
            let i = xb + 4u * g;
            let xs = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
            qx += dot(xs, block_codes(p.n, blocks, col, b, g));
            sum += xs;
        }
        let dm = block_scale(p.n, blocks, col, b);
        acc = fma(dm.x, qx, fma(dm.y, dot(sum, vec4<f32>(1.0)), acc));
    }
    out[row * p.n + col] = acc;
}
