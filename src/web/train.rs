//! Training for JavaScript: a GAN or a VAE from fresh weights on images the caller gives
//! (`crate::train::live`), a few steps per call, with each JavaScript number checked here.

use wasm_bindgen::prelude::*;

use super::device::OnDevice;
use super::{classes, finite, js_error, whole, Lab};
use crate::formats::SafeTensors;
use crate::train::adam::AdamSettings;
use crate::train::live::{GanRun, GanSettings, VaeRun, VaeSettings, LATENT, MAX_BATCH, MAX_STEPS};
use crate::Error;

/// A learning rate from JavaScript in place of `base`'s.
fn with_lr(base: AdamSettings, lr: f64) -> AdamSettings {
    AdamSettings { lr: lr as f32, ..base }
}

fn steps(count: f64) -> Result<usize, Error> {
    Ok(whole("the number of steps", count, 1.0, MAX_STEPS as f64)? as usize)
}

/// A batch size from JavaScript: a whole number from 1 to MAX_BATCH (the run then holds it to
/// the number of images).
fn batch(value: f64) -> Result<usize, Error> {
    Ok(whole("the batch size", value, 1.0, MAX_BATCH as f64)? as usize)
}

/// Weights as a safetensors checkpoint, and how many numbers it holds (the card's count).
#[wasm_bindgen]
pub struct Checkpoint {
    bytes: Vec<u8>,
    parameters: usize,
}

impl Checkpoint {
    fn new(bytes: Vec<u8>) -> Result<Checkpoint, Error> {
        let file = SafeTensors::parse(&bytes)?;
        let mut parameters = 0;
        for name in file.names() {
            parameters += file.shape(name)?.iter().product::<usize>();
        }
        Ok(Checkpoint { bytes, parameters })
    }
}

#[wasm_bindgen]
impl Checkpoint {
    /// The safetensors file.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The number of values in it, as a model card's `parameters` gives it.
    #[wasm_bindgen(getter)]
    pub fn parameters(&self) -> usize {
        self.parameters
    }
}

#[wasm_bindgen]
impl Lab {
    /// A conditional GAN to train from fresh DCGAN-initialised weights (from `seed`) on
    /// `images` (784 values in [0, 1] per image) of classes `labels` (0..9), with
    /// train_gan.py's settings at a batch of 32 until `configure` changes them.
    #[wasm_bindgen(js_name = trainGan)]
    pub fn train_gan(
        &self,
        images: &[f32],
        labels: &[f64],
        seed: f64,
    ) -> Result<GanTrainer, JsValue> {
        let made = (|| {
            let labels = classes(labels)?;
            let seed = whole("the seed", seed, 0.0, 2f64.powi(53))?;
            let images = images.to_vec();
            let run =
                OnDevice::new(&self.device, move |gpu| GanRun::new(gpu, &images, &labels, seed))?;
            Ok::<_, Error>(GanTrainer { run, settings: GanSettings::default() })
        })();
        made.map_err(js_error)
    }

    /// A VAE of `latent` numbers (2 or 16) to train from PyTorch's initialisation (from
    /// `seed`) on `images` (784 values in [0, 1] per image), with train_vae.py's learning rate
    /// and beta 1 at a batch of 64 until `configure` changes them.
    #[wasm_bindgen(js_name = trainVae)]
    pub fn train_vae(&self, images: &[f32], latent: f64, seed: f64) -> Result<VaeTrainer, JsValue> {
        let made = (|| {
            if latent != 2.0 && latent != 16.0 {
                return Err(Error::Invalid(format!(
                    "the latent size must be 2 or 16; got {latent}"
                )));
            }
            let seed = whole("the seed", seed, 0.0, 2f64.powi(53))?;
            let images = images.to_vec();
            let run = OnDevice::new(&self.device, move |gpu| {
                VaeRun::new(gpu, &images, latent as usize, seed)
            })?;
            Ok(VaeTrainer { run, settings: VaeSettings::default() })
        })();
        made.map_err(js_error)
    }
}

/// A conditional GAN learning from scratch: `step` trains it, `generate` shows its generator.
#[wasm_bindgen]
pub struct GanTrainer {
    run: OnDevice<GanRun>,
    settings: GanSettings,
}

#[wasm_bindgen]
impl GanTrainer {
    /// How many noise numbers each image is made from.
    #[wasm_bindgen(getter)]
    pub fn latent(&self) -> usize {
        LATENT
    }

    /// How many generator steps have been taken (0 again after a lost device, which starts
    /// the training over).
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.run.model().steps()
    }

    /// The settings of the steps to come: the batch size, the generator's and the
    /// discriminator's learning rates, and the discriminator's steps per generator step.
    pub fn configure(
        &mut self,
        batch_size: f64,
        lr_g: f64,
        lr_d: f64,
        d_steps: f64,
    ) -> Result<(), JsValue> {
        let settings = (|| {
            let s = GanSettings {
                batch: batch(batch_size)?,
                g: with_lr(self.settings.g, lr_g),
                d: with_lr(self.settings.d, lr_d),
                d_steps: whole("the discriminator's steps per generator step", d_steps, 1.0, 10.0)?
                    as usize,
            };
            self.run.model().check(&s)?;
            Ok::<_, Error>(s)
        })();
        self.settings = settings.map_err(js_error)?;
        Ok(())
    }

    /// Takes `count` generator steps, each after the configured discriminator steps, and
    /// returns six numbers per step: the discriminator's loss and mean D(x) on the real batch,
    /// its loss and mean D(G(z)) on the fake one (before its update), and the generator's loss
    /// and mean D(G(z)) after it. A loss that is NaN or infinite ends the training with a
    /// TrainingDivergedError, which later calls repeat.
    pub async fn step(&mut self, count: f64) -> Result<Vec<f32>, JsValue> {
        let steps = steps(count).map_err(js_error)?;
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        run.train(gpu, steps, &self.settings).await.map_err(js_error)
    }

    /// Images from the generator in eval mode (as the exported weights draw them): one per
    /// class in `labels`, from `z` (`latent` numbers per image); pixels in [0, 1].
    pub async fn generate(&mut self, z: &[f32], labels: &[f64]) -> Result<Vec<f32>, JsValue> {
        finite("z", z).map_err(js_error)?;
        let labels = classes(labels).map_err(js_error)?;
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        run.generate(gpu, z, &labels).await.map_err(js_error)
    }

    /// The generator as `gan_generator_<data>.safetensors`.
    #[wasm_bindgen(js_name = exportGenerator)]
    pub async fn export_generator(&mut self) -> Result<Checkpoint, JsValue> {
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        let bytes = run.training.generator.checkpoint(gpu).await.map_err(js_error)?;
        Checkpoint::new(bytes).map_err(js_error)
    }

    /// The discriminator as `gan_discriminator_<data>.safetensors`.
    #[wasm_bindgen(js_name = exportDiscriminator)]
    pub async fn export_discriminator(&mut self) -> Result<Checkpoint, JsValue> {
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        let bytes = run.training.discriminator.checkpoint(gpu).await.map_err(js_error)?;
        Checkpoint::new(bytes).map_err(js_error)
    }
}

/// A VAE learning from scratch: `step` trains it; `encode` and `decode` show where it stands.
#[wasm_bindgen]
pub struct VaeTrainer {
    run: OnDevice<VaeRun>,
    settings: VaeSettings,
}

#[wasm_bindgen]
impl VaeTrainer {
    /// How many numbers a latent point has.
    #[wasm_bindgen(getter)]
    pub fn latent(&self) -> usize {
        self.run.model().training.vae.latent()
    }

    /// How many steps have been taken (0 again after a lost device).
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.run.model().steps()
    }

    /// The settings of the steps to come: batch size, learning rate and the KL weight beta
    /// (0 to 100).
    pub fn configure(&mut self, batch_size: f64, lr: f64, beta: f64) -> Result<(), JsValue> {
        let settings = (|| {
            let s = VaeSettings {
                batch: batch(batch_size)?,
                adam: with_lr(self.settings.adam, lr),
                beta: beta as f32,
            };
            self.run.model().check(&s)?;
            Ok::<_, Error>(s)
        })();
        self.settings = settings.map_err(js_error)?;
        Ok(())
    }

    /// Takes `count` steps and returns two numbers per step, per image: the reconstruction
    /// term (binary cross-entropy summed over the pixels) and beta times the KL term. A loss
    /// that is NaN or infinite ends the training with a TrainingDivergedError.
    pub async fn step(&mut self, count: f64) -> Result<Vec<f32>, JsValue> {
        let steps = steps(count).map_err(js_error)?;
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        run.train(gpu, steps, &self.settings).await.map_err(js_error)
    }

    /// Encodes `images` (784 values in [0, 1] each): the means of q(z | x), `latent` numbers
    /// per image, then their log-variances, as many again.
    pub async fn encode(&mut self, images: &[f32]) -> Result<Vec<f32>, JsValue> {
        finite("images", images).map_err(js_error)?;
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        let (mean, logvar) = run.training.vae.encode(gpu, images).map_err(js_error)?;
        let mut out = mean.read(gpu).await.map_err(js_error)?;
        out.extend(logvar.read(gpu).await.map_err(js_error)?);
        Ok(out)
    }

    /// Decodes latent points (`latent` numbers each) into pixel probabilities, 784 per point.
    pub async fn decode(&mut self, z: &[f32]) -> Result<Vec<f32>, JsValue> {
        finite("z", z).map_err(js_error)?;
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        let pixels = run.training.vae.decode(gpu, z).map_err(js_error)?;
        pixels.read(gpu).await.map_err(js_error)
    }

    /// The VAE as `vae2d_<data>.safetensors` (or `vae_<data>` for 16 numbers).
    pub async fn export(&mut self) -> Result<Checkpoint, JsValue> {
        let (gpu, run, _) = self.run.get().await.map_err(js_error)?;
        let bytes = run.training.vae.checkpoint(gpu).await.map_err(js_error)?;
        Checkpoint::new(bytes).map_err(js_error)
    }
}
