// The product for a few rows of A (a decode step's one token) against a transposed B ([n, k], a
// linear layer's [out, in]): a workgroup makes 8 outputs of one row, 8 threads each, which
// stride along k, so neighbouring threads read neighbouring values of A's row and of B's rows
// (with one thread per output, as in matmul_naive.wgsl's `rows`, neighbours read B k values
// apart); each output's 8 partial sums are then added through workgroup memory. The norm's
// statistics are reduced over the whole workgroup. Parameters, bindings, the norm and the
// epilogue: matmul_common.wgsl; the reduction: reduce.wgsl.

const COLUMNS: u32 = 8u;
const LANES: u32 = 8u; // REDUCE_THREADS / COLUMNS

var<workgroup> partial_sums: array<f32, REDUCE_THREADS>;

@compute @workgroup_size(REDUCE_THREADS, 1, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let col = group.x * COLUMNS + li / LANES;
    let lane = li % LANES;
    let row = group.y;
    let batch = group.z;
    let a_row = batch * p.a_batch_stride + row * p.k;
    var mean = 0.0;
    var rstd = 1.0;
    if (p.has_norm == 1u) {
        var sum = 0.0;
        for (var k = li; k < p.k; k += REDUCE_THREADS) {
            sum += a[a_row + k];
        }
        mean = workgroup_reduce(li, sum, false) / f32(p.k);
        var squares = 0.0;
        for (var k = li; k < p.k; k += REDUCE_THREADS) {
            let d = a[a_row + k] - mean;
            squares += d * d;
        }
        rstd = inverseSqrt(workgroup_reduce(li, squares, false) / f32(p.k) + p.eps);
    }
    var acc = 0.0;
    if (col < p.n) {
        let b_row = batch * p.b_batch_stride + col * p.k;
        for (var k = lane; k < p.k; k += LANES) {
            var av = a[a_row + k];
            if (p.has_norm == 1u) {
                av = normed(av, k, mean, rstd);
            }
            acc = fma(av, b[b_row + k], acc);
        }
    }
    partial_sums[li] = acc;
    workgroupBarrier();
    if (lane == 0u && col < p.n) {
        var total = 0.0;
        for (var l = 0u; l < LANES; l++) {
            total += partial_sums[li + l];
        }
        finish(batch, row, col, total);
    }
}
