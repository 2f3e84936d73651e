//! The VAE's training step, as `training/train_vae.py` takes it: the loss per image is the
//! reconstruction's binary cross-entropy summed over the pixels plus the KL term (weighted by
//! beta, 1 in train_vae.py: a larger beta trades sharper images for a tidier latent space).

use super::adam::{Adam, AdamSettings};
use crate::models::scratch::Scratch;
use crate::models::vae::Vae;
use crate::ops::loss::{bce_with_logits, Reduction};
use crate::{Error, Gpu, Result, Tensor};

/// train_vae.py's Adam: lr 1e-3 (there cosine-annealed over the run), PyTorch's default betas.
pub const VAE_ADAM: AdamSettings = AdamSettings { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8 };

/// One step's loss terms per image, read back from the GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeLosses {
    /// The reconstruction term: binary cross-entropy summed over the 784 pixels.
    pub reconstruction: f32,
    /// The KL divergence from N(0, I), times beta.
    pub kl: f32,
}

/// A VAE in training mode with its optimizer.
pub struct VaeTraining {
    pub vae: Vae,
    opt: Adam,
    beta: f32,
    batches: Scratch<Batch>,
    last_batch: Option<usize>,
}

struct Batch {
    d_logits: Tensor,
    reconstruction: Tensor,
}

impl VaeTraining {
    /// Puts the VAE in training mode, with Adam and the KL weight `beta`.
    pub fn new(gpu: &Gpu, mut vae: Vae, settings: AdamSettings, beta: f32) -> Result<VaeTraining> {
        check_beta(beta)?;
        vae.set_training(gpu, true)?;
        let opt = Adam::for_params(gpu, settings, vae.parameters().into_iter().map(|(_, p)| p))?;
        Ok(VaeTraining { vae, opt, beta, batches: Scratch::new(), last_batch: None })
    }

    /// A new KL weight for the steps to come.
    pub fn set_beta(&mut self, beta: f32) -> Result<()> {
        check_beta(beta)?;
        self.beta = beta;
        Ok(())
    }

    /// A new learning rate (and betas) for the steps to come; Adam's moments stay.
    pub fn set_settings(&mut self, settings: AdamSettings) -> Result<()> {
        self.opt.set_settings(settings)
    }

    /// Copies the last step's loss terms per image (reconstruction, then beta times KL) into
    /// `out` at elements `offset` and `offset + 1`, on the GPU: to read many steps' at once.
    pub fn copy_losses(&mut self, gpu: &Gpu, out: &Tensor, offset: usize) -> Result<()> {
        let n = self.last_batch.ok_or_else(|| Error::Invalid("no step taken yet".into()))?;
        out.copy_range(gpu, &self.batches.made(n)?.reconstruction, 0..1, offset)?;
        out.copy_range(gpu, self.vae.kl()?, 0..1, offset + 1)
    }

    /// One step on images `[n, 1, 28, 28]` in [0, 1] with the reparameterisation's noise (`n`
    /// rows of `latent` standard normal numbers). Nothing is read back: `losses` reads them.
    pub fn step(&mut self, gpu: &Gpu, x: &Tensor, eps: &[f32]) -> Result<()> {
        let &[n, 1, 28, 28] = x.shape() else {
            return Err(Error::Invalid(format!(
                "a VAE training batch is [n, 1, 28, 28] images; got {:?}",
                x.shape()
            )));
        };
        self.last_batch = None;
        let b = self.batches.get(n, || {
            Ok(Batch {
                d_logits: Tensor::zeros(gpu, &[n, 1, 28, 28])?,
                reconstruction: Tensor::zeros(gpu, &[2])?,
            })
        })?;
        // logits, mean, logvar = vae(x); loss = (bce + beta kl) / len(x)
        let logits = self.vae.forward(gpu, x, eps, self.beta / n as f32)?;
        bce_with_logits(gpu, logits, x, Reduction::SumOver(n), &b.d_logits, &b.reconstruction)?;
        // loss.backward(); opt.step()
        self.vae.backward(gpu, &b.d_logits)?;
        self.opt.step_params(gpu, self.vae.parameters().into_iter().map(|(_, p)| p))?;
        self.last_batch = Some(n);
        Ok(())
    }

    /// The last step's loss terms per image.
    pub async fn losses(&mut self, gpu: &Gpu) -> Result<VaeLosses> {
        let n = self.last_batch.ok_or_else(|| Error::Invalid("no step taken yet".into()))?;
        let reconstruction = self.batches.made(n)?.reconstruction.read(gpu).await?[0];
        let kl = self.vae.kl()?.read(gpu).await?[0];
        Ok(VaeLosses { reconstruction, kl })
    }
}

fn check_beta(beta: f32) -> Result<()> {
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(Error::Invalid(format!(
            "the KL weight beta must be finite and non-negative; got {beta}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::models::vae::IMAGE;
    use crate::testing::*;

    const CARD: &str = include_str!("../../www/models/vae2d_mnist.json");
    const WEIGHTS: &[u8] = include_bytes!("../../www/models/vae2d_mnist.safetensors");
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/vae2d_mnist_training.safetensors");
    const N: usize = 8;
    const LATENT: usize = 2;

    fn training(gpu: &Gpu) -> VaeTraining {
        VaeTraining::new(gpu, Vae::load(gpu, CARD, WEIGHTS).unwrap(), VAE_ADAM, 1.0).unwrap()
    }

    /// `steps` steps of train_vae.py's loop (at a constant learning rate) from the committed 2-D
    /// MNIST VAE, against PyTorch's: every gradient of the first step within 1e-4 of its
    /// tensor's largest, each step's loss terms, and after 20 steps every parameter.
    async fn matches_pytorch(gpu: &Gpu, steps: usize) {
        let f = SafeTensors::parse(FIXTURE).unwrap();
        let mut t = training(gpu);
        let x = f.f32("x", &[N, 1, IMAGE, IMAGE]).unwrap();
        let x = Tensor::from_slice(gpu, &[N, 1, IMAGE, IMAGE], &x).unwrap();
        let eps = f.f32("eps", &[20, N, LATENT]).unwrap();
        let want_losses = f.f32("losses", &[20, 2]).unwrap();
        for step in 0..steps {
            t.step(gpu, &x, &eps[step * N * LATENT..(step + 1) * N * LATENT]).unwrap();
            let l = t.losses(gpu).await.unwrap();
            // Terms of order 100 nats (the reconstruction) and 10 (KL), summed in f32.
            let want = &want_losses[step * 2..step * 2 + 2];
            assert_close(
                &format!("step {step} losses"),
                &[l.reconstruction, l.kl],
                want,
                1e-3,
                1e-5,
            );
            if step == 0 {
                for (name, p) in t.vae.parameters() {
                    let key = format!("grad.{name}");
                    let want = f.f32(&key, p.value.shape()).unwrap();
                    let largest = want.iter().fold(0.0f32, |m, w| m.max(w.abs()));
                    let got = p.grad().unwrap().read(gpu).await.unwrap();
                    assert_close(&key, &got, &want, 1e-4 * largest, 0.0);
                }
            }
        }
        if steps < 20 {
            return;
        }
        for (name, p) in t.vae.parameters() {
            let key = format!("final.{name}");
            let want = f.f32(&key, p.value.shape()).unwrap();
            // 20 steps of Adam at lr 1e-3 move a weight by up to 2e-2.
            assert_close(&key, &p.value.read(gpu).await.unwrap(), &want, 1e-5, 1e-4);
        }
    }

    gpu_tests! {
        async fn twenty_vae_steps_match_pytorch() {
            matches_pytorch(gpu().await, 20).await;
        }

        async fn the_reference_device_matches_pytorch() {
            matches_pytorch(&Gpu::reference(), 2).await;
        }

        async fn a_second_step_makes_nothing() {
            let gpu = &Gpu::new().await.unwrap();
            let mut t = training(gpu);
            let mut rng = Rng::new(9);
            let pixels: Vec<f32> = rng.vec(5 * 784).iter().map(|v| v.abs()).collect();
            let x = Tensor::from_slice(gpu, &[5, 1, IMAGE, IMAGE], &pixels).unwrap();
            for step in 0..3 {
                let before = gpu.stats();
                t.step(gpu, &x, &rng.vec(5 * LATENT)).unwrap();
                let l = t.losses(gpu).await.unwrap();
                assert!(l.reconstruction > 0.0 && l.kl >= 0.0, "{l:?}");
                if step == 2 {
                    let spent = gpu.stats() - before;
                    assert_made_nothing("a VAE training step", spent);
                    // One compute pass; one submission per loss read, the first carrying the step.
                    let counts = (spent.compute_passes, spent.submissions, spent.read_backs);
                    assert_eq!(counts, (1, 2, 2), "{spent:?}");
                }
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let mut t = training(gpu);
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let x = Tensor::zeros(gpu, &[2, 1, IMAGE, IMAGE]).unwrap();
            invalid(t.step(gpu, &x, &[0.0; 3]));
            invalid(t.step(gpu, &Tensor::zeros(gpu, &[2, 784]).unwrap(), &[0.0; 4]));
            invalid(t.set_beta(-1.0));
            invalid(t.set_beta(f32::NAN));
            let vae = Vae::load(gpu, CARD, WEIGHTS).unwrap();
            invalid(VaeTraining::new(gpu, vae, VAE_ADAM, f32::INFINITY).map(drop));
            let mut vae = Vae::load(gpu, CARD, WEIGHTS).unwrap();
            invalid(vae.backward(gpu, &x));
            gpu.check().unwrap();
        }
    }
}
