//! The diffusion model for JavaScript: start a sampling run (from noise, or from an image noised
//! to a step), then run it one step at a time, reading back only the images asked for.

use wasm_bindgen::prelude::*;

use super::device::OnDevice;
use super::{finite, js_error, string, whole, Lab};
use crate::models::diffusion::{
    noised, signal_to_noise, SampleOptions, Sampler, SamplingRun, UNet, NO_CLASS, T,
};
use crate::rng::Rng;
use crate::{Error, Gpu};

const PIXELS: usize = 28 * 28;

#[wasm_bindgen]
impl Lab {
    /// Loads a diffusion U-Net from its model card (JSON text) and checkpoint (safetensors
    /// bytes), as `www/models/diffusion_<data>.*` hold them.
    #[wasm_bindgen(js_name = loadDiffusion)]
    pub fn load_diffusion(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] card: JsValue,
        weights: &[u8],
    ) -> Result<DiffusionModel, JsValue> {
        Ok(DiffusionModel { unet: self.load_card_model(card, weights, UNet::load)?, run: None })
    }
}

type Restart = Box<dyn Fn(&Gpu) -> Result<SamplingRun, Error>>;

/// A run in progress, and how to begin it again on a new device.
struct Run {
    sampling: SamplingRun,
    restart: Restart,
}

/// A class-conditional diffusion model on the GPU, and the sampling run it is making.
#[wasm_bindgen(js_name = Diffusion)]
pub struct DiffusionModel {
    unet: OnDevice<UNet>,
    run: Option<Run>,
}

fn options(
    labels: &[f64],
    steps: f64,
    guidance: f64,
    sampler: JsValue,
    seed: f64,
) -> Result<SampleOptions, Error> {
    let labels = labels
        .iter()
        .map(|&c| whole("a class label (10: none)", c, 0.0, NO_CLASS as f64).map(|c| c as u32))
        .collect::<Result<_, _>>()?;
    let sampler = match string("the sampler", sampler)?.as_str() {
        "ddim" => Sampler::Ddim,
        "ancestral" => Sampler::Ancestral,
        other => {
            return Err(Error::Invalid(format!(
                "the sampler must be 'ddim' or 'ancestral'; got '{other}'"
            )))
        }
    };
    Ok(SampleOptions {
        labels,
        steps: whole("the number of steps", steps, 1.0, T as f64)? as usize,
        guidance: guidance as f32,
        sampler,
        seed: whole("the seed", seed, 0.0, 2f64.powi(53))?,
    })
}

#[wasm_bindgen(js_class = Diffusion)]
impl DiffusionModel {
    /// The number of steps of the training schedule: noise levels are 0 (clean) to this - 1.
    #[wasm_bindgen(getter)]
    pub fn schedule(&self) -> usize {
        T
    }

    /// Starts a run from pure noise (from `seed`): one image per label (0..9, or 10 for none),
    /// `steps` steps, guidance scale `guidance`, sampler 'ddim' or 'ancestral'.
    pub fn start(
        &mut self,
        labels: &[f64],
        steps: f64,
        guidance: f64,
        sampler: JsValue,
        seed: f64,
    ) -> Result<(), JsValue> {
        self.run = None;
        let options = options(labels, steps, guidance, sampler, seed).map_err(js_error)?;
        self.begin(move |gpu| SamplingRun::new(gpu, options.clone()))
    }

    /// Starts a run from `images` (784 values in [0, 1] per label) noised to step `t`: the
    /// reverse process from there ("denoise from here").
    #[wasm_bindgen(js_name = startFrom)]
    #[allow(clippy::too_many_arguments)]
    pub fn start_from(
        &mut self,
        images: &[f32],
        t: f64,
        labels: &[f64],
        steps: f64,
        guidance: f64,
        sampler: JsValue,
        seed: f64,
    ) -> Result<(), JsValue> {
        self.run = None;
        let made = (|| {
            finite("images", images)?;
            let t = whole("the noise level t", t, 0.0, (T - 1) as f64)? as usize;
            Ok::<_, Error>((options(labels, steps, guidance, sampler, seed)?, t))
        })();
        let (options, t) = made.map_err(js_error)?;
        let images = images.to_vec();
        self.begin(move |gpu| SamplingRun::from_images(gpu, options.clone(), &images, t))
    }

    fn begin(
        &mut self,
        start: impl Fn(&Gpu) -> Result<SamplingRun, Error> + 'static,
    ) -> Result<(), JsValue> {
        let sampling = start(self.unet.gpu()).map_err(js_error)?;
        self.run = Some(Run { sampling, restart: Box::new(start) });
        Ok(())
    }

    /// The steps the run visits, from the noisiest.
    #[wasm_bindgen(getter)]
    pub fn timesteps(&self) -> Vec<u32> {
        self.run
            .as_ref()
            .map_or(Vec::new(), |r| r.sampling.timesteps().iter().map(|&t| t as u32).collect())
    }

    /// Runs the next step of the run and reads back images `first..first + count` of its input
    /// x_t and of the model's predicted clean image (none when `count` is 0). Returns undefined
    /// once the run is over. A lost device starts the run again from its first step.
    pub async fn step(&mut self, first: f64, count: f64) -> Result<Option<DiffusionStep>, JsValue> {
        let run = self.run.as_mut().ok_or_else(no_run)?;
        let n = run.sampling.options().labels.len();
        let first = whole("the first image", first, 0.0, n as f64).map_err(js_error)? as usize;
        let count = whole("the number of images", count, 0.0, (n - first) as f64)
            .map_err(js_error)? as usize;
        let (gpu, unet, reloaded) = self.unet.get().await.map_err(js_error)?;
        if reloaded {
            run.sampling = (run.restart)(gpu).map_err(js_error)?;
        }
        let (index, steps) = (run.sampling.steps_done(), run.sampling.timesteps().len());
        let Some(step) = run.sampling.step(gpu, unet).map_err(js_error)? else {
            return Ok(None);
        };
        let t = step.t;
        let range = first * PIXELS..(first + count) * PIXELS;
        let (noisy, predicted) = if count == 0 {
            (Vec::new(), Vec::new())
        } else {
            let noisy = step.x.read_range(gpu, range.clone()).await.map_err(js_error)?;
            (noisy, step.x0.read_range(gpu, range).await.map_err(js_error)?)
        };
        Ok(Some(DiffusionStep {
            t,
            index,
            steps,
            noisy: to_pixels(&noisy),
            predicted: to_pixels(&predicted),
        }))
    }

    /// The run's images as they stand (after its last step: the samples), 784 values in [0, 1]
    /// per label.
    pub async fn images(&mut self) -> Result<Vec<f32>, JsValue> {
        let run = self.run.as_ref().ok_or_else(no_run)?;
        let n = run.sampling.options().labels.len();
        let x = run
            .sampling
            .images()
            .read_range(self.unet.gpu(), 0..n * PIXELS)
            .await
            .map_err(js_error)?;
        Ok(x.iter().map(|v| ((v + 1.0) / 2.0).clamp(0.0, 1.0)).collect())
    }

    /// The forward process: `images` (784 values in [0, 1] each) noised to step `t` with noise
    /// from `seed`, in the same [0, 1] scale (noisy values fall outside it).
    pub fn noised(&self, images: &[f32], t: f64, seed: f64) -> Result<Vec<f32>, JsValue> {
        let made = (|| {
            finite("images", images)?;
            if images.is_empty() || !images.len().is_multiple_of(PIXELS) {
                return Err(Error::Invalid(format!(
                    "{} values are not whole 28 x 28 images",
                    images.len()
                )));
            }
            let t = whole("the noise level t", t, 0.0, (T - 1) as f64)? as usize;
            let mut rng = Rng::new(whole("the seed", seed, 0.0, 2f64.powi(53))?);
            let eps: Vec<f32> = (0..images.len()).map(|_| rng.normal() as f32).collect();
            let scaled: Vec<f32> = images.iter().map(|v| v * 2.0 - 1.0).collect();
            Ok(noised(&scaled, t, &eps).iter().map(|v| (v + 1.0) / 2.0).collect())
        })();
        made.map_err(js_error)
    }

    /// abar / (1 - abar) at step `t`: how much signal the noise leaves.
    #[wasm_bindgen(js_name = signalToNoise)]
    pub fn signal_to_noise(&self, t: f64) -> Result<f64, JsValue> {
        let t = whole("the noise level t", t, 0.0, (T - 1) as f64).map_err(js_error)?;
        Ok(signal_to_noise(t as usize))
    }
}

/// The error of a call that needs a run before `start` made one.
fn no_run() -> JsValue {
    js_error(Error::Invalid("no run in progress: call start() first".into()))
}

/// [-1, 1] images as [0, 1] pixel values, unclamped (a noisy image strays outside).
fn to_pixels(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| (v + 1.0) / 2.0).collect()
}

/// One step of a run: the image it started from and the model's guess of the clean image.
#[wasm_bindgen]
pub struct DiffusionStep {
    t: usize,
    index: usize,
    steps: usize,
    noisy: Vec<f32>,
    predicted: Vec<f32>,
}

#[wasm_bindgen]
impl DiffusionStep {
    /// The noise level this step started from (T - 1: pure noise).
    #[wasm_bindgen(getter)]
    pub fn t(&self) -> usize {
        self.t
    }

    /// Which step of the run this was, from 0.
    #[wasm_bindgen(getter)]
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many steps the run has.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// x_t of the images asked for, 784 values each on the [0, 1] scale (not clamped).
    #[wasm_bindgen(getter)]
    pub fn noisy(&self) -> Vec<f32> {
        self.noisy.clone()
    }

    /// The predicted clean images, 784 values in [0, 1] each.
    #[wasm_bindgen(getter)]
    pub fn predicted(&self) -> Vec<f32> {
        self.predicted.clone()
    }
}
