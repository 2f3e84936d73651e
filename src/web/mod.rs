//! The JavaScript face of the crate: thin wrappers that turn every `Err` into a JS exception.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::models::gan::{Discriminator, Generator};
use crate::models::nearest::NearestImages;
use crate::models::vae::{standard_normal, Vae};
use crate::ops::matmul::{matmul, matmul_ref, MatmulDims};
use crate::text::generation::MAX_LENGTH;
use crate::text::sampling::Sampling;
use crate::{Error, Gpu, Tensor};

#[cfg(feature = "bench")]
mod bench;
mod chat;
mod device;
mod diffusion;
mod gpt;
mod image_gpt;
mod train;

use device::{Device, OnDevice};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// `e` as a JavaScript `Error` whose `name` says its kind, so that the package can throw the
/// matching class of `npm/errors.js` (and code can tell a bad argument from a lost device).
pub(crate) fn js_error(e: Error) -> JsValue {
    let name = match &e {
        Error::Invalid(_) => "InvalidArgumentError",
        Error::Unsupported(_) => "UnsupportedModelError",
        Error::DeviceLost(_) | Error::NoAdapter(_) => "DeviceLostError",
        Error::OutOfMemory(_) | Error::TooLarge(_) => "OutOfMemoryError",
        Error::Diverged(_) => "TrainingDivergedError",
        Error::Gpu(_) => "GenaiLabError",
    };
    let error = js_sys::Error::new(&e.to_string());
    error.set_name(name);
    error.into()
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

/// Fails unless every number given is finite (a NaN latent would only come back as a blank image).
fn finite(name: &str, values: &[f32]) -> Result<(), Error> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => {
            Err(Error::Invalid(format!("{name}[{i}] is {}; numbers must be finite", values[i])))
        }
        None => Ok(()),
    }
}

/// A string from JavaScript. String parameters arrive as `JsValue` and are checked here:
/// wasm-bindgen's glue, handed a number where it expects a string, writes out of bounds.
pub(crate) fn string(name: &str, value: JsValue) -> Result<String, Error> {
    value.as_string().ok_or_else(|| Error::Invalid(format!("{name} must be a string")))
}

/// Class labels from JavaScript numbers, each a whole number from 0 to 9.
fn classes(labels: &[f64]) -> Result<Vec<u32>, Error> {
    labels.iter().map(|&c| whole("a class label", c, 0.0, 9.0).map(|c| c as u32)).collect()
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

/// The devices a Lab's models run on: the small models (GAN, VAEs, diffusion, GPT and their
/// trainers) on `device`, a WebGPU device with our kernels or the reference device (the same
/// models computed by plain Rust on the CPU); the chat model on `webgpu`, whenever there is one.
#[wasm_bindgen]
pub struct Lab {
    pub(crate) device: Device,
    pub(crate) webgpu: Option<Device>,
    no_gpu: Option<String>,
    reason: String,
}

/// A software adapter (such as SwiftShader): correct, but no measure of GPU speed.
/// Where `Lab::create` puts the small models.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    /// WebGPU on a hardware adapter; the CPU without WebGPU or on a software adapter.
    Auto,
    WebGpu,
    Cpu,
}

impl Backend {
    fn parse(value: JsValue) -> Result<Backend, Error> {
        if value.is_undefined() || value.is_null() {
            return Ok(Backend::Auto);
        }
        match value.as_string().as_deref() {
            Some("auto") => Ok(Backend::Auto),
            Some("webgpu") => Ok(Backend::WebGpu),
            Some("cpu") => Ok(Backend::Cpu),
            _ => Err(Error::Invalid(format!(
                "backend must be 'auto', 'webgpu' or 'cpu'; got {}",
                value.as_string().unwrap_or_else(|| format!("{value:?}"))
            ))),
        }
    }
}

/// Why a software adapter runs the small models on the CPU: measured on SwiftShader in Chromium,
/// where the reference device ran the GAN 2.9x, a GPT prefill 4.5x, a decode step 11x and the
/// diffusion tab's 16 samples 2.6x faster.
const SOFTWARE_ADAPTER: &str = "the WebGPU adapter is a software one, on which the CPU ran these \
    models 2.6 to 11 times faster; the chat model stays on WebGPU";

#[wasm_bindgen]
impl Lab {
    /// Acquires the devices for `backend` ('auto' when undefined, 'webgpu' or 'cpu'): with
    /// 'auto', a WebGPU device, on which the small models run unless the adapter is a software
    /// one (then they run on the CPU and only the chat model on WebGPU), or, without WebGPU, the
    /// reference device (see `noGpuReason`). 'webgpu' rejects where there is no WebGPU; 'cpu'
    /// acquires none. Otherwise rejects only when an adapter exists but refuses a device.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "'auto' | 'webgpu' | 'cpu' | undefined")]
        backend: JsValue,
    ) -> Result<Lab, JsValue> {
        let backend = Backend::parse(backend).map_err(js_error)?;
        let on_cpu = |no_gpu: Option<String>, webgpu: Option<Device>, reason: String| Lab {
            device: Device::new(Gpu::reference()),
            webgpu,
            no_gpu,
            reason,
        };
        if backend == Backend::Cpu {
            let why = "the CPU backend was asked for (createLab({ backend: 'cpu' }))".to_string();
            return Ok(on_cpu(Some(why.clone()), None, why));
        }
        let gpu = match Gpu::new().await {
            Ok(gpu) => gpu,
            Err(Error::NoAdapter(why)) if backend == Backend::Auto => {
                return Ok(on_cpu(Some(why.clone()), None, format!("no WebGPU: {why}")));
            }
            Err(Error::NoAdapter(why)) => {
                return Err(js_error(Error::Unsupported(format!(
                    "the WebGPU backend was asked for, and there is none: {why}"
                ))));
            }
            Err(e) => return Err(js_error(e)),
        };
        let webgpu = Device::new(gpu);
        if backend == Backend::Auto && webgpu.current().is_software() {
            return Ok(on_cpu(None, Some(webgpu), SOFTWARE_ADAPTER.into()));
        }
        let reason = match backend {
            Backend::Auto => "a WebGPU adapter".to_string(),
            _ => "the WebGPU backend was asked for (createLab({ backend: 'webgpu' }))".to_string(),
        };
        Ok(Lab { device: webgpu.clone(), webgpu: Some(webgpu), no_gpu: None, reason })
    }

    /// Where the small models run: "webgpu" or "cpu" (the reference device).
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        if self.device.current().is_reference() { "cpu" } else { "webgpu" }.into()
    }

    /// Why they run there, in a sentence.
    #[wasm_bindgen(getter, js_name = backendReason)]
    pub fn backend_reason(&self) -> String {
        self.reason.clone()
    }

    /// Why there is no WebGPU device (and so no chat model), when there is none; undefined
    /// otherwise.
    #[wasm_bindgen(getter, js_name = noGpuReason)]
    pub fn no_gpu_reason(&self) -> Option<String> {
        self.no_gpu.clone()
    }

    /// The devices in use now: the small models' and, when it is another, the chat model's.
    fn devices(&self) -> Vec<Rc<Gpu>> {
        let mut devices = vec![self.device.current()];
        if let Some(webgpu) = &self.webgpu {
            let gpu = webgpu.current();
            if !Rc::ptr_eq(&gpu, &devices[0]) {
                devices.push(gpu);
            }
        }
        devices
    }

    /// The WebGPU device, or the reference device where there is none.
    fn adapter_device(&self) -> Rc<Gpu> {
        self.webgpu.as_ref().unwrap_or(&self.device).current()
    }

    /// The first error the device reported (out of memory, device lost, a failed dispatch), or
    /// undefined while it works. The call that met the error threw it; the next call on a model
    /// makes a new device and loads that model onto it again.
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> Option<String> {
        self.devices().iter().find_map(|gpu| gpu.check().err()).map(|e| e.to_string())
    }

    /// Frees the device and every buffer on it now, as a lost device would: a call in progress
    /// fails with the loss, and the next call on a model makes a new device.
    pub fn destroy(&self) {
        self.devices().iter().for_each(|gpu| gpu.destroy());
    }

    /// How many GPU buffers (CPU arrays, without WebGPU) this Lab's models hold now.
    #[wasm_bindgen(getter, js_name = liveBuffers)]
    pub fn live_buffers(&self) -> f64 {
        self.devices().iter().map(|gpu| gpu.memory().buffers).sum::<u64>() as f64
    }

    /// Their bytes.
    #[wasm_bindgen(getter, js_name = liveBytes)]
    pub fn live_bytes(&self) -> f64 {
        self.devices().iter().map(|gpu| gpu.memory().bytes).sum::<u64>() as f64
    }

    /// The work the device has done since it was made (see `Stats`), as an object of counts:
    /// `dispatches`, `computePasses`, ... A new device after a failure starts again from zero.
    pub fn stats(&self) -> JsValue {
        let counts = js_sys::Object::new();
        let each: Vec<_> = self.devices().iter().map(|gpu| gpu.stats().fields()).collect();
        for (i, (name, _)) in each[0].into_iter().enumerate() {
            let value: u64 = each.iter().map(|fields| fields[i].1).sum();
            let _ = js_sys::Reflect::set(&counts, &name.into(), &(value as f64).into());
        }
        counts.into()
    }

    /// The adapter's description as the browser reports it (may be empty for privacy).
    #[wasm_bindgen(getter, js_name = adapterName)]
    pub fn adapter_name(&self) -> String {
        self.adapter_device().adapter().name.clone()
    }

    /// True for a software adapter (such as SwiftShader): correct, but no measure of GPU speed.
    #[wasm_bindgen(getter, js_name = isFallbackAdapter)]
    pub fn is_fallback_adapter(&self) -> bool {
        self.adapter_device().is_software()
    }

    /// Multiplies two 65 x 33 x 47 matrices on the GPU and on the CPU and returns the largest
    /// difference: proof that the kernels compile and compute on this adapter.
    #[wasm_bindgen(js_name = checkKernels)]
    pub async fn check_kernels(&self) -> Result<f64, JsValue> {
        let (a_shape, b_shape) = ([65, 33], [33, 47]);
        let a: Vec<f32> = (0..65 * 33).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let b: Vec<f32> = (0..33 * 47).map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0).collect();
        let gpu = &*self.adapter_device();
        let run = async {
            let dims = MatmulDims::new(&a_shape, &b_shape, false)?;
            let a_t = Tensor::from_slice(gpu, &a_shape, &a)?;
            let b_t = Tensor::from_slice(gpu, &b_shape, &b)?;
            let out = Tensor::full(gpu, &dims.out_shape(&a_shape), f32::NAN)?;
            matmul(gpu, &a_t, &b_t, None, false, &out)?;
            let got = out.read(gpu).await?;
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
        #[wasm_bindgen(unchecked_param_type = "string")] generator_card: JsValue,
        generator: &[u8],
        #[wasm_bindgen(unchecked_param_type = "string")] discriminator_card: JsValue,
        discriminator: &[u8],
    ) -> Result<Gan, JsValue> {
        let g_card = string("the generator card", generator_card).map_err(js_error)?;
        let d_card = string("the discriminator card", discriminator_card).map_err(js_error)?;
        let (g, d) = (generator.to_vec(), discriminator.to_vec());
        let nets = OnDevice::new(&self.device, move |gpu| {
            Ok((Generator::load(gpu, &g_card, &g)?, Discriminator::load(gpu, &d_card, &d)?))
        });
        Ok(Gan { nets: nets.map_err(|e| js_error(e.in_model_file()))? })
    }

    /// Stores `images` (consecutive images of `pixels` values each) on the GPU for searching.
    #[wasm_bindgen(js_name = imageIndex)]
    pub fn image_index(&self, images: &[f32], pixels: f64) -> Result<ImageIndex, JsValue> {
        let make = || {
            finite("images", images)?;
            let pixels = whole("pixels", pixels, 1.0, images.len().max(1) as f64)? as usize;
            let images = images.to_vec();
            OnDevice::new(&self.device, move |gpu| NearestImages::new(gpu, &images, pixels))
        };
        Ok(ImageIndex { index: make().map_err(js_error)? })
    }

    /// Loads a VAE from its model card (JSON text) and checkpoint (safetensors bytes), as
    /// `www/models/vae_<data>.*` and `vae2d_<data>.*` hold them.
    #[wasm_bindgen(js_name = loadVae)]
    pub fn load_vae(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] card: JsValue,
        weights: &[u8],
    ) -> Result<VaeModel, JsValue> {
        Ok(VaeModel { vae: self.load_card_model(card, weights, Vae::load)? })
    }
}

impl Lab {
    /// A model loaded by `load` from its card (JSON text) and weights onto the Lab's device,
    /// keeping both to load it again onto a new device after a failure.
    fn load_card_model<M: 'static>(
        &self,
        card: JsValue,
        weights: &[u8],
        load: fn(&Gpu, &str, &[u8]) -> Result<M, Error>,
    ) -> Result<OnDevice<M>, JsValue> {
        let (card, weights) = (string("the card", card).map_err(js_error)?, weights.to_vec());
        OnDevice::new(&self.device, move |gpu| load(gpu, &card, &weights))
            .map_err(|e| js_error(e.in_model_file()))
    }
}

/// Stored images searched on the GPU for the one nearest to a query ("is it a copy?").
#[wasm_bindgen]
pub struct ImageIndex {
    index: OnDevice<NearestImages>,
}

#[wasm_bindgen]
impl ImageIndex {
    /// The stored image nearest to `query` (one image, pixels as stored), by Euclidean
    /// distance: `[index, distance]`.
    pub async fn nearest(&mut self, query: &[f32]) -> Result<Vec<f64>, JsValue> {
        finite("query", query).map_err(js_error)?;
        let (gpu, index, _) = self.index.get().await.map_err(js_error)?;
        let found = index.nearest(gpu, query).await.map_err(js_error)?;
        Ok(vec![found.index as f64, found.distance as f64])
    }
}

/// A conditional GAN on the GPU: the generator and the discriminator that judges its images.
#[wasm_bindgen]
pub struct Gan {
    nets: OnDevice<(Generator, Discriminator)>,
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
        self.nets.model().0.latent()
    }

    /// Generates one image per class in `labels` (0..9) from `z` (`latent` numbers per image,
    /// standard normal) and scores each with the discriminator.
    pub async fn generate(&mut self, z: &[f32], labels: &[f64]) -> Result<GanOutput, JsValue> {
        finite("z", z).map_err(js_error)?;
        let labels = classes(labels).map_err(js_error)?;
        let (gpu, (generator, discriminator), _) = self.nets.get().await.map_err(js_error)?;
        let images = generator.forward(gpu, z, &labels).map_err(js_error)?;
        let scores = discriminator.probabilities(gpu, images, &labels).await.map_err(js_error)?;
        let pixels = images.read(gpu).await.map_err(js_error)?;
        Ok(GanOutput { pixels: pixels.iter().map(|x| (x + 1.0) / 2.0).collect(), scores })
    }
}

/// A variational autoencoder on the GPU.
#[wasm_bindgen(js_name = Vae)]
pub struct VaeModel {
    vae: OnDevice<Vae>,
}

#[wasm_bindgen(js_class = Vae)]
impl VaeModel {
    /// How many numbers a latent point has.
    #[wasm_bindgen(getter)]
    pub fn latent(&self) -> usize {
        self.vae.model().latent()
    }

    /// Encodes `n` images (28 x 28 pixels in [0, 1] each, 0 the background): the means of
    /// q(z | x), `n * latent` numbers, then their log-variances, as many again.
    pub async fn encode(&mut self, images: &[f32]) -> Result<Vec<f32>, JsValue> {
        finite("images", images).map_err(js_error)?;
        let (gpu, vae, _) = self.vae.get().await.map_err(js_error)?;
        let (mean, logvar) = vae.encode(gpu, images).map_err(js_error)?;
        let mut out = mean.read(gpu).await.map_err(js_error)?;
        out.extend(logvar.read(gpu).await.map_err(js_error)?);
        Ok(out)
    }

    /// Decodes latent points (`latent` numbers each) into pixel probabilities, 784 per point.
    pub async fn decode(&mut self, z: &[f32]) -> Result<Vec<f32>, JsValue> {
        finite("z", z).map_err(js_error)?;
        let (gpu, vae, _) = self.vae.get().await.map_err(js_error)?;
        let pixels = vae.decode(gpu, z).map_err(js_error)?;
        pixels.read(gpu).await.map_err(js_error)
    }

    /// `n * latent` standard normal numbers from `seed`: the same seed, the same numbers (for
    /// sampling the prior, or the reparameterisation trick's noise).
    #[wasm_bindgen(js_name = standardNormal)]
    pub fn standard_normal(&self, n: f64, seed: f64) -> Result<Vec<f32>, JsValue> {
        let n = whole("the number of points", n, 1.0, 1e5).map_err(js_error)?;
        let seed = whole("the seed", seed, 0.0, 2f64.powi(53)).map_err(js_error)?;
        Ok(standard_normal(seed, n as usize * self.vae.model().latent()))
    }
}
