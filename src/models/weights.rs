//! A model's parameters by their PyTorch names, each checked against the shape the
//! architecture expects: uploaded from a checkpoint, or drawn fresh as PyTorch initialises them
//! (for training from scratch); and a model's tensors written back out as a checkpoint.

use std::cell::RefCell;

use super::layers::{BatchNorm2d, Conv, Linear, Param};
use crate::formats::json::Json;
use crate::formats::safetensors::{write_f32, SafeTensors};
use crate::ops::conv::Conv2dGeometry;
use crate::rng::Rng;
use crate::{Error, Gpu, Result, Tensor};

pub(crate) struct Weights<'a, 'g> {
    gpu: &'g Gpu,
    source: Source<'a>,
}

enum Source<'a> {
    File(SafeTensors<'a>),
    Fresh(Init, RefCell<Rng>),
}

/// How fresh parameters are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// PyTorch's defaults: convolution and linear weights and biases uniform in
    /// ±1/sqrt(fan_in) (`kaiming_uniform_` with a = sqrt(5)); batch-norm scales 1, shifts 0.
    PyTorch,
    /// train_gan.py's `dcgan_init`: weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02).
    Dcgan,
}

/// What a parameter is, which decides how it is drawn fresh.
#[derive(Clone, Copy)]
enum Role {
    Weight,
    Bias { fan_in: usize },
    Scale,
    Shift,
    RunningMean,
    RunningVar,
}

impl Init {
    fn draw(self, rng: &mut Rng, role: Role, shape: &[usize]) -> Vec<f32> {
        let n = shape.iter().product();
        // A weight's fan-in is its second dimension times its kernel, as PyTorch counts it (for a
        // transposed convolution, whose weight is [in, out, k, k], that is out * k * k).
        let fan_in = || shape[1..].iter().product::<usize>();
        let uniform = |rng: &mut Rng, bound: f64| ((rng.uniform() * 2.0 - 1.0) * bound) as f32;
        let mut fill = |f: &mut dyn FnMut(&mut Rng) -> f32| (0..n).map(|_| f(rng)).collect();
        match (self, role) {
            (Init::PyTorch, Role::Weight) => {
                let bound = 1.0 / (fan_in() as f64).sqrt();
                fill(&mut |r| uniform(r, bound))
            }
            (Init::PyTorch, Role::Bias { fan_in }) => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                fill(&mut |r| uniform(r, bound))
            }
            (Init::Dcgan, Role::Weight) => fill(&mut |r| (r.normal() * 0.02) as f32),
            (Init::Dcgan, Role::Scale) => fill(&mut |r| (1.0 + r.normal() * 0.02) as f32),
            (_, Role::Scale | Role::RunningVar) => vec![1.0; n],
            (_, Role::Bias { .. } | Role::Shift | Role::RunningMean) => vec![0.0; n],
        }
    }
}

impl<'a, 'g> Weights<'a, 'g> {
    /// Parses a checkpoint and checks it holds as many parameters as its model card says, so a
    /// checkpoint with missing or extra tensors is refused before anything is uploaded.
    pub fn open(gpu: &'g Gpu, card: &Json, bytes: &'a [u8]) -> Result<Weights<'a, 'g>> {
        let file = SafeTensors::parse(bytes)?;
        let expected = card
            .get("parameters")
            .and_then(Json::as_usize)
            .ok_or_else(|| Error::Invalid("the model card has no parameter count".into()))?;
        let mut found = 0usize;
        for name in file.names() {
            found = found.saturating_add(file.shape(name)?.iter().product());
        }
        if found != expected {
            return Err(Error::Invalid(format!(
                "the checkpoint holds {found} parameters; its model card says {expected}"
            )));
        }
        Ok(Weights { gpu, source: Source::File(file) })
    }

    /// Parameters drawn by `init` from `seed`, in the order the model asks for them.
    pub fn fresh(gpu: &'g Gpu, init: Init, seed: u64) -> Weights<'static, 'g> {
        Weights { gpu, source: Source::Fresh(init, RefCell::new(Rng::new(seed))) }
    }

    /// The parameter `name`, which must be float32 of exactly `shape`, every value finite.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_slice(self.gpu, shape, &self.values(name, shape)?)
    }

    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let Source::File(file) = &self.source else {
            return Err(Error::Invalid(format!("'{name}' has no rule to be drawn fresh")));
        };
        let values = file.f32(name, shape)?;
        finite(name, &values)?;
        Ok(values)
    }

    /// A layer's parameter: read from the file, or drawn fresh as its `role` says.
    fn param(&self, name: &str, shape: &[usize], role: Role) -> Result<Tensor> {
        match &self.source {
            Source::File(_) => self.tensor(name, shape),
            Source::Fresh(init, rng) => {
                Tensor::from_slice(self.gpu, shape, &init.draw(&mut rng.borrow_mut(), role, shape))
            }
        }
    }

    /// `nn.BatchNorm2d` `name` over `channels` channels.
    pub fn batch_norm(&self, name: &str, channels: usize) -> Result<BatchNorm2d> {
        let p = |field: &str, role| self.param(&format!("{name}.{field}"), &[channels], role);
        Ok(BatchNorm2d::new(
            p("weight", Role::Scale)?,
            p("bias", Role::Shift)?,
            p("running_mean", Role::RunningMean)?,
            p("running_var", Role::RunningVar)?,
        ))
    }

    /// `nn.Conv2d` `name` (`nn.ConvTranspose2d` when `transposed`) with a weight of `shape`, and
    /// a bias when `bias`.
    pub fn conv(
        &self,
        name: &str,
        shape: [usize; 4],
        bias: bool,
        geometry: Conv2dGeometry,
        transposed: bool,
    ) -> Result<Conv> {
        let out_channels = if transposed { shape[1] } else { shape[0] };
        Ok(Conv {
            weight: Param::new(self.param(&format!("{name}.weight"), &shape, Role::Weight)?),
            bias: self.bias(name, out_channels, shape[1..].iter().product(), bias)?,
            geometry,
            transposed,
        })
    }

    /// `nn.Linear` `name` with a weight `[out, in]`, and a bias when `bias`.
    pub fn linear(&self, name: &str, [out, inputs]: [usize; 2], bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: Param::new(self.param(
                &format!("{name}.weight"),
                &[out, inputs],
                Role::Weight,
            )?),
            bias: self.bias(name, out, inputs, bias)?,
        })
    }

    fn bias(&self, name: &str, len: usize, fan_in: usize, present: bool) -> Result<Option<Param>> {
        let role = Role::Bias { fan_in };
        let bias = present.then(|| self.param(&format!("{name}.bias"), &[len], role));
        Ok(bias.transpose()?.map(Param::new))
    }
}

/// `tensors` (name and tensor, in order) read back from the GPU as a safetensors checkpoint
/// that `Weights::open` (and `safetensors.torch.load_file`) reads.
pub(crate) async fn checkpoint(gpu: &Gpu, tensors: &[(&str, &Tensor)]) -> Result<Vec<u8>> {
    let mut values = Vec::with_capacity(tensors.len());
    for (_, t) in tensors {
        values.push(t.read(gpu).await?);
    }
    let entries: Vec<(&str, &[usize], &[f32])> =
        tensors.iter().zip(&values).map(|((n, t), v)| (*n, t.shape(), v.as_slice())).collect();
    write_f32(&entries, &[("format", "pt")])
}

/// Fails unless every value of the weight `name` is finite: a NaN or an infinity (a damaged
/// file, or a training run that diverged) would only show up later as a blank image.
pub(crate) fn finite(name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Invalid(format!(
            "weight '{name}' holds {} at element {i}; the file is damaged or was saved from a \
             diverged training run",
            values[i]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::models::gan::{Discriminator, Generator};
    use crate::models::vae::Vae;
    use crate::testing::*;

    /// The mean and standard deviation of `values`.
    fn moments(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    gpu_tests! {
        async fn fresh_weights_are_drawn_as_pytorch_draws_them() {
            let gpu = gpu().await;
            // dcgan_init: weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02), shifts 0.
            let g = Generator::fresh(gpu, 64, 1).unwrap();
            let d = Discriminator::fresh(gpu, 2).unwrap();
            let mut params = g.parameters();
            params.extend(d.parameters());
            for (name, p) in params {
                let values = p.value.read(gpu).await.unwrap();
                let (mean, std) = moments(&values);
                let n = values.len() as f64;
                println!("{name}: {} values, mean {mean:.4}, std {std:.4}", values.len());
                let is_norm = name.starts_with("net.1.") || name.starts_with("net.4.") || name.starts_with("net.3.");
                let (want_mean, want_std) = match name {
                    _ if name.ends_with("bias") => (0.0, 0.0),
                    _ if is_norm && p.value.shape().len() == 1 => (1.0, 0.02),
                    _ => (0.0, 0.02),
                };
                // Five standard errors of each estimate.
                assert!((mean - want_mean).abs() <= 5.0 * want_std / n.sqrt() + 1e-9, "{name}: mean {mean}");
                assert!((std - want_std).abs() <= 5.0 * want_std / (2.0 * n).sqrt() + 1e-9, "{name}: std {std}");
            }
            for (name, stat) in g.running_statistics() {
                let want = if name.ends_with("var") { 1.0 } else { 0.0 };
                assert!(stat.read(gpu).await.unwrap().iter().all(|&v| v == want), "{name}");
            }
            // PyTorch's default: uniform in +-1/sqrt(fan_in) for weights and biases, the fan-in
            // of a transposed convolution's [in, out, k, k] weight being out * k * k.
            let vae = Vae::fresh(gpu, 2, 3).unwrap();
            let fan_ins = [16, 16, 512, 512, 3136, 3136, 3136, 3136, 2, 2, 512, 512, 16, 16];
            for ((name, p), fan_in) in vae.parameters().into_iter().zip(fan_ins) {
                let values = p.value.read(gpu).await.unwrap();
                let bound = 1.0 / (fan_in as f64).sqrt();
                let (mean, std) = moments(&values);
                let largest = values.iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
                println!("{name}: bound {bound:.4}, largest {largest:.4}, std {std:.4}");
                assert!(largest <= bound, "{name}: {largest} beyond {bound}");
                let n = values.len() as f64;
                let want_std = bound / 3f64.sqrt();
                assert!(mean.abs() <= 5.0 * want_std / n.sqrt(), "{name}: mean {mean}");
                if n >= 100.0 {
                    assert!((std / want_std - 1.0).abs() < 0.1, "{name}: std {std}, want {want_std}");
                }
            }
            // Other seeds, other weights; the same seed, the same.
            let again = Generator::fresh(gpu, 64, 1).unwrap();
            let other = Generator::fresh(gpu, 64, 9).unwrap();
            let mut firsts = Vec::new();
            for g in [&g, &again, &other] {
                firsts.push(g.parameters()[0].1.value.read(gpu).await.unwrap());
            }
            let [a, b, c] = &firsts[..] else { unreachable!() };
            assert_eq!(a, b);
            assert_ne!(a, c);
        }
    }
}
