// What the matmul kernels share: their parameters and bindings, the layer norm they may apply to
// A's rows on the way in, and the epilogue on the way out; `kernel!` puts this file (after
// act.wgsl) in front of matmul_tiled.wgsl and matmul_naive.wgsl.
//
// C = act(norm(A) x B + bias) + residual, where norm is a layer norm over each row of A (weight
// and bias in `norm_weights`: [2, k]) and act one of act.wgsl's (0: none, else its op + 1). With
// p.split, C's columns come in three parts of p.split each: the first goes to `c` ([m, split]),
// the other two to rows p.split_row.. of `k_out` and `v_out` (a KV cache's keys and values).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32, // 0 when one B is shared by every batch
    b_transposed: u32,
    has_bias: u32,
    act: u32,
    alpha: f32,
    has_residual: u32,
    has_norm: u32,
    eps: f32,
    split: u32,
    split_row: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> residual: array<f32>;
@group(0) @binding(6) var<storage, read> norm_weights: array<f32>;
@group(0) @binding(7) var<storage, read_write> k_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_out: array<f32>;

// Element `col` of a row of A whose mean and 1 / standard deviation are given, normalised.
fn normed(v: f32, col: u32, mean: f32, rstd: f32) -> f32 {
    return (v - mean) * rstd * norm_weights[col] + norm_weights[p.k + col];
}

// Writes element (row, col) of batch `batch` of C from its accumulated product.
fn finish(batch: u32, row: u32, col: u32, acc: f32) {
    var x = acc;
    if (p.has_bias == 1u) {
        x += bias[col];
    }
    if (p.act != 0u) {
        x = activate(p.act - 1u, p.alpha, x);
    }
    let at = (batch * p.m + row) * p.n + col;
    if (p.has_residual == 1u) {
        x += residual[at];
    }
    if (p.split == 0u) {
        c[at] = x;
        return;
    }
    let part = col / p.split;
    let j = col % p.split;
    if (part == 0u) {
        c[row * p.split + j] = x;
    } else if (part == 1u) {
        k_out[(p.split_row + row) * p.split + j] = x;
    } else {
        v_out[(p.split_row + row) * p.split + j] = x;
    }
}
