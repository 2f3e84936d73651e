// C[batch] = A[batch] x B[batch] (+ bias), tiled through workgroup memory.
// A is M x K; B is K x N, or N x K when transposed (a PyTorch Linear weight); C is M x N.
//
// Each workgroup of 16 x 16 threads computes a TILE_M x 128 tile of C, walking K 8 at a time;
// TILE_M (128, or 64 for matrices of a few dozen rows, which a 128-row tile would mostly pad)
// comes from the file put in front (matmul_tile_m128.wgsl or matmul_tile_m64.wgsl).
// Thread (tx, ty) owns an 8 x 8 block: rows ty*4 + 0..3 and 64 + ty*4 + 0..3, columns tx*4 + 0..3
// and 64 + tx*4 + 0..3 of the tile (a 4 x 8 block, the top rows only, in a 64-row tile).
// Splitting each thread's block in halves 64 apart lets neighbouring threads read
// neighbouring vec4s of the tiles (no bank conflicts), and every step of K costs 4 vec4 reads
// of workgroup memory for 64 fused multiply-adds (3 for 32 in a 64-row tile).
// The accumulators are indexed by constants only, so they stay in registers. Parameters,
// bindings, the norm and the epilogue: matmul_common.wgsl.

const TILE: u32 = 128u; // columns, and the most rows
const TILE_K: u32 = 8u;
const THREADS: u32 = 256u;
// 32 vec4 per row of K, plus one: writes that walk K then land in different banks.
const ROW_VEC4S: u32 = 33u;

var<workgroup> a_tile: array<array<vec4<f32>, ROW_VEC4S>, TILE_K>; // [k][m / 4]
var<workgroup> b_tile: array<array<vec4<f32>, ROW_VEC4S>, TILE_K>; // [k][n / 4]
// With a norm: the tile's rows' means and 1 / standard deviations, and per-thread partial sums.
var<workgroup> row_mean: array<f32, TILE>;
var<workgroup> row_rstd: array<f32, TILE>;
var<workgroup> partial: array<f32, THREADS>;

// Element (row0 + r, col) of A, normalised when there is a norm; 0 outside A.
fn load_a(base: u32, row0: u32, r: u32, col: u32) -> f32 {
    let row = row0 + r;
    if (row < p.m && col < p.k) {
        let v = a[base + row * p.k + col];
        if (p.has_norm == 1u) {
            return normed(v, col, row_mean[r], row_rstd[r]);
        }
        return v;
    }
    return 0.0;
}

// Threads a row for the norm's statistics: 2 in a 128-row tile, 4 in a 64-row one.
const ROW_THREADS: u32 = THREADS / TILE_M;

// A sum over every ROW_THREADS-th column of row `row` of A from column `first`, minus `mean`,
// squared when `squares`; 0 past A's last row.
fn strided_row_sum(base: u32, row: u32, first: u32, mean: f32, squares: bool) -> f32 {
    var s = 0.0;
    if (row < p.m) {
        for (var k = first; k < p.k; k += ROW_THREADS) {
            let d = a[base + row * p.k + k] - mean;
            s += select(d, d * d, squares);
        }
    }
    return s;
}

// The sum of the ROW_THREADS partial sums from thread `li` on.
fn row_total(li: u32) -> f32 {
    var s = 0.0;
    for (var t = 0u; t < ROW_THREADS; t++) {
        s += partial[li + t];
    }
    return s;
}

// The layer-norm statistics of the tile's TILE_M rows, ROW_THREADS threads a row, two passes.
fn row_statistics(base: u32, row0: u32, li: u32) {
    let r = li / ROW_THREADS;
    let first = li % ROW_THREADS;
    partial[li] = strided_row_sum(base, row0 + r, first, 0.0, false);
    workgroupBarrier();
    if (first == 0u) {
        row_mean[r] = row_total(li) / f32(p.k);
    }
    workgroupBarrier();
    partial[li] = strided_row_sum(base, row0 + r, first, row_mean[r], true);
    workgroupBarrier();
    if (first == 0u) {
        row_rstd[r] = inverseSqrt(row_total(li) / f32(p.k) + p.eps);
    }
    workgroupBarrier();
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
    if (k < p.k && n < p.n) {
        if (p.b_transposed == 1u) {
            return b[base + n * p.k + k];
        }
        return b[base + k * p.n + n];
    }
    return 0.0;
}

// Writes four neighbouring elements of one row of C, those inside it.
fn store(batch: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (col + j < p.n) {
            finish(batch, row, col + j, v[j]);
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let batch = wg.z;
    let row0 = wg.y * TILE_M;
    let col0 = wg.x * TILE;
    let a_base = batch * p.a_batch_stride;
    let b_base = batch * p.b_batch_stride;
    let tx = lid.x;
    let ty = lid.y;

    if (p.has_norm == 1u) {
        row_statistics(a_base, row0, li);
    }
    var acc: array<vec4<f32>, 16>; // acc[2 r + h]: row r of the block, column half h
    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
        // B's tile holds 1024 elements, four per thread, A's TILE_M x 8; consecutive threads
        // read consecutive addresses of A (along K) and of B (along N, or K when transposed).
        for (var r = 0u; r < TILE_M * TILE_K / THREADS; r++) {
            let e = li + r * THREADS;
            let am = e / TILE_K;
            let ak = e % TILE_K;
            a_tile[ak][am / 4u][am % 4u] = load_a(a_base, row0, am, k0 + ak);
        }
        for (var r = 0u; r < 4u; r++) {
            let e = li + r * THREADS;
            var bk = e / TILE;
            var bn = e % TILE;
            if (p.b_transposed == 1u) {
                bn = e / TILE_K;
                bk = e % TILE_K;
            }
            b_tile[bk][bn / 4u][bn % 4u] = load_b(b_base, k0 + bk, col0 + bn);
        }
        workgroupBarrier();

        for (var k = 0u; k < TILE_K; k++) {
            let a0 = a_tile[k][ty];
            let b0 = b_tile[k][tx];
            let b1 = b_tile[k][tx + 16u];
            acc[0] = fma(vec4(a0.x), b0, acc[0]);
            acc[1] = fma(vec4(a0.x), b1, acc[1]);
            acc[2] = fma(vec4(a0.y), b0, acc[2]);
            acc[3] = fma(vec4(a0.y), b1, acc[3]);
            acc[4] = fma(vec4(a0.z), b0, acc[4]);
            acc[5] = fma(vec4(a0.z), b1, acc[5]);
            acc[6] = fma(vec4(a0.w), b0, acc[6]);
            acc[7] = fma(vec4(a0.w), b1, acc[7]);
            if (TILE_M == 64u) {
                continue;
            }
            let a1 = a_tile[k][ty + 16u];
            acc[8] = fma(vec4(a1.x), b0, acc[8]);
            acc[9] = fma(vec4(a1.x), b1, acc[9]);
            acc[10] = fma(vec4(a1.y), b0, acc[10]);
            acc[11] = fma(vec4(a1.y), b1, acc[11]);
            acc[12] = fma(vec4(a1.z), b0, acc[12]);
            acc[13] = fma(vec4(a1.z), b1, acc[13]);
            acc[14] = fma(vec4(a1.w), b0, acc[14]);
            acc[15] = fma(vec4(a1.w), b1, acc[15]);
        }
        workgroupBarrier();
    }

    let top = row0 + ty * 4u;
    let bottom = top + 64u;
    let left = col0 + tx * 4u;
    let right = left + 64u;
    store(batch, top, left, acc[0]);
    store(batch, top, right, acc[1]);
    store(batch, top + 1u, left, acc[2]);
    store(batch, top + 1u, right, acc[3]);
    store(batch, top + 2u, left, acc[4]);
    store(batch, top + 2u, right, acc[5]);
    store(batch, top + 3u, left, acc[6]);
    store(batch, top + 3u, right, acc[7]);
    if (TILE_M == 64u) {
        return;
    }
    store(batch, bottom, left, acc[8]);
    store(batch, bottom, right, acc[9]);
    store(batch, bottom + 1u, left, acc[10]);
    store(batch, bottom + 1u, right, acc[11]);
    store(batch, bottom + 2u, left, acc[12]);
    store(batch, bottom + 2u, right, acc[13]);
    store(batch, bottom + 3u, left, acc[14]);
    store(batch, bottom + 3u, right, acc[15]);
}
