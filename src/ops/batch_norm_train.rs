//! Batch norm in training mode (`nn.BatchNorm2d` after `.train()`): normalised by the batch's
//! own statistics, with the running averages updated as PyTorch updates them, and its backward
//! pass. Inference with the running statistics is `norm::batch_norm`.

use super::norm::BatchNorm;
use super::{expect_output, expect_shape, to_u32, Gradient};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const FORWARD: Kernel<Params> =
    kernel!("batch_norm_train.wgsl", "forward", uses "reduce.wgsl");
pub(super) const BACKWARD: Kernel<Params> =
    kernel!("batch_norm_train.wgsl", "backward", uses "reduce.wgsl");

params! {
    pub(super) struct Params {
        batch: u32,
        channels: u32,
        spatial: u32,
        eps: f32,
        momentum: f32,
        grads: u32,
    }
}

/// `[N, C, ..spatial]` as (N, C, spatial), refusing a channel of one element: its variance is
/// undefined, and PyTorch refuses it too.
fn layout(x: &Tensor) -> Result<(usize, usize, usize)> {
    let shape = x.shape();
    if shape.len() < 2 {
        invalid!("batch norm needs x of shape [N, C, ..]; got {shape:?}");
    }
    let spatial: usize = shape[2..].iter().product();
    if shape[0] * spatial < 2 {
        invalid!(
            "batch norm in training mode needs more than one value per channel; got {shape:?}"
        );
    }
    Ok((shape[0], shape[1], spatial))
}

fn params(x: &Tensor, eps: f32, momentum: f32, grads: Option<Gradient>) -> Result<Params> {
    let (batch, channels, spatial) = layout(x)?;
    to_u32("batch norm element count", x.numel())?;
    Ok(Params {
        batch: to_u32("batch", batch)?,
        channels: to_u32("batch norm channels", channels)?,
        spatial: to_u32("batch norm plane size", spatial)?,
        eps,
        momentum,
        grads: match grads {
            Some(Gradient::Write) => 0,
            Some(Gradient::Add) => 1,
            None => 2,
        },
    })
}

/// Normalises `x` `[N, C, ..]` into `out` by each channel's batch mean and biased variance, then
/// `gamma` and `beta`; writes the mean and `1 / sqrt(var + eps)` to `saved` `[2, C]` for the
/// backward pass, and moves the running statistics toward the batch's by `momentum` (PyTorch's
/// default is 0.1), the variance unbiased.
pub fn batch_norm_train(
    gpu: &Gpu,
    bn: &BatchNorm,
    momentum: f32,
    x: &Tensor,
    out: &Tensor,
    saved: &Tensor,
) -> Result<()> {
    if !(bn.eps.is_finite() && bn.eps >= 0.0) {
        invalid!("batch norm eps must be finite and non-negative; got {}", bn.eps);
    }
    if !(0.0..=1.0).contains(&momentum) {
        invalid!("batch norm momentum must be in [0, 1]; got {momentum}");
    }
    let (_, c, spatial) = layout(x)?;
    let parameters = [bn.gamma, bn.beta, bn.running_mean, bn.running_var];
    for (name, t) in ["gamma", "beta", "running mean", "running var"].iter().zip(parameters) {
        expect_shape(&format!("batch norm {name}"), t, &[c])?;
    }
    expect_output("batch norm output", out, x.shape(), [x].into_iter().chain(parameters))?;
    expect_output("batch norm statistics", saved, &[2, c], [x, out].into_iter().chain(parameters))?;
    if gpu.is_reference() {
        let (gamma, beta) = (bn.gamma.host()?, bn.beta.host()?);
        let (mean, var) = (bn.running_mean.host()?.clone(), bn.running_var.host()?.clone());
        let host = BatchNorm {
            gamma: gamma.as_slice(),
            beta: beta.as_slice(),
            running_mean: mean.as_slice(),
            running_var: var.as_slice(),
            eps: bn.eps,
        };
        let r = batch_norm_train_ref(&host, momentum, &x.host()?, spatial);
        bn.running_mean.set_host(r.running_mean)?;
        bn.running_var.set_host(r.running_var)?;
        saved.set_host(r.saved)?;
        return out.set_host(r.out);
    }
    let params = params(x, bn.eps, momentum, None)?;
    let buffers = [
        x.buffer()?,
        bn.gamma.buffer()?,
        bn.beta.buffer()?,
        out.buffer()?,
        saved.buffer()?,
        bn.running_mean.buffer()?,
        bn.running_var.buffer()?,
    ];
    gpu.dispatch(&FORWARD, &params, &buffers, Workgroups::linear(gpu, c, 1)?, out)
}

/// The backward pass of `batch_norm_train`: from the forward's input `x`, its `saved`
/// statistics and the output's gradient `dy`, the input's gradient `dx` and, when `grads` says
/// how to store them, those of `gamma` and `beta`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    gpu: &Gpu,
    gamma: &Tensor,
    x: &Tensor,
    saved: &Tensor,
    dy: &Tensor,
    grads: Option<Gradient>,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
) -> Result<()> {
    let (_, c, spatial) = layout(x)?;
    expect_shape("batch norm gamma", gamma, &[c])?;
    expect_shape("batch norm statistics", saved, &[2, c])?;
    expect_shape("batch norm output gradient", dy, x.shape())?;
    let inputs = [gamma, x, saved, dy];
    expect_output("batch norm input gradient", dx, x.shape(), inputs)?;
    expect_output("batch norm gamma gradient", dgamma, &[c], inputs.into_iter().chain([dx]))?;
    expect_output("batch norm beta gradient", dbeta, &[c], inputs.into_iter().chain([dx, dgamma]))?;
    if gpu.is_reference() {
        let r = batch_norm_backward_ref(
            &gamma.host()?,
            &x.host()?,
            &saved.host()?,
            &dy.host()?,
            spatial,
        );
        if let Some(mode) = grads {
            mode.store_host(dgamma, r.dgamma)?;
            mode.store_host(dbeta, r.dbeta)?;
        }
        return dx.set_host(r.dx);
    }
    let params = params(x, 0.0, 0.0, grads)?;
    let buffers = [
        x.buffer()?,
        gamma.buffer()?,
        saved.buffer()?,
        dx.buffer()?,
        dy.buffer()?,
        dgamma.buffer()?,
        dbeta.buffer()?,
    ];
    gpu.dispatch(&BACKWARD, &params, &buffers, Workgroups::linear(gpu, c, 1)?, dx)
}

/// What `batch_norm_train_ref` computes.
pub struct TrainStep {
    pub out: Vec<f32>,
    /// The batch means, then the inverse standard deviations.
    pub saved: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
}

/// Reference training-mode batch norm of `x` laid out as `[N, C, spatial]`, two-pass in f64.
pub fn batch_norm_train_ref(
    bn: &BatchNorm<[f32]>,
    momentum: f32,
    x: &[f32],
    spatial: usize,
) -> TrainStep {
    let c = bn.gamma.len();
    let n = x.len() / c;
    let channel = |i: usize| i / spatial % c;
    let mut mean = vec![0.0f64; c];
    x.iter().enumerate().for_each(|(i, &v)| mean[channel(i)] += v as f64 / n as f64);
    let mut var = vec![0.0f64; c];
    x.iter()
        .enumerate()
        .for_each(|(i, &v)| var[channel(i)] += (v as f64 - mean[channel(i)]).powi(2) / n as f64);
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + bn.eps as f64).sqrt()).collect();
    let out = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let k = channel(i);
            ((v as f64 - mean[k]) * inv_std[k] * bn.gamma[k] as f64 + bn.beta[k] as f64) as f32
        })
        .collect();
    let m = momentum as f64;
    let blend = |old: &[f32], new: &dyn Fn(usize) -> f64| -> Vec<f32> {
        (0..c).map(|k| ((1.0 - m) * old[k] as f64 + m * new(k)) as f32).collect()
    };
    TrainStep {
        out,
        saved: mean.iter().chain(&inv_std).map(|&v| v as f32).collect(),
        running_mean: blend(bn.running_mean, &|k| mean[k]),
        running_var: blend(bn.running_var, &|k| var[k] * n as f64 / (n - 1) as f64),
    }
}

/// What `batch_norm_backward_ref` computes.
pub struct Gradients {
    pub dx: Vec<f32>,
    pub dgamma: Vec<f32>,
    pub dbeta: Vec<f32>,
}

/// Reference backward pass of training-mode batch norm, in f64, from the saved statistics.
pub fn batch_norm_backward_ref(
    gamma: &[f32],
    x: &[f32],
    saved: &[f32],
    dy: &[f32],
    spatial: usize,
) -> Gradients {
    let c = gamma.len();
    let n = (x.len() / c) as f64;
    let channel = |i: usize| i / spatial % c;
    let xhat = |i: usize| (x[i] as f64 - saved[channel(i)] as f64) * saved[c + channel(i)] as f64;
    let (mut dgamma, mut dbeta) = (vec![0.0f64; c], vec![0.0f64; c]);
    for (i, &g) in dy.iter().enumerate() {
        dgamma[channel(i)] += g as f64 * xhat(i);
        dbeta[channel(i)] += g as f64;
    }
    let dx = dy
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            let k = channel(i);
            let scale = gamma[k] as f64 * saved[c + k] as f64;
            (scale * (g as f64 - dbeta[k] / n - xhat(i) * dgamma[k] / n)) as f32
        })
        .collect();
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    Gradients { dx, dgamma: to_f32(dgamma), dbeta: to_f32(dbeta) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    const EPS: f32 = 1e-5;

    struct Layer {
        gamma: (Tensor, Vec<f32>),
        beta: (Tensor, Vec<f32>),
        mean: (Tensor, Vec<f32>),
        var: (Tensor, Vec<f32>),
    }

    fn layer(gpu: &Gpu, rng: &mut Rng, c: usize) -> Layer {
        let positive: Vec<f32> = rng.vec(c).iter().map(|v| v.abs() + 0.5).collect();
        Layer {
            gamma: random(gpu, rng, &[c]),
            beta: random(gpu, rng, &[c]),
            mean: random(gpu, rng, &[c]),
            var: (Tensor::from_slice(gpu, &[c], &positive).unwrap(), positive),
        }
    }

    /// One forward and backward pass on random `x` (shifted by `offset`) of `shape`, against the
    /// references; the gradients then added once more.
    async fn check(gpu: &Gpu, seed: u64, shape: &[usize], offset: f32) {
        let mut rng = Rng::new(seed);
        let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
        let l = layer(gpu, &mut rng, c);
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v + offset).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let (out, saved) = (poisoned(gpu, shape), poisoned(gpu, &[2, c]));
        let bn = BatchNorm {
            gamma: &l.gamma.0,
            beta: &l.beta.0,
            running_mean: &l.mean.0,
            running_var: &l.var.0,
            eps: EPS,
        };
        batch_norm_train(gpu, &bn, 0.1, &x, &out, &saved).unwrap();
        let host_bn = BatchNorm {
            gamma: &l.gamma.1[..],
            beta: &l.beta.1[..],
            running_mean: &l.mean.1[..],
            running_var: &l.var.1[..],
            eps: EPS,
        };
        let want = batch_norm_train_ref(&host_bn, 0.1, &host, spatial);
        let what = format!("{shape:?} + {offset}");
        // Normalised values of order 1 from sums of up to ~5,000 terms; the offset costs its
        // ulps in x itself.
        let atol = 2e-5 * (1.0 + offset.abs());
        assert_close(&format!("{what}: out"), &out.read(gpu).await.unwrap(), &want.out, atol, 1e-5);
        assert_close(
            &format!("{what}: saved"),
            &saved.read(gpu).await.unwrap(),
            &want.saved,
            atol,
            1e-5,
        );
        let running = [(&l.mean.0, &want.running_mean), (&l.var.0, &want.running_var)];
        for (t, want) in running {
            assert_close(
                &format!("{what}: running"),
                &t.read(gpu).await.unwrap(),
                want,
                1e-5,
                1e-5,
            );
        }

        let (dy, dy_host) = random(gpu, &mut rng, shape);
        let (dx, dgamma, dbeta) = (poisoned(gpu, shape), poisoned(gpu, &[c]), poisoned(gpu, &[c]));
        // Written, added, then left as they are.
        for grads in [Some(Gradient::Write), Some(Gradient::Add), None] {
            batch_norm_backward(gpu, &l.gamma.0, &x, &saved, &dy, grads, &dx, &dgamma, &dbeta)
                .unwrap();
        }
        let g = batch_norm_backward_ref(&l.gamma.1, &host, &want.saved, &dy_host, spatial);
        let twice = |v: &[f32]| v.iter().map(|v| 2.0 * v).collect::<Vec<_>>();
        let n = (shape[0] * spatial) as f32;
        let sums = 2e-6 * n + 2e-6 * (1.0 + offset.abs()) * n.sqrt();
        assert_close(&format!("{what}: dx"), &dx.read(gpu).await.unwrap(), &g.dx, atol, 1e-4);
        assert_close(
            &format!("{what}: dgamma"),
            &dgamma.read(gpu).await.unwrap(),
            &twice(&g.dgamma),
            sums,
            1e-5,
        );
        assert_close(
            &format!("{what}: dbeta"),
            &dbeta.read(gpu).await.unwrap(),
            &twice(&g.dbeta),
            sums,
            1e-5,
        );
    }

    /// The reference backward pass is the derivative of the reference forward: central finite
    /// differences of sum(dy * out) in every element of x, gamma and beta.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_reference_backward_is_the_forwards_derivative() {
        let mut rng = Rng::new(3);
        let (c, spatial) = (3, 5);
        let x = rng.vec(2 * c * spatial);
        let (gamma, beta, dy) = (rng.vec(c), rng.vec(c), rng.vec(x.len()));
        let ones = vec![1.0; c];
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let bn = BatchNorm {
                gamma,
                beta,
                running_mean: &ones[..],
                running_var: &ones[..],
                eps: EPS,
            };
            let out = batch_norm_train_ref(&bn, 0.1, x, spatial).out;
            out.iter().zip(&dy).map(|(&o, &d)| o as f64 * d as f64).sum()
        };
        let bn = BatchNorm {
            gamma: &gamma[..],
            beta: &beta[..],
            running_mean: &ones[..],
            running_var: &ones[..],
            eps: EPS,
        };
        let saved = batch_norm_train_ref(&bn, 0.1, &x, spatial).saved;
        let g = batch_norm_backward_ref(&gamma, &x, &saved, &dy, spatial);
        let h = 1e-2;
        let numeric = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += h;
            down[i] -= h;
            ((f(&up) - f(&down)) / (2.0 * h as f64)) as f32
        };
        for i in 0..x.len() {
            let d = numeric(&x, i, &|x| loss(x, &gamma, &beta));
            assert!((d - g.dx[i]).abs() < 2e-3, "dx[{i}]: {} against {d}", g.dx[i]);
        }
        for k in 0..c {
            let d = numeric(&gamma, k, &|gamma| loss(&x, gamma, &beta));
            assert!((d - g.dgamma[k]).abs() < 2e-3, "dgamma[{k}]: {} against {d}", g.dgamma[k]);
            let d = numeric(&beta, k, &|beta| loss(&x, &gamma, beta));
            assert!((d - g.dbeta[k]).abs() < 2e-3, "dbeta[{k}]: {} against {d}", g.dbeta[k]);
        }
    }

    gpu_tests! {
        async fn training_batch_norm_on_awkward_sizes() {
            let gpu = gpu().await;
            let shapes: [&[usize]; 6] =
                [&[2, 3], &[7, 5, 1, 1], &[1, 7, 33], &[3, 65, 2, 2], &[64, 48, 14, 14], &[2, 1, 257, 3]];
            for (i, shape) in shapes.into_iter().enumerate() {
                check(gpu, 1000 + i as u64, shape, 0.0).await;
            }
            // Far from zero, where a one-pass variance would cancel.
            check(gpu, 1010, &[4, 9, 7, 7], 100.0).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let t = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let (gamma, beta, mean, var) = (t(&[3]), t(&[3]), t(&[3]), t(&[3]));
            let bn = BatchNorm { gamma: &gamma, beta: &beta, running_mean: &mean, running_var: &var, eps: EPS };
            let (x, out, saved) = (t(&[2, 3, 4]), t(&[2, 3, 4]), t(&[2, 3]));
            batch_norm_train(gpu, &bn, 0.1, &x, &out, &saved).unwrap();
            invalid(batch_norm_train(gpu, &bn, 1.5, &x, &out, &saved));
            invalid(batch_norm_train(gpu, &bn, f32::NAN, &x, &out, &saved));
            invalid(batch_norm_train(gpu, &bn, 0.1, &t(&[2, 4, 4]), &t(&[2, 4, 4]), &t(&[2, 4])));
            invalid(batch_norm_train(gpu, &bn, 0.1, &x, &out, &t(&[3])));
            invalid(batch_norm_train(gpu, &bn, 0.1, &x, &x, &saved));
            // One value per channel has no variance.
            invalid(batch_norm_train(gpu, &bn, 0.1, &t(&[1, 3, 1]), &t(&[1, 3, 1]), &saved));
            let (dy, dx, dg, db) = (t(&[2, 3, 4]), t(&[2, 3, 4]), t(&[3]), t(&[3]));
            batch_norm_backward(gpu, &gamma, &x, &saved, &dy, Some(Gradient::Write), &dx, &dg, &db).unwrap();
            invalid(batch_norm_backward(gpu, &gamma, &x, &saved, &t(&[2, 3, 5]), Some(Gradient::Write), &dx, &dg, &db));
            invalid(batch_norm_backward(gpu, &gamma, &x, &saved, &dy, Some(Gradient::Write), &dx, &dg, &dg));
            invalid(batch_norm_backward(gpu, &gamma, &x, &saved, &dy, Some(Gradient::Write), &dy, &dg, &db));
            gpu.check().unwrap();
        }
    }
}
