//! Losses, with their gradient in the same dispatch: what a training step starts its backward
//! pass from.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const BCE_WITH_LOGITS: Kernel<Params> =
    kernel!("loss.wgsl", "bce_with_logits", uses "reduce.wgsl", uses "act.wgsl");

params! {
    pub(super) struct Params {
        len: u32,
        scale: f32,
    }
}

/// How a loss sums its terms, as PyTorch's `reduction` argument, or the sum divided by a count
/// (train_vae.py's `bce / len(x)`: the loss per image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduction {
    Mean,
    Sum,
    SumOver(usize),
}

impl Reduction {
    /// What the sum of `terms` terms is multiplied by.
    fn scale(self, terms: usize) -> f64 {
        match self {
            Reduction::Mean => 1.0 / terms as f64,
            Reduction::Sum => 1.0,
            Reduction::SumOver(count) => 1.0 / count as f64,
        }
    }
}

/// `F.binary_cross_entropy_with_logits(logits, targets, reduction)`: writes the loss to `out[0]`
/// and the mean of `sigmoid(logits)` to `out[1]` (`out` is `[2]`), and the loss's gradient with
/// respect to each logit to `grad` (the shape of `logits`, as `targets`).
pub fn bce_with_logits(
    gpu: &Gpu,
    logits: &Tensor,
    targets: &Tensor,
    reduction: Reduction,
    grad: &Tensor,
    out: &Tensor,
) -> Result<()> {
    expect_shape("cross-entropy targets", targets, logits.shape())?;
    expect_output("cross-entropy gradient", grad, logits.shape(), [logits, targets])?;
    expect_output("cross-entropy loss", out, &[2], [logits, targets, grad])?;
    let len = to_u32("cross-entropy terms", logits.numel())?;
    if reduction == Reduction::SumOver(0) {
        invalid!("a loss cannot be divided over 0 items");
    }
    let scale = reduction.scale(logits.numel()) as f32;
    if gpu.is_reference() {
        let (loss, probability, gradient) =
            bce_with_logits_ref(&logits.host()?, &targets.host()?, reduction);
        grad.set_host(gradient)?;
        return out.set_host(vec![loss, probability]);
    }
    let params = Params { len, scale };
    let buffers = [logits.buffer()?, targets.buffer()?, grad.buffer()?, out.buffer()?];
    gpu.dispatch(&BCE_WITH_LOGITS, &params, &buffers, Workgroups::grid(gpu, [1, 1, 1])?, out)
}

/// Reference: the loss, the mean probability and the gradient, in f64 from PyTorch's
/// formula `max(l, 0) - l t + log(1 + exp(-|l|))`.
pub fn bce_with_logits_ref(
    logits: &[f32],
    targets: &[f32],
    reduction: Reduction,
) -> (f32, f32, Vec<f32>) {
    let n = logits.len() as f64;
    let scale = reduction.scale(logits.len());
    let sigmoid = |l: f64| 1.0 / (1.0 + (-l).exp());
    let (mut loss, mut probability) = (0.0, 0.0);
    let mut grad = Vec::with_capacity(logits.len());
    for (&l, &t) in logits.iter().zip(targets) {
        let (l, t) = (l as f64, t as f64);
        loss += l.max(0.0) - l * t + (-l.abs()).exp().ln_1p();
        probability += sigmoid(l);
        grad.push((scale * (sigmoid(l) - t)) as f32);
    }
    ((scale * loss) as f32, (probability / n) as f32, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    async fn check(gpu: &Gpu, seed: u64, len: usize, scale: f32, reduction: Reduction) {
        let mut rng = Rng::new(seed);
        let logits_host: Vec<f32> = rng.vec(len).iter().map(|v| v * scale).collect();
        // Targets in [0, 1], as the VAE's pixels; 0 and 1 exactly, as a GAN's labels.
        let targets_host: Vec<f32> = (0..len)
            .map(|i| if i % 3 == 0 { (i % 2) as f32 } else { rng.uniform().abs() })
            .collect();
        let logits = Tensor::from_slice(gpu, &[len], &logits_host).unwrap();
        let targets = Tensor::from_slice(gpu, &[len], &targets_host).unwrap();
        let (grad, out) = (poisoned(gpu, &[len]), poisoned(gpu, &[2]));
        bce_with_logits(gpu, &logits, &targets, reduction, &grad, &out).unwrap();
        let (loss, probability, want) = bce_with_logits_ref(&logits_host, &targets_host, reduction);
        let what = format!("{len} logits x{scale} {reduction:?}");
        assert_close(
            &format!("{what}: gradient"),
            &grad.read(gpu).await.unwrap(),
            &want,
            1e-6,
            1e-5,
        );
        // A sum of `len` terms of order `scale`, in f32.
        let got = out.read(gpu).await.unwrap();
        assert_close(&format!("{what}: loss"), &got[..1], &[loss], 1e-6 * len as f32 * scale, 1e-5);
        assert_close(&format!("{what}: probability"), &got[1..], &[probability], 1e-5, 1e-5);
    }

    gpu_tests! {
        async fn bce_with_logits_on_awkward_lengths() {
            let gpu = gpu().await;
            for (i, &len) in AWKWARD.iter().enumerate() {
                check(gpu, 1100 + i as u64, len, 4.0, Reduction::Mean).await;
                check(gpu, 1110 + i as u64, len, 4.0, Reduction::Sum).await;
                check(gpu, 1130 + i as u64, len, 4.0, Reduction::SumOver(3)).await;
            }
            // Large logits, where a naive log(sigmoid) would overflow or lose everything.
            check(gpu, 1120, 65, 90.0, Reduction::Mean).await;
            check(gpu, 1121, 64 * 784 + 3, 8.0, Reduction::Sum).await;
        }

        async fn known_values() {
            // Logit 0 is probability 1/2, loss ln 2 whatever the target.
            let gpu = gpu().await;
            let logits = Tensor::from_slice(gpu, &[2], &[0.0, 0.0]).unwrap();
            let targets = Tensor::from_slice(gpu, &[2], &[1.0, 0.0]).unwrap();
            let (grad, out) = (poisoned(gpu, &[2]), poisoned(gpu, &[2]));
            bce_with_logits(gpu, &logits, &targets, Reduction::Mean, &grad, &out).unwrap();
            assert_eq!(grad.read(gpu).await.unwrap(), [-0.25, 0.25]);
            let out = out.read(gpu).await.unwrap();
            assert!((out[0] - std::f32::consts::LN_2).abs() < 1e-6 && out[1] == 0.5, "{out:?}");
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let t = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let (logits, targets, grad, out) = (t(&[4]), t(&[4]), t(&[4]), t(&[2]));
            bce_with_logits(gpu, &logits, &targets, Reduction::Sum, &grad, &out).unwrap();
            invalid(bce_with_logits(gpu, &logits, &t(&[5]), Reduction::Sum, &grad, &out));
            invalid(bce_with_logits(gpu, &logits, &targets, Reduction::Sum, &t(&[2, 2]), &out));
            invalid(bce_with_logits(gpu, &logits, &targets, Reduction::Sum, &grad, &t(&[1])));
            invalid(bce_with_logits(gpu, &logits, &targets, Reduction::Sum, &logits, &out));
            invalid(bce_with_logits(gpu, &logits, &targets, Reduction::SumOver(0), &grad, &out));
            gpu.check().unwrap();
        }
    }
}
