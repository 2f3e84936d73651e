// out = x w^T for x [m, k] in f32 and a quantized w [n, k], without a dequantized copy of w,
// with what a Llama block fuses around it:
// - p.has_norm: each row of x is RMS-normalised and scaled by `norm_weight` on the way in. The
//   thread's loop over the row sums its squares beside the product, and the product of the
//   unscaled row is multiplied by 1 / rms at the end (the product is linear in the row).
// - p.glu (0: none, else an act.wgsl op + 1): w's rows are two halves, [gate; up], and the
//   thread for column j < n / 2 writes act(gate_j) * up_j (SwiGLU with SiLU): out is [m, n / 2].
// - p.has_residual: `residual` (out's shape) is added last.
// Prefixed with act.wgsl and the block format's functions (q4_1.wgsl or q8_0.wgsl): binding 2
// `w`, block_scale and block_codes, over rows of k / 32 blocks. One thread per output element:
// it adds d * (x . q) + m * sum(x) per block. Neighbouring threads take neighbouring weight
// rows, whose blocks the upload placed side by side. (Giving a thread several rows of x, to
// unpack each block once for all of them, was 1.2-4x slower on lavapipe, likely from its
// private array of accumulators.)

struct Params {
    m: u32,
    n: u32,
    k: u32,
    has_norm: u32,
    eps: f32,
    glu: u32,
    alpha: f32,
    has_residual: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read> norm_weight: array<f32>;

// Row `row` of x (scaled by norm_weight when normed) times weight row `col`, and the sum of
// squares of the row of x.
fn product(row: u32, col: u32) -> vec2<f32> {
    let blocks = p.k / 32u;
    var acc = 0.0;
    var squares = 0.0;
    for (var b = 0u; b < blocks; b++) {
        let xb = row * p.k + b * 32u;
        var qx = 0.0;
        var sum = vec4<f32>();
        for (var g = 0u; g < 8u; g++) {
            let i = xb + 4u * g;
            var xs = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
            if (p.has_norm == 1u) {
                squares += dot(xs, xs);
                let c = b * 32u + 4u * g;
                xs *= vec4<f32>(norm_weight[c], norm_weight[c + 1u], norm_weight[c + 2u], norm_weight[c + 3u]);
            }
            qx += dot(xs, block_codes(p.n, blocks, col, b, g));
            sum += xs;
        }
        let dm = block_scale(p.n, blocks, col, b);
        acc = fma(dm.x, qx, fma(dm.y, dot(sum, vec4<f32>(1.0)), acc));
    }
    return vec2<f32>(acc, squares);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let col = id.x;
    let row = id.y;
    let cols = select(p.n, p.n / 2u, p.glu != 0u);
    if (col >= cols || row >= p.m) {
        return;
    }
    let first = product(row, col);
    var scale = 1.0;
    if (p.has_norm == 1u) {
        scale = inverseSqrt(first.y / f32(p.k) + p.eps);
    }
    var v = first.x * scale;
    if (p.glu != 0u) {
        v = activate(p.glu - 1u, p.alpha, v) * product(row, col + cols).x * scale;
    }
    let at = row * cols + col;
    if (p.has_residual == 1u) {
        v += residual[at];
    }
    out[at] = v;
}
