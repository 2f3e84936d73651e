//! Matrix multiplication, batched, with an optional bias and B optionally transposed.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const TILED: Kernel<Params> = kernel!("matmul_tiled.wgsl", "main");
pub(super) const NAIVE: Kernel<Params> = kernel!("matmul_naive.wgsl", "main");
pub(super) const ROWS: Kernel<Params> = kernel!("matmul_naive.wgsl", "rows");
/// Output elements per workgroup, [columns, rows], of each kernel.
const TILE: [usize; 2] = [128, 128];
const NAIVE_WORKGROUP: [usize; 2] = [16, 16];
const ROWS_WORKGROUP: [usize; 2] = [64, 1];
/// Up to this many rows, a 128 x 128 tile is mostly padding and the row kernel is faster: a
/// decode step (one row) of the GPT went from 199 to 12.5 ms on lavapipe.
const FEW_ROWS: usize = 8;

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
    }
}

/// `out = a x b (+ bias)` with the tiled kernel, or for a few rows one thread per output.
pub fn matmul(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    b_transposed: bool,
    out: &Tensor,
) -> Result<()> {
    let few_rows = a.shape().len() >= 2 && a.shape()[a.shape().len() - 2] <= FEW_ROWS;
    let (kernel, tile) = if few_rows { (&ROWS, ROWS_WORKGROUP) } else { (&TILED, TILE) };
    run(gpu, kernel, tile, a, b, bias, b_transposed, out)
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
    run(gpu, &NAIVE, NAIVE_WORKGROUP, a, b, bias, b_transposed, out)
}

#[allow(clippy::too_many_arguments)]
fn run(
    gpu: &Gpu,
    kernel: &Kernel<Params>,
    [tile_n, tile_m]: [usize; 2],
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    b_transposed: bool,
    out: &Tensor,
) -> Result<()> {
    let d = MatmulDims::new(a.shape(), b.shape(), b_transposed)?;
    expect_output("matmul output", out, &d.out_shape(a.shape()), [a, b].into_iter().chain(bias))?;
    if let Some(bias) = bias {
        expect_shape("matmul bias", bias, &[d.n])?;
    }
    if gpu.is_reference() {
        let bias = bias.map(Tensor::host).transpose()?;
        let bias = bias.as_deref().map(Vec::as_slice);
        return out.set_host(matmul_ref(&d, &a.host()?, &b.host()?, bias));
    }
    let params = Params {
        m: to_u32("m", d.m)?,
        n: to_u32("n", d.n)?,
        k: to_u32("k", d.k)?,
        a_batch_stride: to_u32("m * k", d.m * d.k)?,
        b_batch_stride: if d.b_batched { to_u32("k * n", d.k * d.n)? } else { 0 },
        b_transposed: b_transposed as u32,
        has_bias: bias.is_some() as u32,
    };
    let groups = Workgroups::grid(gpu, [d.n.div_ceil(tile_n), d.m.div_ceil(tile_m), d.batch])?;
    let bias = gpu.optional(bias)?;
    gpu.dispatch(kernel, &params, &[a.buffer()?, b.buffer()?, bias, out.buffer()?], groups, out)
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
        // m = 1 and 7 take the row kernel, the others the tiled one.
        async fn matches_reference_on_awkward_sizes() {
            for (i, &m) in AWKWARD.iter().enumerate() {
                let (k, n) = (AWKWARD[(i + 2) % 5], AWKWARD[(i + 3) % 5]);
                check(matmul, i as u64, &[m, k], &[k, n], false, false).await;
                check(matmul, i as u64, &[m, k], &[n, k], true, true).await;
            }
        }

        async fn batched_with_shared_and_per_batch_b() {
            check(matmul, 10, &[3, 33, 65], &[65, 7], true, false).await;
            check(matmul, 11, &[2, 3, 7, 65], &[2, 3, 65, 33], false, false).await;
            check(matmul, 12, &[5, 65, 33], &[5, 257, 33], true, true).await;
            check(matmul, 13, &[3, 8, 65], &[3, 65, 257], true, false).await;
            check(matmul, 14, &[2, 9, 33], &[65, 33], true, true).await;
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
