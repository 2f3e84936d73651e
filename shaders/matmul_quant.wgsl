// out = x w^T for x [m, k] in f32 and a quantized w [n, k], without a dequantized copy of w,
// with what a Llama block fuses around it:
// - p.has_norm: each row of x is RMS-normalised and scaled by `norm_weight` on the way in. The
//   row's squares are summed as the workgroup copies it in, and the product of the unscaled row
//   is multiplied by 1 / rms at the end (the product is linear in the row).
// - p.glu (0: none, else an act.wgsl op + 1): w's rows are two halves, [gate; up], and the
//   thread for column j < n / 2 writes act(gate_j) * up_j (SwiGLU with SiLU): out is [m, n / 2].
// - p.has_residual: `residual` (out's shape) is added last.
// - p.has_rope: w is a fused q, k, v projection ([q_heads + 2 kv_heads] heads of 2 half rows),
//   and the thread for rotary pair j takes its two columns and writes them as rope_turn.wgsl's
//   write_qkv_pair does: the turned queries into out ([m, q_heads, head_dim]), the turned keys
//   and the values into rows pos0.. of the KV cache (k_cache, v_cache).
// Prefixed with act.wgsl, rope_turn.wgsl and the block format's functions (q4_1.wgsl or
// q8_0.wgsl): binding 2 `w`, block_scale and block_codes, over rows of k / 32 blocks.
// p.slices threads an output element, each over every p.slices-th block, add d * (x . q) +
// m * sum(x) per block, reading x from workgroup memory, and their sums meet in workgroup
// memory: 4 on a GPU, which then has four times the threads (36 workgroups for SmolLM2's 576
// columns, not 9), 1 on a software adapter, where the extra workgroups made a decode step 1.5x
// slower (lavapipe). Neighbouring threads take neighbouring weight rows, whose blocks the
// upload placed side by side. (Giving a thread several rows of x, to unpack each block once
// for all of them, was 1.2-4x slower on lavapipe, likely from its private array of
// accumulators.)

struct Params {
    m: u32,
    n: u32,
    k: u32,
    has_norm: u32,
    eps: f32,
    glu: u32,
    alpha: f32,
    has_residual: u32,
    has_rope: u32,
    half: u32,
    split_half: u32,
    pos0: u32,
    q_heads: u32,
    kv_heads: u32,
    slices: u32, // threads a column: 1, 2 or 4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read> norm_weight: array<f32>;
@group(0) @binding(6) var<storage, read> freq: array<array<f32, 3>>;
@group(0) @binding(7) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_cache: array<f32>;

const THREADS: u32 = 64u;

// The workgroup's row of x, 256 values (8 blocks) at a time, scaled by norm_weight when normed.
var<workgroup> chunk: array<vec4<f32>, THREADS>;
// Each thread's sum of squares of the row, for the norm, and its sums of products.
var<workgroup> squares: array<f32, THREADS>;
var<workgroup> first_sums: array<f32, THREADS>;
var<workgroup> second_sums: array<f32, THREADS>;

// Slice `slice` of the chunk's first `blocks` blocks (every p.slices-th from block `slice`)
// times weight row `col`, from block `first` of the row.
fn chunk_product(col: u32, first: u32, blocks: u32, slice: u32) -> f32 {
    let row_blocks = p.k / 32u;
    var acc = 0.0;
    for (var b = slice; b < blocks; b += p.slices) {
        var qx = 0.0;
        var sum = vec4<f32>();
        for (var g = 0u; g < 8u; g++) {
            let xs = chunk[b * 8u + g];
            qx += dot(xs, block_codes(p.n, row_blocks, col, first + b, g));
            sum += xs;
        }
        let dm = block_scale(p.n, row_blocks, col, first + b);
        acc = fma(dm.x, qx, fma(dm.y, dot(sum, vec4<f32>(1.0)), acc));
    }
    return acc;
}

// A workgroup takes one row of x and THREADS / p.slices columns of out. Its threads first copy
// 256 values of the row into `chunk` (normed there once, rather than in every thread), then
// each adds the product of its slice of those blocks with its column's weights; barriers keep
// every thread in the loop, even past the last column. The first slice's threads add the
// others' sums.
@compute @workgroup_size(THREADS, 1, 1)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let columns = THREADS / p.slices;
    let col = group.x * columns + lane % columns;
    let slice = lane / columns;
    let row = group.y;
    // A gated unit's thread takes columns col and col + n / 2; a rotary pair's, its two dims.
    let pairs = p.glu != 0u || p.has_rope == 1u;
    let cols = select(p.n, p.n / 2u, pairs);
    let writes = col < cols;
    var first_col = col;
    var second_col = col + cols;
    if (p.has_rope == 1u) {
        let head_row = col / p.half * 2u * p.half;
        let dims = pair_dims(col % p.half);
        first_col = head_row + dims.x;
        second_col = head_row + dims.y;
    }
    var first = 0.0;
    var second = 0.0;
    var sum_squares = 0.0;
    for (var c0 = 0u; c0 < p.k; c0 += 256u) {
        let c = c0 + 4u * lane;
        var xs = vec4<f32>();
        if (c < p.k) {
            let i = row * p.k + c;
            xs = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
            if (p.has_norm == 1u) {
                sum_squares += dot(xs, xs);
                xs *= vec4<f32>(norm_weight[c], norm_weight[c + 1u], norm_weight[c + 2u], norm_weight[c + 3u]);
            }
        }
        chunk[lane] = xs;
        workgroupBarrier();
        if (writes) {
            let blocks = min(8u, (p.k - c0) / 32u);
            first += chunk_product(first_col, c0 / 32u, blocks, slice);
            if (pairs) {
                second += chunk_product(second_col, c0 / 32u, blocks, slice);
            }
        }
        workgroupBarrier();
    }
    squares[lane] = sum_squares;
    first_sums[lane] = first;
    second_sums[lane] = second;
    workgroupBarrier();
    if (slice != 0u || !writes) {
        return;
    }
    for (var s = 1u; s < p.slices; s++) {
        first += first_sums[lane + s * columns];
        second += second_sums[lane + s * columns];
    }
    var scale = 1.0;
    if (p.has_norm == 1u) {
        var total = 0.0;
        for (var t = 0u; t < THREADS; t++) {
            total += squares[t];
        }
        scale = inverseSqrt(total / f32(p.k) + p.eps);
    }
    if (p.has_rope == 1u) {
        write_qkv_pair(row, col, first * scale, second * scale);
        return;
    }
    var v = first * scale;
    if (p.glu != 0u) {
        v = activate(p.glu - 1u, p.alpha, v) * second * scale;
    }
    let at = row * cols + col;
    if (p.has_residual == 1u) {
        v += residual[at];
    }
    out[at] = v;
}
