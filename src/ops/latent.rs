//! A VAE's latent layer: the reparameterisation `z = mean + eps * exp(logvar / 2)` with the KL
//! divergence of the encoder's Gaussian from N(0, I), and their backward pass.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const SAMPLE: Kernel<Params> = kernel!("latent.wgsl", "sample", uses "reduce.wgsl");
pub(super) const BACKWARD: Kernel<Params> = kernel!("latent.wgsl", "backward", uses "reduce.wgsl");
const WORKGROUP_SIZE: u32 = 64;

params! {
    pub(super) struct Params {
        len: u32,
        scale: f32,
    }
}

fn params(mean: &Tensor, kl_scale: f32) -> Result<Params> {
    if !kl_scale.is_finite() || kl_scale < 0.0 {
        invalid!("the KL term's weight must be finite and non-negative; got {kl_scale}");
    }
    Ok(Params { len: to_u32("latent elements", mean.numel())?, scale: kl_scale })
}

/// `z = mean + eps * exp(logvar / 2)` (all one shape), and to `kl` `[1]` the KL divergence
/// `-0.5 sum(1 + logvar - mean^2 - exp(logvar))` times `kl_scale` (train_vae.py's is 1 / batch).
pub fn sample_latent(
    gpu: &Gpu,
    mean: &Tensor,
    logvar: &Tensor,
    eps: &Tensor,
    kl_scale: f32,
    z: &Tensor,
    kl: &Tensor,
) -> Result<()> {
    let shape = mean.shape();
    expect_shape("log-variance", logvar, shape)?;
    expect_shape("latent noise", eps, shape)?;
    expect_output("latent sample", z, shape, [mean, logvar, eps])?;
    expect_output("KL divergence", kl, &[1], [mean, logvar, eps, z])?;
    let params = params(mean, kl_scale)?;
    if gpu.is_reference() {
        let (z_host, kl_host) =
            sample_latent_ref(&mean.host()?, &logvar.host()?, &eps.host()?, kl_scale);
        z.set_host(z_host)?;
        return kl.set_host(vec![kl_host]);
    }
    let buffers = [mean.buffer()?, logvar.buffer()?, eps.buffer()?, z.buffer()?, kl.buffer()?];
    gpu.dispatch(&SAMPLE, &params, &buffers, Workgroups::grid(gpu, [1, 1, 1])?, z)
}

/// The backward pass of `sample_latent` from `z`'s gradient `dz`: the gradients of `mean` and
/// `logvar`, through `z` and through the KL term weighted by `kl_scale`.
#[allow(clippy::too_many_arguments)]
pub fn sample_latent_backward(
    gpu: &Gpu,
    mean: &Tensor,
    logvar: &Tensor,
    eps: &Tensor,
    dz: &Tensor,
    kl_scale: f32,
    d_mean: &Tensor,
    d_logvar: &Tensor,
) -> Result<()> {
    let shape = mean.shape();
    for (what, t) in [("log-variance", logvar), ("latent noise", eps), ("latent gradient", dz)] {
        expect_shape(what, t, shape)?;
    }
    let inputs = [mean, logvar, eps, dz];
    expect_output("mean gradient", d_mean, shape, inputs)?;
    expect_output("log-variance gradient", d_logvar, shape, inputs.into_iter().chain([d_mean]))?;
    let params = params(mean, kl_scale)?;
    if gpu.is_reference() {
        let (dm, dl) = sample_latent_backward_ref(
            &mean.host()?,
            &logvar.host()?,
            &eps.host()?,
            &dz.host()?,
            kl_scale,
        );
        d_mean.set_host(dm)?;
        return d_logvar.set_host(dl);
    }
    let buffers = [
        mean.buffer()?,
        logvar.buffer()?,
        eps.buffer()?,
        dz.buffer()?,
        d_mean.buffer()?,
        d_logvar.buffer()?,
    ];
    let groups = Workgroups::linear(gpu, mean.numel(), WORKGROUP_SIZE)?;
    gpu.dispatch(&BACKWARD, &params, &buffers, groups, d_mean)
}

/// Reference `sample_latent` in f64: z, and the scaled KL divergence.
pub fn sample_latent_ref(
    mean: &[f32],
    logvar: &[f32],
    eps: &[f32],
    kl_scale: f32,
) -> (Vec<f32>, f32) {
    let mut kl = 0.0f64;
    let z = (0..mean.len())
        .map(|i| {
            let (m, lv, e) = (mean[i] as f64, logvar[i] as f64, eps[i] as f64);
            kl += 1.0 + lv - m * m - lv.exp();
            (m + e * (0.5 * lv).exp()) as f32
        })
        .collect();
    (z, (-0.5 * kl_scale as f64 * kl) as f32)
}

/// Reference `sample_latent_backward` in f64, from the derivatives of z and of the KL term.
pub fn sample_latent_backward_ref(
    mean: &[f32],
    logvar: &[f32],
    eps: &[f32],
    dz: &[f32],
    kl_scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let s = kl_scale as f64;
    (0..mean.len())
        .map(|i| {
            let (m, lv, e, g) = (mean[i] as f64, logvar[i] as f64, eps[i] as f64, dz[i] as f64);
            let d_logvar = 0.5 * g * e * (0.5 * lv).exp() + 0.5 * s * (lv.exp() - 1.0);
            ((g + s * m) as f32, d_logvar as f32)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    async fn check(gpu: &Gpu, seed: u64, shape: &[usize], scale: f32) {
        let mut rng = Rng::new(seed);
        let (mean, mean_h) = random(gpu, &mut rng, shape);
        let (logvar, logvar_h) = random(gpu, &mut rng, shape);
        let (eps, eps_h) = random(gpu, &mut rng, shape);
        let (dz, dz_h) = random(gpu, &mut rng, shape);
        let (z, kl) = (poisoned(gpu, shape), poisoned(gpu, &[1]));
        sample_latent(gpu, &mean, &logvar, &eps, scale, &z, &kl).unwrap();
        let (dm, dl) = (poisoned(gpu, shape), poisoned(gpu, shape));
        sample_latent_backward(gpu, &mean, &logvar, &eps, &dz, scale, &dm, &dl).unwrap();
        let (want_z, want_kl) = sample_latent_ref(&mean_h, &logvar_h, &eps_h, scale);
        let (want_dm, want_dl) =
            sample_latent_backward_ref(&mean_h, &logvar_h, &eps_h, &dz_h, scale);
        let what = format!("{shape:?} scale {scale}");
        assert_close(&format!("{what}: z"), &z.read(gpu).await.unwrap(), &want_z, 1e-6, 1e-6);
        let n = mean_h.len() as f32;
        let kl = kl.read(gpu).await.unwrap();
        if scale == 0.0 {
            assert_eq!(kl, [0.0], "{what}: an unweighted KL term");
        } else {
            assert_close(&format!("{what}: kl"), &kl, &[want_kl], 1e-6 * n * scale, 1e-5);
        }
        assert_close(
            &format!("{what}: d_mean"),
            &dm.read(gpu).await.unwrap(),
            &want_dm,
            1e-6,
            1e-6,
        );
        assert_close(
            &format!("{what}: d_logvar"),
            &dl.read(gpu).await.unwrap(),
            &want_dl,
            1e-6,
            1e-6,
        );
    }

    /// The reference backward pass against central differences of sum(dz * z) + kl.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_reference_backward_is_the_forwards_derivative() {
        let mut rng = Rng::new(4);
        let (mean, logvar, eps, dz) = (rng.vec(6), rng.vec(6), rng.vec(6), rng.vec(6));
        let loss = |mean: &[f32], logvar: &[f32]| -> f64 {
            let (z, kl) = sample_latent_ref(mean, logvar, &eps, 0.3);
            z.iter().zip(&dz).map(|(&z, &d)| z as f64 * d as f64).sum::<f64>() + kl as f64
        };
        let (dm, dl) = sample_latent_backward_ref(&mean, &logvar, &eps, &dz, 0.3);
        let h = 1e-2f32;
        for i in 0..6 {
            let nudged = |v: &[f32], by: f32| {
                let mut v = v.to_vec();
                v[i] += by;
                v
            };
            let numeric = (loss(&nudged(&mean, h), &logvar) - loss(&nudged(&mean, -h), &logvar))
                / (2.0 * h as f64);
            assert!(
                (numeric as f32 - dm[i]).abs() < 1e-3,
                "d_mean[{i}] {} against {numeric}",
                dm[i]
            );
            let numeric = (loss(&mean, &nudged(&logvar, h)) - loss(&mean, &nudged(&logvar, -h)))
                / (2.0 * h as f64);
            assert!(
                (numeric as f32 - dl[i]).abs() < 1e-3,
                "d_logvar[{i}] {} against {numeric}",
                dl[i]
            );
        }
    }

    gpu_tests! {
        async fn the_latent_layer_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, &len) in AWKWARD.iter().enumerate() {
                check(gpu, 1300 + i as u64, &[3, len], 1.0 / 3.0).await;
            }
            check(gpu, 1310, &[128, 2], 1.0 / 128.0).await;
            check(gpu, 1311, &[7, 16], 0.0).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let t = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let (m, lv, e, z, kl) = (t(&[2, 3]), t(&[2, 3]), t(&[2, 3]), t(&[2, 3]), t(&[1]));
            sample_latent(gpu, &m, &lv, &e, 0.5, &z, &kl).unwrap();
            invalid(sample_latent(gpu, &m, &t(&[3, 2]), &e, 0.5, &z, &kl));
            invalid(sample_latent(gpu, &m, &lv, &e, -1.0, &z, &kl));
            invalid(sample_latent(gpu, &m, &lv, &e, f32::NAN, &z, &kl));
            invalid(sample_latent(gpu, &m, &lv, &e, 0.5, &m, &kl));
            let (dz, dm, dl) = (t(&[2, 3]), t(&[2, 3]), t(&[2, 3]));
            sample_latent_backward(gpu, &m, &lv, &e, &dz, 0.5, &dm, &dl).unwrap();
            invalid(sample_latent_backward(gpu, &m, &lv, &e, &dz, 0.5, &dm, &dm));
            invalid(sample_latent_backward(gpu, &m, &lv, &e, &t(&[6]), 0.5, &dm, &dl));
            gpu.check().unwrap();
        }
    }
}
