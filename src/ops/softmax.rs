//! Softmax over the last dimension, numerically stable (the row maximum is subtracted first).

use super::{expect_output, to_u32};
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("softmax.wgsl", "main", uses "reduce.wgsl");

params! {
    pub(super) struct Params {
        rows: u32,
        d: u32,
    }
}

/// `out = softmax(x, dim=-1)` for `x` `[.., D]`; `out` has the shape of `x`.
pub fn softmax(gpu: &Gpu, x: &Tensor, out: &Tensor) -> Result<()> {
    expect_output("softmax output", out, x.shape(), [x])?;
    // A tensor's shape is never empty.
    let d = x.shape().last().copied().unwrap_or(1);
    if gpu.is_reference() {
        return out.set_host(softmax_ref(&x.host()?, d));
    }
    let rows = x.numel() / d;
    // The shader indexes every element with a u32.
    to_u32("softmax element count", x.numel())?;
    let params =
        Params { rows: to_u32("softmax rows", rows)?, d: to_u32("softmax row length", d)? };
    let groups = Workgroups::linear(gpu, rows, 1)?;
    gpu.dispatch(&KERNEL, &params, &[x.buffer()?, out.buffer()?], groups, out)
}

/// Reference: softmax of each row of length `d`, in f64 with the maximum subtracted.
pub fn softmax_ref(x: &[f32], d: usize) -> Vec<f32> {
    x.chunks(d)
        .flat_map(|row| {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let exps: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.into_iter().map(move |e| (e / sum) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    async fn check(gpu: &Gpu, seed: u64, shape: &[usize], scale: f32) {
        let mut rng = Rng::new(seed);
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v * scale).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let out = poisoned(gpu, shape);
        softmax(gpu, &x, &out).unwrap();
        let want = softmax_ref(&host, *shape.last().unwrap());
        // Probabilities in [0, 1]: exp rounds to a few ulps relative, the sum to about 1e-7.
        // Scaled inputs make x - max large, and exp's error grows with |x - max| (3 + 2|x| ulps
        // allowed), but only on outputs far below the absolute tolerance.
        let what = format!("softmax {shape:?} x{scale}");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-7, 2e-6);
    }

    gpu_tests! {
        async fn rows_of_awkward_lengths() {
            let gpu = gpu().await;
            for (i, &d) in [1, 7, 33, 257, 1000].iter().enumerate() {
                check(gpu, i as u64, &[7, d], 1.0).await;
            }
            check(gpu, 10, &[2, 3, 65], 4.0).await;
        }

        async fn large_inputs_do_not_overflow() {
            let gpu = gpu().await;
            // Inputs up to 100: exp(100) is past f32's range, so a softmax without the maximum
            // subtracted would give inf / inf.
            for (i, &d) in [1, 7, 257, 1000].iter().enumerate() {
                check(gpu, 20 + i as u64, &[3, d], 100.0).await;
            }
        }

        async fn rows_past_one_grid_dimension() {
            let gpu = gpu().await;
            // 65 537 rows, one workgroup each: the grid wraps into y.
            check(gpu, 30, &[65537, 2], 1.0).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let x = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let out = Tensor::zeros(gpu, &[20]).unwrap();
            assert!(matches!(softmax(gpu, &x, &out), Err(Error::Invalid(_))));
            gpu.check().unwrap();
        }
    }
}
