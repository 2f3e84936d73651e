//! The image GPT for JavaScript: start an image of a class, then ask for one code at a time,
//! each with the model's probabilities for it and the picture as it stands.

use wasm_bindgen::prelude::*;

use super::device::OnDevice;
use super::{js_error, string, whole, Lab, Settings};
use crate::models::image_gpt::{ImageGpt, CODES_PER_IMAGE};
use crate::models::vqvae::GRID;
use crate::text::generation::{Generation, Step};
use crate::Error;

#[wasm_bindgen]
impl Lab {
    /// Loads the image GPT from its model card and checkpoint (`www/models/imagegpt_<data>.*`)
    /// and the VQ-VAE whose codes it writes (`www/models/vqvae_<data>.*`).
    #[wasm_bindgen(js_name = loadImageGpt)]
    pub fn load_image_gpt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] gpt_card: JsValue,
        gpt_weights: &[u8],
        #[wasm_bindgen(unchecked_param_type = "string")] vq_card: JsValue,
        vq_weights: &[u8],
    ) -> Result<ImageGptModel, JsValue> {
        let (gpt_card, vq_card) =
            (string("the GPT card", gpt_card), string("the VQ-VAE card", vq_card));
        let (gpt_card, vq_card) = (gpt_card.map_err(js_error)?, vq_card.map_err(js_error)?);
        let (gpt_weights, vq_weights) = (gpt_weights.to_vec(), vq_weights.to_vec());
        let model = OnDevice::new(&self.device, move |gpu| {
            ImageGpt::load(gpu, (&gpt_card, &gpt_weights), (&vq_card, &vq_weights))
        })
        .map_err(|e| js_error(e.in_model_file()))?;
        Ok(ImageGptModel { model, generation: None, codes: Vec::new() })
    }
}

/// A class-conditional image GPT on the GPU, and the image it is writing.
#[wasm_bindgen(js_name = ImageGpt)]
pub struct ImageGptModel {
    model: OnDevice<ImageGpt>,
    generation: Option<Generation>,
    /// The codes written so far.
    codes: Vec<u32>,
}

#[wasm_bindgen(js_class = ImageGpt)]
impl ImageGptModel {
    /// How many codes the codebook holds: the model's vocabulary of patches.
    #[wasm_bindgen(getter)]
    pub fn codes(&self) -> usize {
        self.model.model().vqvae().codes()
    }

    /// The side of the code grid (7): an image is `grid * grid` codes, written row by row.
    #[wasm_bindgen(getter)]
    pub fn grid(&self) -> usize {
        GRID
    }

    /// The class names, in class order.
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> Vec<String> {
        self.model.model().classes()
    }

    /// What each code looks like: `[codes, 4, 4]` pixels in [0, 1], the middle patch of an
    /// image decoded from that code alone (a code's look also depends on its neighbours).
    pub async fn patches(&mut self) -> Result<Vec<f32>, JsValue> {
        let (gpu, model, reloaded) = self.model.get().await.map_err(js_error)?;
        if let (true, Some(generation)) = (reloaded, self.generation.as_mut()) {
            generation.caches_lost();
        }
        Ok(model.looks(gpu).await.map_err(js_error)?.patches.clone())
    }

    /// Starts an image of class `label`. Temperature 0 is greedy; `top_k` 0 keeps every code;
    /// the same seed gives the same image. Throws for settings out of range.
    pub fn start(
        &mut self,
        label: f64,
        temperature: f64,
        top_k: f64,
        top_p: f64,
        seed: f64,
    ) -> Result<(), JsValue> {
        self.generation = None;
        self.codes.clear();
        let model = self.model.model();
        let classes = model.classes().len();
        let started = (|| {
            let length = CODES_PER_IMAGE as f64;
            let s = Settings::new(temperature, top_k, top_p, seed, length, self.codes())?;
            let class = whole("the class", label, 0.0, classes as f64 - 1.0)? as usize;
            model.start(class, s.sampling, s.seed)
        })();
        self.generation = Some(started.map_err(js_error)?);
        Ok(())
    }

    /// Writes the next code of the image `start` began.
    pub async fn step(&mut self) -> Result<ImageGptStep, JsValue> {
        let generation = self.generation.as_mut().ok_or_else(|| {
            js_error(Error::Invalid("no image in progress: call start() first".into()))
        })?;
        let (gpu, model, reloaded) = self.model.get().await.map_err(js_error)?;
        if reloaded {
            generation.caches_lost();
        }
        let step = model.step(gpu, generation).await.map_err(js_error)?;
        self.codes.push(step.id);
        let pixels = model.draw(gpu, &self.codes).await.map_err(js_error)?;
        Ok(ImageGptStep { position: self.codes.len() - 1, pixels, step })
    }
}

/// One written code, with the model's probabilities for it and the picture so far.
#[wasm_bindgen]
pub struct ImageGptStep {
    position: usize,
    pixels: Vec<f32>,
    step: Step,
}

#[wasm_bindgen]
impl ImageGptStep {
    /// The new code: an index into the codebook (`patches`).
    #[wasm_bindgen(getter)]
    pub fn code(&self) -> u32 {
        self.step.id
    }

    /// Where it goes: `position = row * grid + column`.
    #[wasm_bindgen(getter)]
    pub fn position(&self) -> usize {
        self.position
    }

    /// The model's probabilities (temperature 1) for every code at this position.
    #[wasm_bindgen(getter)]
    pub fn probabilities(&self) -> Vec<f32> {
        self.step.probabilities.clone()
    }

    /// The image so far, 28 x 28 pixels in [0, 1]: the codes written, the rest background.
    #[wasm_bindgen(getter)]
    pub fn pixels(&self) -> Vec<f32> {
        self.pixels.clone()
    }

    /// Codes still to write after this one.
    #[wasm_bindgen(getter)]
    pub fn remaining(&self) -> usize {
        self.step.remaining
    }
}
