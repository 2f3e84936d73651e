//! One update of a diffusion sampler (DDIM, or ancestral with noise), with classifier-free
//! guidance, from the model's v prediction: everything between two U-Net passes, so that a whole
//! sampling run stays on the GPU.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("denoise.wgsl", "main");
const WORKGROUP_SIZE: u32 = 64;

params! {
    pub(super) struct Params {
        len: u32,
        guided: u32,
        guidance: f32,
        a: f32,
        s: f32,
        a_prev: f32,
        dir: f32,
        sigma: f32,
    }
}

/// The numbers of one update from step t to the step before it, with abar the schedule's
/// signal fraction: `a = sqrt(abar_t)`, `s = sqrt(1 - abar_t)`, `a_prev = sqrt(abar_prev)`,
/// `dir = sqrt(1 - abar_prev - sigma^2)` and `sigma` the noise added (0 for DDIM).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    pub a: f32,
    pub s: f32,
    pub a_prev: f32,
    pub dir: f32,
    pub sigma: f32,
}

/// From x_t `x` and the model's prediction `v` to the clean image it implies, written to `x0`
/// `[N, ..]` (clipped to [-1, 1]), and the next sample, written to `x_prev`:
/// `x0 = clamp(a x - s v)`, `x_prev = a_prev x0 + dir (x - a x0) / s + sigma noise`.
/// With `guidance` w, the model ran each image twice in one batch, with its class and without:
/// `v`, `x` and `x_prev` are then `[2N, ..]`, `v` is used as `v_u + w (v_c - v_u)`, the second
/// half of `x` is not read and that of `x_prev` is written as a copy of the first, ready to be the
/// next pass's input. Without guidance all are `[N, ..]`. `noise` (`[N, ..]`) is read only when
/// `sigma > 0`, and must then be given.
#[allow(clippy::too_many_arguments)]
pub fn denoise_step(
    gpu: &Gpu,
    v: &Tensor,
    x: &Tensor,
    guidance: Option<f32>,
    update: &Update,
    noise: Option<&Tensor>,
    x0: &Tensor,
    x_prev: &Tensor,
) -> Result<()> {
    check(update, guidance)?;
    let shape = x.shape();
    let mut single = shape.to_vec();
    if guidance.is_some() {
        if !shape[0].is_multiple_of(2) {
            invalid!("a guided step needs each image twice; x has shape {shape:?}");
        }
        single[0] /= 2;
    }
    expect_shape("denoise step v", v, shape)?;
    let noise = if update.sigma > 0.0 {
        let Some(noise) = noise else {
            invalid!("an ancestral step (sigma {}) needs noise", update.sigma);
        };
        expect_shape("denoise step noise", noise, &single)?;
        Some(noise)
    } else {
        None
    };
    let inputs = || [v, x].into_iter().chain(noise);
    expect_output("denoise step x0", x0, &single, inputs())?;
    expect_output("denoise step x_prev", x_prev, shape, inputs().chain([x0]))?;
    let len = x0.numel();
    if gpu.is_reference() {
        let noise = noise.map(Tensor::host).transpose()?;
        let noise = noise.as_deref().map(Vec::as_slice);
        let (clean, mut next) =
            denoise_step_ref(&v.host()?, &x.host()?[..len], guidance, update, noise);
        if guidance.is_some() {
            next.extend_from_within(..);
        }
        x0.set_host(clean)?;
        return x_prev.set_host(next);
    }
    let params = Params {
        len: to_u32("denoise step elements", len)?,
        guided: guidance.is_some() as u32,
        guidance: guidance.unwrap_or(1.0),
        a: update.a,
        s: update.s,
        a_prev: update.a_prev,
        dir: update.dir,
        sigma: update.sigma,
    };
    // The doubled tensors are indexed up to 2 * len.
    to_u32("denoise step v elements", v.numel())?;
    let groups = Workgroups::linear(gpu, len, WORKGROUP_SIZE)?;
    let buffers = [v.buffer()?, x.buffer()?, gpu.optional(noise)?, x0.buffer()?, x_prev.buffer()?];
    gpu.dispatch(&KERNEL, &params, &buffers, groups, x_prev)
}

fn check(u: &Update, guidance: Option<f32>) -> Result<()> {
    let numbers = [u.a, u.s, u.a_prev, u.dir, u.sigma];
    if numbers.iter().any(|v| !v.is_finite() || *v < 0.0) || u.s == 0.0 {
        invalid!("a sampler update needs finite, non-negative numbers and s > 0; got {u:?}");
    }
    if let Some(w) = guidance {
        if !w.is_finite() || w < 0.0 {
            invalid!("the guidance scale must be finite and non-negative; got {w}");
        }
    }
    Ok(())
}

/// Reference of `denoise_step` in f64 for `x` `[N, ..]` (`v` `[2N, ..]` with guidance): returns
/// (x0, x_prev), both `[N, ..]`.
pub fn denoise_step_ref(
    v: &[f32],
    x: &[f32],
    guidance: Option<f32>,
    u: &Update,
    noise: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let n = x.len();
    let (a, s) = (u.a as f64, u.s as f64);
    (0..n)
        .map(|i| {
            let pred = match guidance {
                Some(w) => v[i + n] as f64 + w as f64 * (v[i] as f64 - v[i + n] as f64),
                None => v[i] as f64,
            };
            let xi = x[i] as f64;
            let clean = (a * xi - s * pred).clamp(-1.0, 1.0);
            let mut next = u.a_prev as f64 * clean + u.dir as f64 * (xi - a * clean) / s;
            if u.sigma > 0.0 {
                next += u.sigma as f64 * noise.map_or(0.0, |z| z[i] as f64);
            }
            (clean as f32, next as f32)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    const DDIM: Update = Update { a: 0.6, s: 0.8, a_prev: 0.8, dir: 0.6, sigma: 0.0 };
    const ANCESTRAL: Update = Update { a: 0.6, s: 0.8, a_prev: 0.8, dir: 0.5, sigma: 0.33 };

    async fn check_step(gpu: &Gpu, seed: u64, shape: &[usize], guidance: Option<f32>, u: Update) {
        let mut rng = Rng::new(seed);
        let mut v_shape = shape.to_vec();
        if guidance.is_some() {
            v_shape[0] *= 2;
        }
        let v_shape = v_shape.as_slice();
        // Values up to 2 in magnitude, so that some predicted x0 are clipped (the first surely).
        let mut v_host: Vec<f32> =
            rng.vec(v_shape.iter().product()).iter().map(|v| 2.0 * v).collect();
        v_host[0] = 10.0;
        let v = Tensor::from_slice(gpu, v_shape, &v_host).unwrap();
        // With guidance, the second half of x is NaN: it must not be read.
        let mut x_host = rng.vec(shape.iter().product());
        let len = x_host.len();
        x_host.resize(v_host.len(), f32::NAN);
        let x = Tensor::from_slice(gpu, v_shape, &x_host).unwrap();
        let (noise, noise_host) = random(gpu, &mut rng, shape);
        let (x0, x_prev) = (poisoned(gpu, shape), poisoned(gpu, v_shape));
        denoise_step(gpu, &v, &x, guidance, &u, Some(&noise), &x0, &x_prev).unwrap();
        let (want_x0, mut want_prev) =
            denoise_step_ref(&v_host, &x_host[..len], guidance, &u, Some(&noise_host));
        if guidance.is_some() {
            want_prev.extend_from_within(..);
        }
        assert!(want_x0.iter().any(|c| c.abs() == 1.0), "no value was clipped");
        // A few roundings of values below 10; the worst seen on lavapipe is 4.8e-7.
        let what = format!("{shape:?} guidance {guidance:?} {u:?}");
        assert_close(&format!("x0 {what}"), &x0.read(gpu).await.unwrap(), &want_x0, 2e-6, 1e-6);
        assert_close(
            &format!("x_prev {what}"),
            &x_prev.read(gpu).await.unwrap(),
            &want_prev,
            2e-6,
            1e-6,
        );
    }

    gpu_tests! {
        async fn denoise_step_matches_reference() {
            let gpu = gpu().await;
            for (i, &n) in AWKWARD.iter().enumerate() {
                let seed = 10 * i as u64;
                check_step(gpu, seed, &[n, 1, 7, 5], None, DDIM).await;
                check_step(gpu, seed + 1, &[n, 1, 7, 5], Some(2.5), DDIM).await;
                check_step(gpu, seed + 2, &[n, 3], Some(0.0), ANCESTRAL).await;
                check_step(gpu, seed + 3, &[n, 33], None, ANCESTRAL).await;
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let z = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let (v, x, noise, x0, prev) = (z(&[2, 3]), z(&[2, 3]), z(&[2, 3]), z(&[2, 3]), z(&[2, 3]));
            let (v2, x2, prev2) = (z(&[4, 3]), z(&[4, 3]), z(&[4, 3]));
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(denoise_step(gpu, &v2, &x, None, &DDIM, None, &x0, &prev));
            invalid(denoise_step(gpu, &v2, &x2, Some(2.0), &DDIM, None, &x0, &prev));
            let odd = (z(&[3, 3]), z(&[3, 3]));
            invalid(denoise_step(gpu, &odd.0, &odd.1, Some(2.0), &DDIM, None, &x0, &prev));
            for w in [-1.0, f32::NAN, f32::INFINITY] {
                invalid(denoise_step(gpu, &v2, &x2, Some(w), &DDIM, None, &x0, &prev2));
            }
            denoise_step(gpu, &v2, &x2, Some(2.0), &DDIM, None, &x0, &prev2).unwrap();
            invalid(denoise_step(gpu, &v, &x, None, &ANCESTRAL, None, &x0, &prev));
            invalid(denoise_step(gpu, &v, &x, None, &Update { s: 0.0, ..DDIM }, None, &x0, &prev));
            invalid(denoise_step(gpu, &v, &x, None, &Update { a: f32::NAN, ..DDIM }, None, &x0, &prev));
            invalid(denoise_step(gpu, &v, &x, None, &DDIM, None, &x0, &x0));
            invalid(denoise_step(gpu, &v, &x, None, &DDIM, None, &x, &prev));
            invalid(denoise_step(gpu, &v, &x, None, &ANCESTRAL, Some(&noise), &x0, &noise));
            denoise_step(gpu, &v, &x, None, &ANCESTRAL, Some(&noise), &x0, &prev).unwrap();
            gpu.check().unwrap();
        }
    }
}
