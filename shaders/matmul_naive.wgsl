// The same product as matmul_tiled.wgsl, one thread per output element reading straight from
// global memory: the baseline the tiled kernel is measured against (`main`, 16 x 16 threads),
// and the kernel for a few rows (`rows`, 64 x 1 threads), such as one token's decode step,
// where a 128-row tile would compute mostly padding (on a hardware GPU, against a transposed B,
// matmul_vector.wgsl instead). Parameters, bindings, the norm and the
// epilogue: matmul_common.wgsl.

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    product(id.y, id.x, id.z);
}

@compute @workgroup_size(64, 1, 1)
fn rows(@builtin(global_invocation_id) id: vec3<u32>) {
    product(id.y, id.x, id.z);
}

fn product(row: u32, col: u32, batch: u32) {
    if (row >= p.m || col >= p.n) {
        return;
    }
    let a_row = batch * p.a_batch_stride + row * p.k;
    let b_base = batch * p.b_batch_stride;
    // The row's layer-norm statistics, two passes (each thread of the row works them out: a few
    // rows of a few hundred values, read from cache).
    var mean = 0.0;
    var rstd = 1.0;
    if (p.has_norm == 1u) {
        var sum = 0.0;
        for (var k = 0u; k < p.k; k++) {
            sum += a[a_row + k];
        }
        mean = sum / f32(p.k);
        var squares = 0.0;
        for (var k = 0u; k < p.k; k++) {
            let d = a[a_row + k] - mean;
            squares += d * d;
        }
        rstd = inverseSqrt(squares / f32(p.k) + p.eps);
    }
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        var bv: f32;
        if (p.b_transposed == 1u) {
            bv = b[b_base + col * p.k + k];
        } else {
            bv = b[b_base + k * p.n + col];
        }
        var av = a[a_row + k];
        if (p.has_norm == 1u) {
            av = normed(av, k, mean, rstd);
        }
        acc = fma(av, bv, acc);
    }
    finish(batch, row, col, acc);
}
