//! Training from scratch on a data set, as the page does it live: fresh weights, batches drawn
//! at random from images kept on the device (gathered there), and a call of many steps that
//! reads back only their losses and stops at the first that is NaN or infinite.

use super::adam::AdamSettings;
use super::check_losses;
use super::gan::{GanTraining, DCGAN_ADAM};
use super::vae::{VaeTraining, VAE_ADAM};
use crate::models::gan::{check_labels, Discriminator, Generator};
use crate::models::scratch::Scratch;
use crate::models::vae::Vae;
use crate::ops::embedding::embedding;
use crate::rng::Rng;
use crate::{Error, Gpu, Result, Tensor};

const PIXELS: usize = 28 * 28;
/// The most steps one call takes: its losses are gathered on the device and read back at once.
pub const MAX_STEPS: usize = 1000;
/// The largest batch.
pub const MAX_BATCH: usize = 512;
/// train_gan.py's noise size, which the page's GAN tab also uses.
pub const LATENT: usize = 64;

const GAN_ADVICE: &str = "reset, and try smaller learning rates (2e-4 is DCGAN's) or fewer \
                          discriminator steps";
const VAE_ADVICE: &str = "reset, and try a smaller learning rate (1e-3 is train_vae.py's)";

/// Training images (784 values in [0, 1] per image, each finite) as a `[count, 784]` table on
/// the device, mapped by `scale` (the GAN trains on [-1, 1]).
fn image_table(gpu: &Gpu, images: &[f32], scale: fn(f32) -> f32) -> Result<Tensor> {
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(Error::Invalid(format!("training image value {i} is {}", images[i])));
    }
    if images.is_empty() || !images.len().is_multiple_of(PIXELS) {
        return Err(Error::Invalid(format!(
            "{} values are not whole 28 x 28 training images",
            images.len()
        )));
    }
    let scaled: Vec<f32> = images.iter().map(|&v| scale(v)).collect();
    Tensor::from_slice(gpu, &[images.len() / PIXELS, PIXELS], &scaled)
}

/// `n` images drawn at random from `table` into the batch tensor of that size, `[n, 1, 28, 28]`,
/// on the device; returns it and the rows drawn.
fn gather(
    gpu: &Gpu,
    table: &Tensor,
    batches: &mut Scratch<Tensor>,
    rng: &mut Rng,
    n: usize,
) -> Result<(Tensor, Vec<u32>)> {
    let count = table.shape()[0] as u64;
    let picks: Vec<u32> = (0..n).map(|_| (rng.next_u64() % count) as u32).collect();
    let rows = batches.get(n, || Tensor::zeros(gpu, &[n, PIXELS]))?;
    embedding(gpu, table, &picks, rows)?;
    Ok((rows.view(&[n, 1, 28, 28])?, picks))
}

/// Fails unless `batch` is from 1 to the number of images (and MAX_BATCH).
fn check_batch(batch: usize, images: usize) -> Result<()> {
    let most = images.min(MAX_BATCH);
    if !(1..=most).contains(&batch) {
        return Err(Error::Invalid(format!(
            "the batch size must be from 1 to {most} (at most the number of images); got {batch}"
        )));
    }
    Ok(())
}

fn check_steps(steps: usize) -> Result<()> {
    if !(1..=MAX_STEPS).contains(&steps) {
        return Err(Error::Invalid(format!(
            "a call takes from 1 to {MAX_STEPS} steps; got {steps}"
        )));
    }
    Ok(())
}

/// The GAN's settings for the steps to come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GanSettings {
    pub batch: usize,
    pub g: AdamSettings,
    pub d: AdamSettings,
    /// Discriminator steps per generator step (1 in train_gan.py).
    pub d_steps: usize,
}

impl Default for GanSettings {
    /// train_gan.py's, at a batch of 32.
    fn default() -> GanSettings {
        GanSettings { batch: 32, g: DCGAN_ADAM, d: DCGAN_ADAM, d_steps: 1 }
    }
}

/// A conditional GAN learning from fresh weights on a set of images.
pub struct GanRun {
    pub training: GanTraining,
    images: Tensor,
    labels: Vec<u32>,
    rng: Rng,
    batches: Scratch<Tensor>,
    /// Six numbers per step of a call: see `GanTraining::copy_losses`.
    history: Tensor,
    steps: usize,
    diverged: Option<Error>,
}

impl GanRun {
    /// DCGAN-initialised networks (from `seed`) to train on `images` (784 values in [0, 1] per
    /// image) of classes `labels`.
    pub fn new(gpu: &Gpu, images: &[f32], labels: &[u32], seed: u64) -> Result<GanRun> {
        check_labels(labels)?;
        if labels.len() * PIXELS != images.len() {
            return Err(Error::Invalid(format!(
                "{} labels for {} values of images: give one label per 784 values",
                labels.len(),
                images.len()
            )));
        }
        let table = image_table(gpu, images, |v| v * 2.0 - 1.0)?;
        let mut rng = Rng::new(seed);
        let g = Generator::fresh(gpu, LATENT, rng.next_u64())?;
        let d = Discriminator::fresh(gpu, rng.next_u64())?;
        Ok(GanRun {
            training: GanTraining::new(gpu, g, d, DCGAN_ADAM, DCGAN_ADAM)?,
            images: table,
            labels: labels.to_vec(),
            rng,
            batches: Scratch::new(),
            history: Tensor::zeros(gpu, &[MAX_STEPS * 6])?,
            steps: 0,
            diverged: None,
        })
    }

    /// How many training images it draws from.
    pub fn images(&self) -> usize {
        self.labels.len()
    }

    /// How many generator steps it has taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Checks `s` against this run's images: what `train` will refuse.
    pub fn check(&self, s: &GanSettings) -> Result<()> {
        check_batch(s.batch, self.images())?;
        s.g.check()?;
        s.d.check()?;
        if !(1..=10).contains(&s.d_steps) {
            return Err(Error::Invalid(format!(
                "the discriminator takes 1 to 10 steps per generator step; got {}",
                s.d_steps
            )));
        }
        Ok(())
    }

    /// Takes `steps` generator steps, each after `s.d_steps` discriminator steps on random
    /// real batches and fake batches of random classes, and returns six numbers per step (see
    /// `GanTraining::copy_losses`): the real batch's loss and mean D(x), the fake batch's loss
    /// and mean D(G(z)) before the discriminator's update, the generator's loss and mean
    /// D(G(z)) after it. A loss that is NaN or infinite is an `Error::Diverged`, and every
    /// later call fails with it.
    pub async fn train(&mut self, gpu: &Gpu, steps: usize, s: &GanSettings) -> Result<Vec<f32>> {
        if let Some(e) = &self.diverged {
            return Err(e.clone());
        }
        check_steps(steps)?;
        self.check(s)?;
        self.training.set_settings(s.g, s.d)?;
        for i in 0..steps {
            for _ in 0..s.d_steps {
                self.discriminator_step(gpu, s.batch)?;
            }
            self.training.generator_step(gpu)?;
            self.training.copy_losses(gpu, &self.history, 6 * i)?;
        }
        let losses = self.history.read_range(gpu, 0..6 * steps).await?;
        for (i, l) in losses.chunks(6).enumerate() {
            let named = [
                ("discriminator's loss on real images", l[0]),
                ("discriminator's loss on generated images", l[2]),
                ("generator's loss", l[4]),
            ];
            if let Err(e) = check_losses(self.steps + i + 1, &named, GAN_ADVICE) {
                self.diverged = Some(e.clone());
                return Err(e);
            }
        }
        self.steps += steps;
        Ok(losses)
    }

    /// One discriminator step on a random real batch and a fake one of random classes.
    fn discriminator_step(&mut self, gpu: &Gpu, n: usize) -> Result<()> {
        let (real, picks) = gather(gpu, &self.images, &mut self.batches, &mut self.rng, n)?;
        let real_labels: Vec<u32> = picks.iter().map(|&i| self.labels[i as usize]).collect();
        let fake_labels: Vec<u32> = (0..n).map(|_| (self.rng.next_u64() % 10) as u32).collect();
        let z: Vec<f32> = (0..n * LATENT).map(|_| self.rng.normal() as f32).collect();
        self.training.discriminator_step(gpu, &real, &real_labels, &z, &fake_labels)
    }

    /// Images from the generator in eval mode (running statistics, as its exported weights
    /// draw them), one per class in `labels` from `z`: pixels in [0, 1].
    pub async fn generate(&mut self, gpu: &Gpu, z: &[f32], labels: &[u32]) -> Result<Vec<f32>> {
        let g = &mut self.training.generator;
        g.set_training(gpu, false)?;
        let pixels = match g.forward(gpu, z, labels) {
            Ok(images) => images.read(gpu).await,
            Err(e) => Err(e),
        };
        g.set_training(gpu, true)?;
        Ok(pixels?.iter().map(|v| (v + 1.0) / 2.0).collect())
    }
}

/// The VAE's settings for the steps to come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeSettings {
    pub batch: usize,
    pub adam: AdamSettings,
    /// The KL term's weight.
    pub beta: f32,
}

impl Default for VaeSettings {
    /// train_vae.py's learning rate and beta, at a batch of 64.
    fn default() -> VaeSettings {
        VaeSettings { batch: 64, adam: VAE_ADAM, beta: 1.0 }
    }
}

/// A VAE learning from fresh weights on a set of images.
pub struct VaeRun {
    pub training: VaeTraining,
    images: Tensor,
    rng: Rng,
    batches: Scratch<Tensor>,
    /// Two numbers per step of a call: see `VaeTraining::copy_losses`.
    history: Tensor,
    steps: usize,
    diverged: Option<Error>,
}

impl VaeRun {
    /// A VAE of `latent` numbers, initialised as PyTorch does (from `seed`), to train on
    /// `images` (784 values in [0, 1] per image).
    pub fn new(gpu: &Gpu, images: &[f32], latent: usize, seed: u64) -> Result<VaeRun> {
        let table = image_table(gpu, images, |v| v)?;
        let mut rng = Rng::new(seed);
        let vae = Vae::fresh(gpu, latent, rng.next_u64())?;
        Ok(VaeRun {
            training: VaeTraining::new(gpu, vae, VAE_ADAM, 1.0)?,
            images: table,
            rng,
            batches: Scratch::new(),
            history: Tensor::zeros(gpu, &[MAX_STEPS * 2])?,
            steps: 0,
            diverged: None,
        })
    }

    pub fn images(&self) -> usize {
        self.images.shape()[0]
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Checks `s` against this run's images: what `train` will refuse.
    pub fn check(&self, s: &VaeSettings) -> Result<()> {
        check_batch(s.batch, self.images())?;
        s.adam.check()?;
        if !(s.beta.is_finite() && (0.0..=100.0).contains(&s.beta)) {
            return Err(Error::Invalid(format!(
                "the KL weight beta must be a number from 0 to 100; got {}",
                s.beta
            )));
        }
        Ok(())
    }

    /// Takes `steps` steps on random batches and returns two numbers per step, per image: the
    /// reconstruction term and beta times the KL term. A loss that is NaN or infinite is an
    /// `Error::Diverged`, and every later call fails with it.
    pub async fn train(&mut self, gpu: &Gpu, steps: usize, s: &VaeSettings) -> Result<Vec<f32>> {
        if let Some(e) = &self.diverged {
            return Err(e.clone());
        }
        check_steps(steps)?;
        self.check(s)?;
        self.training.set_settings(s.adam)?;
        self.training.set_beta(s.beta)?;
        let latent = self.training.vae.latent();
        for i in 0..steps {
            let (x, _) = gather(gpu, &self.images, &mut self.batches, &mut self.rng, s.batch)?;
            let eps: Vec<f32> = (0..s.batch * latent).map(|_| self.rng.normal() as f32).collect();
            self.training.step(gpu, &x, &eps)?;
            self.training.copy_losses(gpu, &self.history, 2 * i)?;
        }
        let losses = self.history.read_range(gpu, 0..2 * steps).await?;
        for (i, l) in losses.chunks(2).enumerate() {
            let named = [("reconstruction loss", l[0]), ("KL term", l[1])];
            if let Err(e) = check_losses(self.steps + i + 1, &named, VAE_ADVICE) {
                self.diverged = Some(e.clone());
                return Err(e);
            }
        }
        self.steps += steps;
        Ok(losses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/gan_training_mnist.safetensors");

    /// The fixture's eight MNIST images, in [0, 1], and their classes.
    fn images() -> (Vec<f32>, Vec<u32>) {
        let f = SafeTensors::parse(FIXTURE).unwrap();
        let images = f.f32("real", &[8, 1, 28, 28]).unwrap();
        let labels = f.i64("real_labels", &[8]).unwrap();
        (
            images.iter().map(|v| (v + 1.0) / 2.0).collect(),
            labels.iter().map(|&c| c as u32).collect(),
        )
    }

    const GAN: GanSettings = GanSettings { batch: 2, g: DCGAN_ADAM, d: DCGAN_ADAM, d_steps: 1 };
    const VAE: VaeSettings = VaeSettings { batch: 4, adam: VAE_ADAM, beta: 1.0 };

    /// A card that loads a checkpoint of `bytes`: its parameter count and latent size.
    fn card(bytes: &[u8], latent: usize) -> String {
        let file = SafeTensors::parse(bytes).unwrap();
        let count: usize =
            file.names().map(|n| file.shape(n).unwrap().iter().product::<usize>()).sum();
        format!(r#"{{"parameters": {count}, "architecture": {{"latent": {latent}}}}}"#)
    }

    gpu_tests! {
        async fn training_from_scratch_is_seeded_and_checked() {
            let gpu = gpu().await;
            let (pixels, labels) = images();
            let mut losses = Vec::new();
            for _ in 0..2 {
                let mut run = GanRun::new(gpu, &pixels, &labels, 7).unwrap();
                let mut s = GanSettings { d_steps: 2, ..GAN };
                let first = run.train(gpu, 1, &s).await.unwrap();
                s.d_steps = 1;
                losses.push([first, run.train(gpu, 1, &s).await.unwrap()].concat());
                assert_eq!(run.steps(), 2);
            }
            // The same seed, the same batches, noise and weights: the same losses to the bit.
            assert_eq!(losses[0], losses[1]);
            assert_eq!(losses[0].len(), 12);
            for step in losses[0].chunks(6) {
                println!("GAN from scratch: {step:?}");
                assert!(step.iter().all(|v| v.is_finite()), "{step:?}");
                // Fresh networks: D(x) and D(G(z)) away from 0 and 1, the losses moderate.
                for p in [step[1], step[3], step[5]] {
                    assert!((0.02..0.98).contains(&p), "a mean probability of {p}");
                }
                for l in [step[0], step[2], step[4]] {
                    assert!((0.01..4.0).contains(&l), "a loss of {l}");
                }
            }
            let other = GanRun::new(gpu, &pixels, &labels, 8).unwrap().train(gpu, 1, &GAN).await.unwrap();
            assert_ne!(other, losses[0][..6], "another seed, other weights");

            let mut run = VaeRun::new(gpu, &pixels, 2, 3).unwrap();
            let vae = run.train(gpu, 3, &VAE).await.unwrap();
            println!("VAE from scratch: {vae:?}");
            // A fresh decoder draws grey: about 784 ln 2 = 543 nats per image at first, then less.
            assert!((300.0..800.0).contains(&vae[0]) && vae[4] < vae[0], "{vae:?}");
            assert!(vae.iter().all(|v| v.is_finite() && *v >= 0.0), "{vae:?}");

            // Settings and inputs refused before anything runs.
            let mut run = GanRun::new(gpu, &pixels, &labels, 7).unwrap();
            let invalid = |r: Result<Vec<f32>>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            for bad in [
                GanSettings { batch: 0, ..GAN },
                GanSettings { batch: 9, ..GAN },
                GanSettings { batch: MAX_BATCH + 1, ..GAN },
                GanSettings { d_steps: 0, ..GAN },
                GanSettings { d_steps: 11, ..GAN },
                GanSettings { g: AdamSettings { lr: f32::NAN, ..DCGAN_ADAM }, ..GAN },
                GanSettings { d: AdamSettings { betas: (1.0, 0.999), ..DCGAN_ADAM }, ..GAN },
            ] {
                invalid(run.train(gpu, 1, &bad).await);
            }
            invalid(run.train(gpu, 0, &GAN).await);
            invalid(run.train(gpu, MAX_STEPS + 1, &GAN).await);
            assert_eq!(run.steps(), 0);
            let mut run = VaeRun::new(gpu, &pixels, 2, 3).unwrap();
            for bad in [VaeSettings { beta: -1.0, ..VAE }, VaeSettings { beta: f32::INFINITY, ..VAE }] {
                invalid(run.train(gpu, 1, &bad).await);
            }
            let refused = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            refused(GanRun::new(gpu, &pixels[..783], &labels, 1).map(drop));
            refused(GanRun::new(gpu, &pixels, &labels[..7], 1).map(drop));
            refused(GanRun::new(gpu, &pixels, &[10; 8], 1).map(drop));
            refused(GanRun::new(gpu, &[f32::NAN; 784], &[1], 1).map(drop));
            refused(VaeRun::new(gpu, &[], 2, 1).map(drop));
            gpu.check().unwrap();
        }

        async fn a_diverging_run_stops_and_says_so() {
            let gpu = gpu().await;
            let (pixels, labels) = images();
            // A step of 1e30 on every weight: activations overflow within a step or two.
            let huge = AdamSettings { lr: 1e30, ..DCGAN_ADAM };
            let mut run = GanRun::new(gpu, &pixels, &labels, 7).unwrap();
            let s = GanSettings { g: huge, d: huge, ..GAN };
            let mut failed = None;
            for _ in 0..3 {
                if let Err(e) = run.train(gpu, 1, &s).await {
                    failed = Some(e);
                    break;
                }
            }
            let Some(Error::Diverged(message)) = failed else { panic!("no divergence: {failed:?}") };
            println!("{message}");
            assert!(message.contains("at step") && message.contains("learning rate"), "{message}");
            // Every later call says the same, even with sane settings.
            assert_eq!(run.train(gpu, 1, &GAN).await, Err(Error::Diverged(message)));
            let mut run = VaeRun::new(gpu, &pixels, 2, 3).unwrap();
            let s = VaeSettings { adam: AdamSettings { lr: 1e30, ..VAE_ADAM }, ..VAE };
            let mut failed = None;
            for _ in 0..3 {
                if let Err(e) = run.train(gpu, 1, &s).await {
                    failed = Some(e);
                    break;
                }
            }
            assert!(matches!(failed, Some(Error::Diverged(_))), "{failed:?}");
        }

        async fn trained_weights_load_back() {
            let gpu = gpu().await;
            let (pixels, labels) = images();
            let mut run = GanRun::new(gpu, &pixels, &labels, 5).unwrap();
            run.train(gpu, 1, &GAN).await.unwrap();
            let z = crate::testing::Rng::new(2).vec(3 * LATENT);
            let drawn = run.generate(gpu, &z, &[3, 1, 4]).await.unwrap();
            let g = run.training.generator.checkpoint(gpu).await.unwrap();
            let d = run.training.discriminator.checkpoint(gpu).await.unwrap();
            let mut generator = Generator::load(gpu, &card(&g, LATENT), &g).unwrap();
            let loaded = generator.forward(gpu, &z, &[3, 1, 4]).unwrap().read(gpu).await.unwrap();
            let loaded: Vec<f32> = loaded.iter().map(|v| (v + 1.0) / 2.0).collect();
            // The same weights and running statistics through the same kernels: the same bits.
            assert_eq!(loaded, drawn);
            // Training moved the running statistics away from their fresh 0 and 1.
            let file = SafeTensors::parse(&g).unwrap();
            let mean = file.f32("net.1.running_mean", &[96]).unwrap();
            assert!(mean.iter().any(|&m| m != 0.0), "the running mean did not move");
            let f = SafeTensors::parse(FIXTURE).unwrap();
            let real = Tensor::from_slice(gpu, &[8, 1, 28, 28], &f.f32("real", &[8, 1, 28, 28]).unwrap()).unwrap();
            let mut discriminator = Discriminator::load(gpu, &card(&d, 0), &d).unwrap();
            let scores = discriminator.probabilities(gpu, &real, &labels).await.unwrap();
            assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)), "{scores:?}");

            let mut run = VaeRun::new(gpu, &pixels, 2, 3).unwrap();
            run.train(gpu, 2, &VAE).await.unwrap();
            let z = [0.5, -1.0, 2.0, 0.25];
            let decoded = run.training.vae.decode(gpu, &z).unwrap().read(gpu).await.unwrap();
            let bytes = run.training.vae.checkpoint(gpu).await.unwrap();
            let mut vae = Vae::load(gpu, &card(&bytes, 2), &bytes).unwrap();
            assert_eq!(vae.decode(gpu, &z).unwrap().read(gpu).await.unwrap(), decoded);
        }

        async fn a_repeated_training_call_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let (pixels, labels) = images();
            let mut gan = GanRun::new(gpu, &pixels, &labels, 5).unwrap();
            let mut vae = VaeRun::new(gpu, &pixels, 2, 3).unwrap();
            for call in 0..3 {
                let before = gpu.stats();
                gan.train(gpu, 1, &GAN).await.unwrap();
                vae.train(gpu, 2, &VAE).await.unwrap();
                if call == 2 {
                    let spent = gpu.stats() - before;
                    assert_made_nothing("a call of one GAN step and one of two VAE steps", spent);
                    // One read-back per call: the losses of all its steps at once.
                    assert_eq!(spent.read_backs, 2, "{spent:?}");
                }
            }
        }
    }
}
