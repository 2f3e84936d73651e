//! The JavaScript face of the crate: thin wrappers that turn every `Err` into a JS exception.

use wasm_bindgen::prelude::*;

use std::rc::Rc;

use crate::models::gan::{Discriminator, Generator};
use crate::models::nearest::NearestImages;
use crate::models::vae::{standard_normal, Vae};
use crate::ops::matmul::{matmul, matmul_ref, MatmulDims};
use crate::text::generation::MAX_LENGTH;
use crate::text::sampling::Sampling;
use crate::{Error, Gpu, Tensor};

mod bench;
mod chat;
mod gpt;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

pub(crate) fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Text generation settings from JavaScript numbers, each checked, so that NaN, fractions and
/// negative counts are refused with a message rather than wrapped or truncated.
pub(crate) struct Settings {
    pub sampling: Sampling,
    pub seed: u64,
    pub length: usize,
}

impl Settings {
    pub fn new(
        temperature: f64,
        top_k: f64,
        top_p: f64,
        seed: f64,
        length: f64,
        vocab: usize,
    ) -> Result<Settings, Error> {
        let top_k = whole("top-k", top_k, 0.0, vocab as f64)? as usize;
        Ok(Settings {
            sampling: Sampling { temperature: temperature as f32, top_k, top_p: top_p as f32 },
            seed: whole("the seed", seed, 0.0, 2f64.powi(53))?,
            length: whole("the length", length, 1.0, MAX_LENGTH as f64)? as usize,
        })
    }
}

/// A whole number from JavaScript in `min..=max`, or an error that names it.
fn whole(name: &str, value: f64, min: f64, max: f64) -> Result<u64, Error> {
    if value.fract() != 0.0 || !(min..=max).contains(&value) {
        return Err(Error::Invalid(format!(
            "{name} must be a whole number from {min} to {max}; got {value}"
        )));
    }
    Ok(value as u64)
}

/// A WebGPU device with our kernels compiled for it.
#[wasm_bindgen]
pub struct Lab {
    pub(crate) gpu: Rc<Gpu>,
}

#[wasm_bindgen]
impl Lab {
    /// Acquires a WebGPU adapter and device; rejects with a readable reason when there is none.
    pub async fn create() -> Result<Lab, JsError> {
        Ok(Lab { gpu: Rc::new(Gpu::new().await.map_err(js_error)?) })
    }

    /// The adapter's description as the browser reports it (may be empty for privacy).
    #[wasm_bindgen(getter, js_name = adapterName)]
    pub fn adapter_name(&self) -> String {
        self.gpu.adapter().name.clone()
    }

    /// True for a software adapter (such as SwiftShader): correct, but no measure of GPU speed.
    #[wasm_bindgen(getter, js_name = isFallbackAdapter)]
    pub fn is_fallback_adapter(&self) -> bool {
        self.gpu.adapter().device_type == "Cpu"
    }

    /// Multiplies two 65 x 33 x 47 matrices on the GPU and on the CPU and returns the largest
    /// difference: proof that the kernels compile and compute on this adapter.
    #[wasm_bindgen(js_name = checkKernels)]
    pub async fn check_kernels(&self) -> Result<f64, JsError> {
        let (a_shape, b_shape) = ([65, 33], [33, 47]);
        let a: Vec<f32> = (0..65 * 33).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let b: Vec<f32> = (0..33 * 47).map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0).collect();
        let run = async {
            let dims = MatmulDims::new(&a_shape, &b_shape, false)?;
            let a_t = Tensor::from_slice(&self.gpu, &a_shape, &a)?;
            let b_t = Tensor::from_slice(&self.gpu, &b_shape, &b)?;
            let out = Tensor::full(&self.gpu, &dims.out_shape(&a_shape), f32::NAN)?;
            matmul(&self.gpu, &a_t, &b_t, None, false, &out)?;
            let got = out.read(&self.gpu).await?;
            let want = matmul_ref(&dims, &a, &b, None);
            // NaN (an unwritten element) must not hide: fold it into an infinite error.
            Ok::<f64, crate::Error>(got.iter().zip(&want).fold(0.0f64, |worst, (g, w)| {
                let err = (g - w).abs() as f64;
                if err.is_nan() {
                    f64::INFINITY
                } else {
                    worst.max(err)
                }
            }))
        };
        run.await.map_err(js_error)
    }

    /// Loads a conditional GAN from its model cards (JSON text) and checkpoints (safetensors
    /// bytes), as `www/models/gan_{generator,discriminator}_<data>.*` hold them.
    #[wasm_bindgen(js_name = loadGan)]
    pub fn load_gan(
        &self,
        generator_card: &str,
        generator: &[u8],
        discriminator_card: &str,
        discriminator: &[u8],
    ) -> Result<Gan, JsError> {
        Ok(Gan {
            gpu: self.gpu.clone(),
            generator: Generator::load(&self.gpu, generator_card, generator).map_err(js_error)?,
            discriminator: Discriminator::load(&self.gpu, discriminator_card, discriminator)
                .map_err(js_error)?,
        })
    }

    /// Stores `images` (consecutive images of `pixels` values each) on the GPU for searching.
    #[wasm_bindgen(js_name = imageIndex)]
    pub fn image_index(&self, images: &[f32], pixels: usize) -> Result<ImageIndex, JsError> {
        let index = NearestImages::new(&self.gpu, images, pixels).map_err(js_error)?;
        Ok(ImageIndex { gpu: self.gpu.clone(), index })
    }

    /// Loads a VAE from its model card (JSON text) and checkpoint (safetensors bytes), as
    /// `www/models/vae_<data>.*` and `vae2d_<data>.*` hold them.
    #[wasm_bindgen(js_name = loadVae)]
    pub fn load_vae(&self, card: &str, weights: &[u8]) -> Result<VaeModel, JsError> {
        let vae = Vae::load(&self.gpu, card, weights).map_err(js_error)?;
        Ok(VaeModel { gpu: self.gpu.clone(), vae })
    }
}

/// Stored images searched on the GPU for the one nearest to a query ("is it a copy?").
#[wasm_bindgen]
pub struct ImageIndex {
    gpu: Rc<Gpu>,
    index: NearestImages,
}

#[wasm_bindgen]
impl ImageIndex {
    /// The stored image nearest to `query` (one image, pixels as stored), by Euclidean
    /// distance: `[index, distance]`.
    pub async fn nearest(&self, query: &[f32]) -> Result<Vec<f64>, JsError> {
        let found = self.index.nearest(&self.gpu, query).await.map_err(js_error)?;
        Ok(vec![found.index as f64, found.distance as f64])
    }
}

/// A conditional GAN on the GPU: the generator and the discriminator that judges its images.
#[wasm_bindgen]
pub struct Gan {
    gpu: Rc<Gpu>,
    generator: Generator,
    discriminator: Discriminator,
}

/// Images and the discriminator's verdict on each.
#[wasm_bindgen]
pub struct GanOutput {
    pixels: Vec<f32>,
    scores: Vec<f32>,
}

#[wasm_bindgen]
impl GanOutput {
    /// `n` images of 28 x 28 pixels, row-major, in [0, 1] (0 is the background).
    #[wasm_bindgen(getter)]
    pub fn pixels(&self) -> Vec<f32> {
        self.pixels.clone()
    }

    /// The discriminator's probability that each image is real.
    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f32> {
        self.scores.clone()
    }
}

#[wasm_bindgen]
impl Gan {
    /// How many random numbers each image is made from.
    #[wasm_bindgen(getter)]
    pub fn latent(&self) -> usize {
        self.generator.latent()
    }

    /// Generates one image per class in `labels` (0..9) from `z` (`latent` numbers per image,
    /// standard normal) and scores each with the discriminator.
    pub async fn generate(&mut self, z: &[f32], labels: &[u32]) -> Result<GanOutput, JsError> {
        let gpu = &self.gpu;
        let images = self.generator.forward(gpu, z, labels).map_err(js_error)?;
        let scores =
            self.discriminator.probabilities(gpu, images, labels).await.map_err(js_error)?;
        let pixels = images.read(gpu).await.map_err(js_error)?;
        Ok(GanOutput { pixels: pixels.iter().map(|x| (x + 1.0) / 2.0).collect(), scores })
    }
}

/// A variational autoencoder on the GPU.
#[wasm_bindgen(js_name = Vae)]
pub struct VaeModel {
    gpu: Rc<Gpu>,
    vae: Vae,
}

#[wasm_bindgen(js_class = Vae)]
impl VaeModel {
    /// How many numbers a latent point has.
    #[wasm_bindgen(getter)]
    pub fn latent(&self) -> usize {
        self.vae.latent()
    }

    /// Encodes `n` images (28 x 28 pixels in [0, 1] each, 0 the background): the means of
    /// q(z | x), `n * latent` numbers, then their log-variances, as many again.
    pub async fn encode(&mut self, images: &[f32]) -> Result<Vec<f32>, JsError> {
        let gpu = &self.gpu;
        let (mean, logvar) = self.vae.encode(gpu, images).map_err(js_error)?;
        let mut out = mean.read(gpu).await.map_err(js_error)?;
        out.extend(logvar.read(gpu).await.map_err(js_error)?);
        Ok(out)
    }

    /// Decodes latent points (`latent` numbers each) into pixel probabilities, 784 per point.
    pub async fn decode(&mut self, z: &[f32]) -> Result<Vec<f32>, JsError> {
        let pixels = self.vae.decode(&self.gpu, z).map_err(js_error)?;
        pixels.read(&self.gpu).await.map_err(js_error)
    }

    /// `n * latent` standard normal numbers from `seed`: the same seed, the same numbers (for
    /// sampling the prior, or the reparameterisation trick's noise).
    #[wasm_bindgen(js_name = standardNormal)]
    pub fn standard_normal(&self, n: usize, seed: u32) -> Vec<f32> {
        standard_normal(seed as u64, n * self.vae.latent())
    }
}
