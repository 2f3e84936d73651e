//! Matrix multiplication, batched, with B optionally transposed, and what a layer does around it
//! fused into the same dispatch: a layer norm of A's rows, a bias, an activation, a residual,
//! and an output split three ways (a query and a KV cache's new keys and values).

use super::activation::{activation_ref, Activation};
use super::norm::layer_norm_ref;
use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const TILED: Kernel<Params> = kernel!(
    "matmul_tiled.wgsl", "main",
    uses "act.wgsl", uses "matmul_common.wgsl", uses "matmul_tile_m128.wgsl"
);
pub(super) const TILED_SHORT: Kernel<Params> = kernel!(
    "matmul_tiled.wgsl", "main",
    uses "act.wgsl", uses "matmul_common.wgsl", uses "matmul_tile_m64.wgsl"
);
pub(super) const NAIVE: Kernel<Params> =
    kernel!("matmul_naive.wgsl", "main", uses "act.wgsl", uses "matmul_common.wgsl");
pub(super) const ROWS: Kernel<Params> =
    kernel!("matmul_naive.wgsl", "rows", uses "act.wgsl", uses "matmul_common.wgsl");
pub(super) const VECTOR: Kernel<Params> = kernel!(
    "matmul_vector.wgsl", "main", uses "act.wgsl", uses "matmul_common.wgsl", uses "reduce.wgsl"
);
/// Output elements per workgroup, [columns, rows], of each kernel.
const TILE: [usize; 2] = [128, 128];
const SHORT_TILE: [usize; 2] = [128, 64];
const NAIVE_WORKGROUP: [usize; 2] = [16, 16];
const ROWS_WORKGROUP: [usize; 2] = [64, 1];
/// The vector kernel's workgroup makes 8 output elements of a row.
const VECTOR_WORKGROUP: [usize; 2] = [8, 1];
/// Up to this many rows, a 128 x 128 tile is mostly padding and the row kernel is faster: a
/// decode step (one row) of the GPT went from 199 to 12.5 ms on lavapipe.
const FEW_ROWS: usize = 8;
/// Up to this many columns (a head of a few outputs) a tile's 128 columns are padding too: the
/// GAN discriminator's Linear(6272, 1) over 64 images was one workgroup of 64 x 128 outputs.
const FEW_COLUMNS: usize = 8;

/// The problem size, worked out from the operands' shapes.
///
/// A is `[..batch, m, k]`; B is `[k, n]` (or `[n, k]` transposed), shared by every batch, or
/// carries the same batch dimensions as A; C is `[..batch, m, n]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulDims {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub b_batched: bool,
    pub b_transposed: bool,
}

impl MatmulDims {
    pub fn new(a: &[usize], b: &[usize], b_transposed: bool) -> Result<MatmulDims> {
        if a.len() < 2 || b.len() < 2 {
            invalid!("matmul needs matrices; got shapes {a:?} and {b:?}");
        }
        let (a_batch, [m, k]) = split_matrix(a);
        let (b_batch, [b0, b1]) = split_matrix(b);
        let (bk, n) = if b_transposed { (b1, b0) } else { (b0, b1) };
        if bk != k {
            invalid!("matmul inner sizes differ: A {a:?}, B {b:?} (transposed: {b_transposed})");
        }
        let b_batched = !b_batch.is_empty();
        if b_batched && b_batch != a_batch {
            invalid!("matmul batch dimensions differ: A {a:?}, B {b:?}");
        }
        let batch = a_batch.iter().product();
        Ok(MatmulDims { batch, m, n, k, b_batched, b_transposed })
    }

    pub fn out_shape(&self, a: &[usize]) -> Vec<usize> {
        let mut shape = a.to_vec();
        *shape.last_mut().unwrap() = self.n;
        shape
    }
}

fn split_matrix(shape: &[usize]) -> (&[usize], [usize; 2]) {
    let (batch, mat) = shape.split_at(shape.len() - 2);
    (batch, [mat[0], mat[1]])
}

params! {
    pub(super) struct Params {
        m: u32,
        n: u32,
        k: u32,
        a_batch_stride: u32,
        b_batch_stride: u32,
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
}

/// What a matmul does around the product, in the same dispatch:
/// `out = act(norm(a) x b + bias) + residual`.
#[derive(Clone, Copy, Default)]
pub struct Fused<'a> {
    /// A layer norm over each row of `a` first: its weight and bias as one `[2, k]` tensor, and eps.
    pub norm: Option<(&'a Tensor, f32)>,
    pub bias: Option<&'a Tensor>,
    pub activation: Option<Activation>,
    /// Added last; the shape of the whole product.
    pub residual: Option<&'a Tensor>,
    /// The product's columns in three equal parts: the first is `out` (`[m, n / 3]`), the
    /// others go to rows `row..row + m` of `k` and `v` (rows of `n / 3`: a KV cache).
    pub split: Option<Split<'a>>,
}

#[derive(Clone, Copy)]
pub struct Split<'a> {
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    pub row: usize,
}

/// `out = a x b (+ bias)` with the tiled kernel (tiles of 64 rows for up to 64 rows, else 128),
/// or for a few rows or columns one of the vector and row kernels (see `thin_kernel`).
pub fn matmul(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    b_transposed: bool,
    out: &Tensor,
) -> Result<()> {
    matmul_fused(gpu, a, b, b_transposed, &Fused { bias, ..Fused::default() }, out)
}

/// `matmul` with what `fused` adds around the product.
pub fn matmul_fused(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    b_transposed: bool,
    fused: &Fused,
    out: &Tensor,
) -> Result<()> {
    let d = MatmulDims::new(a.shape(), b.shape(), b_transposed)?;
    let (kernel, tile) = match d.m {
        m if m <= FEW_ROWS || d.n <= FEW_COLUMNS => thin_kernel(gpu, &d),
        m if m <= SHORT_TILE[1] => (&TILED_SHORT, SHORT_TILE),
        _ => (&TILED, TILE),
    };
    run(gpu, kernel, tile, a, b, b_transposed, fused, out)
}

/// For a few rows or columns against a transposed B (a linear layer's weight) on a hardware
/// GPU, the vector kernel, whose neighbouring threads read neighbouring weights (reads a GPU
/// coalesces); otherwise one thread per output, which on a software adapter ran the GPT's
/// decode step 2x faster than the vector kernel (lavapipe: 28 against 55 ms), each core reading
/// its own rows.
fn thin_kernel(gpu: &Gpu, d: &MatmulDims) -> (&'static Kernel<Params>, [usize; 2]) {
    let max_groups = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if d.b_transposed && !gpu.is_software() && d.n.div_ceil(VECTOR_WORKGROUP[0]) <= max_groups {
        (&VECTOR, VECTOR_WORKGROUP)
    } else {
        (&ROWS, ROWS_WORKGROUP)
    }
}

/// `out = a x b (+ bias)` with one thread per output element; the benchmark's baseline.
pub fn matmul_naive(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    b_transposed: bool,
    out: &Tensor,
) -> Result<()> {
    let fused = Fused { bias, ..Fused::default() };
    run(gpu, &NAIVE, NAIVE_WORKGROUP, a, b, b_transposed, &fused, out)
}

/// Checks what `fused` adds against the product's size; returns the split's part width.
fn check_fused(d: &MatmulDims, a: &[usize], f: &Fused, out: &Tensor) -> Result<usize> {
    let product = d.out_shape(a);
    if let Some(bias) = f.bias {
        expect_shape("matmul bias", bias, &[d.n])?;
    }
    if let Some((weights, eps)) = f.norm {
        expect_shape("matmul norm weights", weights, &[2, d.k])?;
        if !(eps.is_finite() && eps > 0.0) {
            invalid!("the norm's eps must be positive and finite; got {eps}");
        }
    }
    if let Some(residual) = f.residual {
        expect_shape("matmul residual", residual, &product)?;
        if residual.same_buffer(out) {
            invalid!("the residual and the output must be different tensors");
        }
    }
    if let Some(Activation::LeakyRelu(alpha)) = f.activation {
        if !alpha.is_finite() {
            invalid!("LeakyReLU slope must be finite; got {alpha}");
        }
    }
    let Some(split) = f.split else {
        expect_output("matmul output", out, &product, [])?;
        return Ok(0);
    };
    if d.batch != 1 || !d.n.is_multiple_of(3) {
        invalid!("a split needs one batch and columns in three equal parts; got {product:?}");
    }
    let part = d.n / 3;
    let mut query = product;
    *query.last_mut().unwrap() = part;
    expect_output("matmul output", out, &query, [])?;
    for (name, t) in [("keys", split.k), ("values", split.v)] {
        let rows = split.row.checked_add(d.m).and_then(|r| r.checked_mul(part));
        if rows.is_none_or(|needed| t.numel() < needed) || t.same_buffer(out) {
            invalid!(
                "the split's {name} {:?} hold no rows {}..{} of {part}",
                t.shape(),
                split.row,
                split.row + d.m
            );
        }
    }
    Ok(part)
}

#[allow(clippy::too_many_arguments)]
fn run(
    gpu: &Gpu,
    kernel: &Kernel<Params>,
    [tile_n, tile_m]: [usize; 2],
    a: &Tensor,
    b: &Tensor,
    b_transposed: bool,
    f: &Fused,
    out: &Tensor,
) -> Result<()> {
    let d = MatmulDims::new(a.shape(), b.shape(), b_transposed)?;
    let inputs = [a, b].into_iter().chain(f.bias).chain(f.norm.map(|n| n.0)).chain(f.residual);
    for input in inputs.clone() {
        if input.same_buffer(out) {
            invalid!("matmul output must not be one of its inputs");
        }
    }
    let part = check_fused(&d, a.shape(), f, out)?;
    if gpu.is_reference() {
        return run_ref(&d, a, b, f, part, out);
    }
    let (act, alpha) = f.activation.map_or((0, 0.0), |act| {
        let (op, alpha) = act.code();
        (op + 1, alpha)
    });
    let params = Params {
        m: to_u32("m", d.m)?,
        n: to_u32("n", d.n)?,
        k: to_u32("k", d.k)?,
        a_batch_stride: to_u32("m * k", d.m * d.k)?,
        b_batch_stride: if d.b_batched { to_u32("k * n", d.k * d.n)? } else { 0 },
        b_transposed: b_transposed as u32,
        has_bias: f.bias.is_some() as u32,
        act,
        alpha,
        has_residual: f.residual.is_some() as u32,
        has_norm: f.norm.is_some() as u32,
        eps: f.norm.map_or(0.0, |n| n.1),
        split: to_u32("split", part)?,
        split_row: to_u32("split row", f.split.map_or(0, |s| s.row))?,
    };
    let groups = Workgroups::grid(gpu, [d.n.div_ceil(tile_n), d.m.div_ceil(tile_m), d.batch])?;
    let buffers = [
        a.buffer()?,
        b.buffer()?,
        gpu.optional(f.bias)?,
        out.buffer()?,
        gpu.optional(f.residual)?,
        gpu.optional(f.norm.map(|n| n.0))?,
        gpu.optional_out(f.split.map(|s| s.k), 0)?,
        gpu.optional_out(f.split.map(|s| s.v), 1)?,
    ];
    gpu.dispatch(kernel, &params, &buffers, groups, out)
}

/// The reference device's path: the references of each step, one after another.
fn run_ref(
    d: &MatmulDims,
    a: &Tensor,
    b: &Tensor,
    f: &Fused,
    part: usize,
    out: &Tensor,
) -> Result<()> {
    let mut x = a.host()?.clone();
    if let Some((weights, eps)) = f.norm {
        let w = weights.host()?;
        x = layer_norm_ref(&x, d.k, &w[..d.k], &w[d.k..], eps);
    }
    let bias = f.bias.map(Tensor::host).transpose()?;
    let mut y = matmul_ref(d, &x, &b.host()?, bias.as_deref().map(Vec::as_slice));
    if let Some(act) = f.activation {
        y = activation_ref(act, &y);
    }
    if let Some(residual) = f.residual {
        y.iter_mut().zip(residual.host()?.iter()).for_each(|(y, r)| *y += r);
    }
    let Some(split) = f.split else {
        return out.set_host(y);
    };
    let rows: Vec<&[f32]> = y.chunks(d.n).collect();
    let part_of = |p: usize| {
        rows.iter().flat_map(|row| &row[p * part..(p + 1) * part]).copied().collect::<Vec<f32>>()
    };
    out.set_host(part_of(0))?;
    split.k.set_host_range(split.row * part, &part_of(1))?;
    split.v.set_host_range(split.row * part, &part_of(2))
}

/// Reference: the same product on the CPU, accumulated in f64.
pub fn matmul_ref(d: &MatmulDims, a: &[f32], b: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let mut c = vec![0.0; d.batch * d.m * d.n];
    for batch in 0..d.batch {
        let a = &a[batch * d.m * d.k..];
        let b = if d.b_batched { &b[batch * d.k * d.n..] } else { b };
        for i in 0..d.m {
            for j in 0..d.n {
                let mut acc = bias.map_or(0.0, |bias| bias[j] as f64);
                for k in 0..d.k {
                    let bv = if d.b_transposed { b[j * d.k + k] } else { b[k * d.n + j] };
                    acc += a[i * d.k + k] as f64 * bv as f64;
                }
                c[(batch * d.m + i) * d.n + j] = acc as f32;
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    type MatmulFn = fn(&Gpu, &Tensor, &Tensor, Option<&Tensor>, bool, &Tensor) -> Result<()>;

    type FusedFn = fn(&Gpu, &Tensor, &Tensor, bool, &Fused, &Tensor) -> Result<()>;

    /// The vector kernel, which `matmul` takes for a few rows on a hardware GPU only: run here
    /// on any adapter.
    fn vector_fused(
        gpu: &Gpu,
        a: &Tensor,
        b: &Tensor,
        t: bool,
        f: &Fused,
        out: &Tensor,
    ) -> Result<()> {
        run(gpu, &VECTOR, VECTOR_WORKGROUP, a, b, t, f, out)
    }

    fn matmul_vector(
        gpu: &Gpu,
        a: &Tensor,
        b: &Tensor,
        bias: Option<&Tensor>,
        t: bool,
        out: &Tensor,
    ) -> Result<()> {
        vector_fused(gpu, a, b, t, &Fused { bias, ..Fused::default() }, out)
    }

    /// Whether `matmul` takes the thin kernels (row or vector) for `m` x `n` outputs.
    fn thin(m: usize, n: usize) -> bool {
        m <= FEW_ROWS || n <= FEW_COLUMNS
    }

    /// The kernels to check for `m` x `n` outputs: the one `matmul` chooses here, and for a few
    /// rows or columns the vector kernel too.
    fn ways(m: usize, n: usize) -> Vec<(&'static str, FusedFn)> {
        let mut ways: Vec<(&'static str, FusedFn)> = vec![("as chosen", matmul_fused)];
        if thin(m, n) {
            ways.push(("vector kernel", vector_fused));
        }
        ways
    }

    /// Products of K terms in [-1, 1]: rounding grows with K, so the tolerance does too.
    fn tolerance(k: usize) -> f32 {
        2e-6 * k as f32 + 1e-6
    }

    async fn check(
        f: MatmulFn,
        seed: u64,
        a_shape: &[usize],
        b_shape: &[usize],
        bias: bool,
        t: bool,
    ) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let d = MatmulDims::new(a_shape, b_shape, t).unwrap();
        let (a, a_host) = random(gpu, &mut rng, a_shape);
        let (b, b_host) = random(gpu, &mut rng, b_shape);
        let (bias_t, bias_host) = random(gpu, &mut rng, &[d.n]);
        let out = poisoned(gpu, &d.out_shape(a_shape));
        f(gpu, &a, &b, bias.then_some(&bias_t), t, &out).unwrap();
        let want = matmul_ref(&d, &a_host, &b_host, bias.then_some(&bias_host[..]));
        let what = format!("matmul {a_shape:?} x {b_shape:?} transposed {t} bias {bias}");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, tolerance(d.k), 1e-5);
    }

    gpu_tests! {
        // m = 1 and 7 take the vector kernel (B transposed, on a hardware GPU; checked here on
        // any) or the row kernel, and so do 33 rows of 1 column and 65 of 7; 257 rows of 33
        // take the 128-row tile.
        async fn matches_reference_on_awkward_sizes() {
            for (i, &m) in AWKWARD.iter().enumerate() {
                let (k, n) = (AWKWARD[(i + 2) % 5], AWKWARD[(i + 3) % 5]);
                check(matmul, i as u64, &[m, k], &[k, n], false, false).await;
                check(matmul, i as u64, &[m, k], &[n, k], true, true).await;
                if thin(m, n) {
                    check(matmul_vector, i as u64, &[m, k], &[n, k], true, true).await;
                }
            }
        }

        async fn batched_with_shared_and_per_batch_b() {
            check(matmul, 10, &[3, 33, 65], &[65, 7], true, false).await;
            check(matmul, 11, &[2, 3, 7, 65], &[2, 3, 65, 33], false, false).await;
            check(matmul, 12, &[5, 65, 33], &[5, 257, 33], true, true).await;
            check(matmul, 13, &[3, 8, 65], &[3, 65, 257], true, false).await;
            check(matmul, 14, &[2, 9, 33], &[65, 33], true, true).await;
            // Exactly one 64-row tile, and one row more: the two tile heights' edges.
            check(matmul, 17, &[2, 64, 65], &[65, 130], true, false).await;
            check(matmul, 18, &[65, 33], &[130, 33], true, true).await;
            // A few rows against a transposed B, per batch and shared.
            for f in [matmul, matmul_vector] {
                check(f, 15, &[2, 3, 5, 300], &[2, 3, 33, 300], false, true).await;
                check(f, 16, &[4, 1, 70], &[9, 70], true, true).await;
            }
        }

        async fn fused_work_matches_the_references_one_after_another() {
            use crate::ops::activation::{activation_ref, Activation};
            use crate::ops::norm::layer_norm_ref;
            let gpu = gpu().await;
            // m = 1 and 7 take a few-row kernel (and the vector kernel is checked too), 33 the
            // 64-row tile (its norm's statistics too), 257 the 128-row one; k = 300 leaves the vector kernel's 8 threads an output 37 or 38
            // values each.
            for (seed, m, k) in [(30, 1, 300), (31, 7, 65), (32, 33, 65), (33, 257, 300)] {
                let part = 33;
                let n = 3 * part;
                let mut rng = Rng::new(seed);
                let (a, a_host) = random(gpu, &mut rng, &[m, k]);
                let (b, b_host) = random(gpu, &mut rng, &[n, k]);
                let (bias, bias_host) = random(gpu, &mut rng, &[n]);
                let (norm, norm_host) = random(gpu, &mut rng, &[2, k]);
                let (residual, residual_host) = random(gpu, &mut rng, &[m, n]);
                let d = MatmulDims::new(&[m, k], &[n, k], true).unwrap();
                let normed = layer_norm_ref(&a_host, k, &norm_host[..k], &norm_host[k..], 1e-5);
                let product = |x: &[f32]| matmul_ref(&d, x, &b_host, Some(&bias_host));
                let add = |x: Vec<f32>| x.iter().zip(&residual_host).map(|(x, r)| x + r).collect::<Vec<f32>>();
                // Normalised rows reach about 3 in size: four times the plain product's error.
                let tolerance = 4.0 * tolerance(k);
                let cases: [(&str, Fused, Vec<f32>); 3] = [
                    ("norm, bias, GELU", Fused { norm: Some((&norm, 1e-5)), bias: Some(&bias), activation: Some(Activation::Gelu), ..Fused::default() },
                        activation_ref(Activation::Gelu, &product(&normed))),
                    ("bias, residual", Fused { bias: Some(&bias), residual: Some(&residual), ..Fused::default() },
                        add(product(&a_host))),
                    ("norm, bias, SiLU, residual", Fused { norm: Some((&norm, 1e-5)), bias: Some(&bias), activation: Some(Activation::Silu), residual: Some(&residual), ..Fused::default() },
                        add(activation_ref(Activation::Silu, &product(&normed)))),
                ];
                for (way, run_with) in ways(m, n) {
                    for (what, fused, want) in &cases {
                        let out = poisoned(gpu, &[m, n]);
                        run_with(gpu, &a, &b, true, fused, &out).unwrap();
                        assert_close(&format!("{what}, m = {m}, {way}"), &out.read(gpu).await.unwrap(), want, tolerance, 1e-5);
                    }

                    // Split: the query to `out`, keys and values to rows 5.. of caches, nothing else.
                    let (keys, values) = (poisoned(gpu, &[m + 9, part]), poisoned(gpu, &[m + 9, part]));
                    let query = poisoned(gpu, &[m, part]);
                    let split = Some(Split { k: &keys, v: &values, row: 5 });
                    let fused = Fused { norm: Some((&norm, 1e-5)), bias: Some(&bias), split, ..Fused::default() };
                    run_with(gpu, &a, &b, true, &fused, &query).unwrap();
                    let want = product(&normed);
                    let column = |p: usize| want.chunks(n).flat_map(|row| &row[p * part..(p + 1) * part]).copied().collect::<Vec<f32>>();
                    assert_close(&format!("split query, m = {m}, {way}"), &query.read(gpu).await.unwrap(), &column(0), tolerance, 1e-5);
                    for (p, cache) in [(1, &keys), (2, &values)] {
                        let got = cache.read(gpu).await.unwrap();
                        assert_close(&format!("split part {p}, m = {m}, {way}"), &got[5 * part..(5 + m) * part], &column(p), tolerance, 1e-5);
                        assert!(got[..5 * part].iter().chain(&got[(5 + m) * part..]).all(|v| v.is_nan()), "wrote outside its rows");
                    }
                }
            }
        }

        async fn fused_bad_input_is_an_error() {
            let gpu = gpu().await;
            let a = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let b = Tensor::zeros(gpu, &[6, 5]).unwrap();
            let out = Tensor::zeros(gpu, &[4, 6]).unwrap();
            let bad = |f: Fused, out: &Tensor| assert!(matches!(matmul_fused(gpu, &a, &b, true, &f, out), Err(Error::Invalid(_))));
            bad(Fused { norm: Some((&Tensor::zeros(gpu, &[5]).unwrap(), 1e-5)), ..Fused::default() }, &out);
            bad(Fused { norm: Some((&Tensor::zeros(gpu, &[2, 5]).unwrap(), 0.0)), ..Fused::default() }, &out);
            bad(Fused { residual: Some(&Tensor::zeros(gpu, &[4, 5]).unwrap()), ..Fused::default() }, &out);
            bad(Fused { residual: Some(&out), ..Fused::default() }, &out);
            bad(Fused { activation: Some(Activation::LeakyRelu(f32::NAN)), ..Fused::default() }, &out);
            let small = Tensor::zeros(gpu, &[4, 2]).unwrap();
            let cache = Tensor::zeros(gpu, &[5, 2]).unwrap();
            bad(Fused { split: Some(Split { k: &cache, v: &cache, row: 2 }), ..Fused::default() }, &small);
            bad(Fused { split: Some(Split { k: &cache, v: &cache, row: 0 }), ..Fused::default() }, &out);
            gpu.check().unwrap();
        }

        async fn naive_matches_reference() {
            check(matmul_naive, 20, &[33, 257], &[257, 65], true, false).await;
            check(matmul_naive, 21, &[2, 7, 33], &[2, 1, 33], false, true).await;
        }

        async fn bad_shapes_are_errors() {
            let gpu = gpu().await;
            let a = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let b = Tensor::zeros(gpu, &[6, 3]).unwrap();
            let out = Tensor::zeros(gpu, &[4, 3]).unwrap();
            assert!(matches!(matmul(gpu, &a, &b, None, false, &out), Err(Error::Invalid(_))));
            let b = Tensor::zeros(gpu, &[5, 3]).unwrap();
            let wrong_out = Tensor::zeros(gpu, &[3, 4]).unwrap();
            assert!(matches!(matmul(gpu, &a, &b, None, false, &wrong_out), Err(Error::Invalid(_))));
            let wrong_bias = Tensor::zeros(gpu, &[4]).unwrap();
            assert!(matches!(matmul(gpu, &a, &b, Some(&wrong_bias), false, &out), Err(Error::Invalid(_))));
            let batched_b = Tensor::zeros(gpu, &[2, 5, 3]).unwrap();
            assert!(matches!(matmul(gpu, &a, &batched_b, None, false, &out), Err(Error::Invalid(_))));
            let square = Tensor::zeros(gpu, &[5, 5]).unwrap();
            assert!(matches!(matmul(gpu, &square, &square, None, false, &square), Err(Error::Invalid(_))));
            let vector = Tensor::zeros(gpu, &[5]).unwrap();
            assert!(matches!(matmul(gpu, &vector, &b, None, false, &out), Err(Error::Invalid(_))));
            gpu.check().unwrap();
        }
    }
}
