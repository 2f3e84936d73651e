//! The Adam optimizer as `torch.optim.Adam` defines it (bias-corrected moments, no weight decay),
//! as a kernel: parameters, gradients and both moments stay on the GPU.

use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::models::layers::Param;
use crate::ops::{expect_output, expect_shape, to_u32};
use crate::{Error, Gpu, Result, Tensor};

pub(crate) const KERNEL: Kernel<Params> = kernel!("adam.wgsl", "main");
const WORKGROUP_SIZE: u32 = 64;

params! {
    pub(crate) struct Params {
        len: u32,
        beta1: f32,
        beta2: f32,
        step_size: f32,
        inv_sqrt_bias2: f32,
        eps: f32,
    }
}

/// Adam's settings, with PyTorch's names; `Default` is PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
}

impl Default for AdamSettings {
    fn default() -> AdamSettings {
        AdamSettings { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8 }
    }
}

impl AdamSettings {
    /// Refuses a learning rate that is not positive and finite, betas outside [0, 1) and an
    /// eps that is negative or not finite.
    pub fn check(&self) -> Result<()> {
        let AdamSettings { lr, betas: (b1, b2), eps } = *self;
        if !(lr.is_finite() && lr > 0.0) {
            invalid!("the learning rate must be positive and finite; got {lr}");
        }
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            invalid!("Adam's betas must be in [0, 1); got ({b1}, {b2})");
        }
        if !(eps.is_finite() && eps >= 0.0) {
            invalid!("Adam's eps must be non-negative and finite; got {eps}");
        }
        Ok(())
    }

    /// The step size `lr / (1 - beta1^t)` and `1 / sqrt(1 - beta2^t)` of step `t` (from 1).
    fn corrections(&self, t: u32) -> (f32, f32) {
        let bias = |beta: f32| 1.0 - (beta as f64).powi(t as i32);
        ((self.lr as f64 / bias(self.betas.0)) as f32, (1.0 / bias(self.betas.1).sqrt()) as f32)
    }
}

/// One Adam step on `param` from `grad`, with moments `m` and `v` (all one shape, all updated in
/// place), at step `t` (from 1) of `settings`.
pub fn adam_step(
    gpu: &Gpu,
    settings: &AdamSettings,
    t: u32,
    grad: &Tensor,
    param: &Tensor,
    m: &Tensor,
    v: &Tensor,
) -> Result<()> {
    settings.check()?;
    if t == 0 {
        invalid!("Adam's steps count from 1");
    }
    let shape = param.shape();
    expect_shape("Adam gradient", grad, shape)?;
    expect_output("Adam parameter", param, shape, [grad])?;
    expect_output("Adam first moment", m, shape, [grad, param])?;
    expect_output("Adam second moment", v, shape, [grad, param, m])?;
    if gpu.is_reference() {
        let (mut p, mut mh, mut vh) = (param.host()?.clone(), m.host()?.clone(), v.host()?.clone());
        adam_ref(settings, t, &grad.host()?, &mut p, &mut mh, &mut vh);
        m.set_host(mh)?;
        v.set_host(vh)?;
        return param.set_host(p);
    }
    let (step_size, inv_sqrt_bias2) = settings.corrections(t);
    let params = Params {
        len: to_u32("Adam parameters", param.numel())?,
        beta1: settings.betas.0,
        beta2: settings.betas.1,
        step_size,
        inv_sqrt_bias2,
        eps: settings.eps,
    };
    let groups = Workgroups::linear(gpu, param.numel(), WORKGROUP_SIZE)?;
    let buffers = [grad.buffer()?, param.buffer()?, m.buffer()?, v.buffer()?];
    gpu.dispatch(&KERNEL, &params, &buffers, groups, param)
}

/// Reference Adam step, in f64 as PyTorch's single-tensor implementation writes it:
/// `param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
pub fn adam_ref(
    s: &AdamSettings,
    t: u32,
    grad: &[f32],
    param: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let (b1, b2) = (s.betas.0 as f64, s.betas.1 as f64);
    let bias1 = 1.0 - b1.powi(t as i32);
    let bias2_sqrt = (1.0 - b2.powi(t as i32)).sqrt();
    for i in 0..param.len() {
        let g = grad[i] as f64;
        let m_new = b1 * m[i] as f64 + (1.0 - b1) * g;
        let v_new = b2 * v[i] as f64 + (1.0 - b2) * g * g;
        let denom = v_new.sqrt() / bias2_sqrt + s.eps as f64;
        param[i] = (param[i] as f64 - s.lr as f64 / bias1 * m_new / denom) as f32;
        m[i] = m_new as f32;
        v[i] = v_new as f32;
    }
}

/// Adam over a model's parameters: a first and second moment per parameter tensor, zero at the
/// start, in the order of the `(parameter, gradient)` pairs every `step` is given.
pub struct Adam {
    settings: AdamSettings,
    t: u32,
    moments: Vec<[Tensor; 2]>,
}

impl Adam {
    /// Moments for parameters of these shapes.
    pub fn new(gpu: &Gpu, settings: AdamSettings, shapes: &[&[usize]]) -> Result<Adam> {
        settings.check()?;
        let moments = shapes
            .iter()
            .map(|s| Ok([Tensor::zeros(gpu, s)?, Tensor::zeros(gpu, s)?]))
            .collect::<Result<_>>()?;
        Ok(Adam { settings, t: 0, moments })
    }

    /// Moments for a model's parameters.
    pub(crate) fn for_params<'a>(
        gpu: &Gpu,
        settings: AdamSettings,
        params: impl IntoIterator<Item = &'a Param>,
    ) -> Result<Adam> {
        let shapes: Vec<&[usize]> = params.into_iter().map(|p| p.value.shape()).collect();
        Adam::new(gpu, settings, &shapes)
    }

    /// One step on a model's parameters from their gradients, in the order `for_params` had.
    pub(crate) fn step_params<'a>(
        &mut self,
        gpu: &Gpu,
        params: impl IntoIterator<Item = &'a Param>,
    ) -> Result<()> {
        let pairs =
            params.into_iter().map(|p| Ok((&p.value, p.grad()?))).collect::<Result<Vec<_>>>()?;
        self.step(gpu, &pairs)
    }

    pub fn settings(&self) -> &AdamSettings {
        &self.settings
    }

    /// A new learning rate (and betas) for the steps to come; the moments stay.
    pub fn set_settings(&mut self, settings: AdamSettings) -> Result<()> {
        settings.check()?;
        self.settings = settings;
        Ok(())
    }

    /// One step on every `(parameter, gradient)` pair, in the order the shapes were given.
    pub fn step(&mut self, gpu: &Gpu, pairs: &[(&Tensor, &Tensor)]) -> Result<()> {
        if pairs.len() != self.moments.len() {
            invalid!("Adam holds moments for {} tensors; got {}", self.moments.len(), pairs.len());
        }
        // Every shape checked before any tensor moves, so a bad pair leaves no half-taken step.
        for (i, ((param, grad), [m, _])) in pairs.iter().zip(&self.moments).enumerate() {
            if param.shape() != m.shape() || grad.shape() != m.shape() {
                invalid!(
                    "Adam's tensor {i} is {:?}; got a parameter {:?} and a gradient {:?}",
                    m.shape(),
                    param.shape(),
                    grad.shape()
                );
            }
        }
        self.t =
            self.t.checked_add(1).ok_or_else(|| Error::TooLarge("Adam's step count".into()))?;
        for ((param, grad), [m, v]) in pairs.iter().zip(&self.moments) {
            adam_step(gpu, &self.settings, self.t, grad, param, m, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    gpu_tests! {
        async fn steps_match_the_reference_on_awkward_lengths() {
            let gpu = gpu().await;
            let settings = AdamSettings { lr: 2e-3, betas: (0.5, 0.999), eps: 1e-8 };
            for (i, &len) in AWKWARD.iter().enumerate() {
                let mut rng = Rng::new(1200 + i as u64);
                let (param, mut p) = random(gpu, &mut rng, &[len]);
                let (m, v) = (Tensor::zeros(gpu, &[len]).unwrap(), Tensor::zeros(gpu, &[len]).unwrap());
                let (mut mh, mut vh) = (vec![0.0; len], vec![0.0; len]);
                // Gradients of several scales, so that eps and the bias corrections both matter.
                for t in 1..=5 {
                    let scale = [1.0, 1e-3, 1e-6, 10.0, 1e-8][t as usize - 1];
                    let g: Vec<f32> = rng.vec(len).iter().map(|v| v * scale).collect();
                    let grad = Tensor::from_slice(gpu, &[len], &g).unwrap();
                    adam_step(gpu, &settings, t, &grad, &param, &m, &v).unwrap();
                    adam_ref(&settings, t, &g, &mut p, &mut mh, &mut vh);
                }
                // Each step moves a parameter by at most about lr / (1 - beta1^t); the f32
                // rounding of one such move is a few ulps of it.
                assert_close(&format!("{len} parameters"), &param.read(gpu).await.unwrap(), &p, 1e-7, 1e-6);
                assert_close(&format!("{len} first moments"), &m.read(gpu).await.unwrap(), &mh, 1e-9, 1e-5);
                assert_close(&format!("{len} second moments"), &v.read(gpu).await.unwrap(), &vh, 1e-12, 1e-5);
            }
        }

        async fn the_first_step_moves_by_the_learning_rate() {
            // At t = 1 the corrected moments are g and g^2, so each parameter moves by lr against
            // the sign of its gradient (eps aside).
            let gpu = gpu().await;
            let settings = AdamSettings { lr: 0.25, ..AdamSettings::default() };
            let param = Tensor::from_slice(gpu, &[3], &[1.0, 2.0, 3.0]).unwrap();
            let grad = Tensor::from_slice(gpu, &[3], &[5.0, -0.5, 1e-3]).unwrap();
            let shape: &[usize] = &[3];
            let mut adam = Adam::new(gpu, settings, &[shape]).unwrap();
            adam.step(gpu, &[(&param, &grad)]).unwrap();
            let got = param.read(gpu).await.unwrap();
            assert_close("one step", &got, &[0.75, 2.25, 2.75], 1e-5, 0.0);
        }

        async fn bad_settings_are_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let d = AdamSettings::default();
            for bad in [
                AdamSettings { lr: 0.0, ..d },
                AdamSettings { lr: -1e-3, ..d },
                AdamSettings { lr: f32::NAN, ..d },
                AdamSettings { betas: (1.0, 0.999), ..d },
                AdamSettings { betas: (0.9, -0.1), ..d },
                AdamSettings { eps: f32::INFINITY, ..d },
            ] {
                invalid(bad.check());
                invalid(Adam::new(gpu, bad, &[]).map(drop));
            }
            let t = |n: usize| Tensor::zeros(gpu, &[n]).unwrap();
            let (g, p, m, v) = (t(4), t(4), t(4), t(4));
            adam_step(gpu, &d, 1, &g, &p, &m, &v).unwrap();
            invalid(adam_step(gpu, &d, 0, &g, &p, &m, &v));
            invalid(adam_step(gpu, &d, 1, &t(5), &p, &m, &v));
            invalid(adam_step(gpu, &d, 1, &g, &p, &p, &v));
            let shape: &[usize] = &[4];
            let mut adam = Adam::new(gpu, d, &[shape]).unwrap();
            invalid(adam.step(gpu, &[]));
            invalid(adam.step(gpu, &[(&p, &t(5))]));
            gpu.check().unwrap();
        }
    }
}
