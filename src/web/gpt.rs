//! The character GPT for JavaScript: start a generation, then ask for one character at a time,
//! each with the probabilities and attention weights the page draws.

use wasm_bindgen::prelude::*;

use super::device::OnDevice;
use super::{js_error, string, Lab, Settings};
use crate::models::gpt::Gpt;
use crate::models::{LanguageModel, Watch};
use crate::text::chars::CharTokenizer;
use crate::text::generation::{Generation, Step};
use crate::Error;

#[wasm_bindgen]
impl Lab {
    /// Loads the character GPT from its model card (JSON text, whose vocabulary is the
    /// tokenizer) and checkpoint (safetensors bytes), as `www/models/gpt_shakespeare.*` hold them.
    #[wasm_bindgen(js_name = loadGpt)]
    pub fn load_gpt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] card: JsValue,
        weights: &[u8],
    ) -> Result<GptModel, JsValue> {
        let gpt = self.load_card_model(card, weights, Gpt::load)?;
        let tokenizer =
            CharTokenizer::new(gpt.model().vocab()).map_err(|e| js_error(e.in_model_file()))?;
        Ok(GptModel { gpt, tokenizer, generation: None, watch: Watch::NOTHING })
    }
}

/// A character-level GPT on the GPU, and the generation it is writing.
#[wasm_bindgen(js_name = Gpt)]
pub struct GptModel {
    gpt: OnDevice<Gpt>,
    tokenizer: CharTokenizer,
    generation: Option<Generation>,
    /// What the generation's steps read back besides the next token.
    watch: Watch,
}

#[wasm_bindgen(js_class = Gpt)]
impl GptModel {
    /// The characters the model knows, indexed by token id.
    #[wasm_bindgen(getter)]
    pub fn vocab(&self) -> Vec<String> {
        self.gpt.model().vocab().to_vec()
    }

    /// How many characters the model reads at most.
    #[wasm_bindgen(getter, js_name = blockSize)]
    pub fn block_size(&self) -> usize {
        self.gpt.model().context()
    }

    #[wasm_bindgen(getter)]
    pub fn layers(&self) -> usize {
        self.gpt.model().n_layer()
    }

    #[wasm_bindgen(getter)]
    pub fn heads(&self) -> usize {
        self.gpt.model().n_head()
    }

    /// Starts writing `length` characters after `prompt`. Temperature 0 is greedy; `top_k` 0
    /// keeps every character; the same seed gives the same text. With `attention`, each step
    /// also reads back its attention scores (and makes the weights from them, for a heatmap),
    /// with `lens` its logit lens; without, they are not kept.
    /// Throws for characters the model does not know and for settings out of range.
    // JavaScript passes them by position; the package's `generate` names them.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] prompt: JsValue,
        temperature: f64,
        top_k: f64,
        top_p: f64,
        seed: f64,
        length: f64,
        attention: bool,
        lens: bool,
    ) -> Result<(), JsValue> {
        self.generation = None;
        self.watch = Watch { attention, lens };
        let vocab = self.gpt.model().vocab_size();
        let started = (|| {
            let s = Settings::new(temperature, top_k, top_p, seed, length, vocab)?;
            let ids = self.tokenizer.encode(&string("the prompt", prompt)?)?;
            Generation::new(self.gpt.model(), &ids, s.sampling, s.seed, s.length)
        })();
        self.generation = Some(started.map_err(js_error)?);
        Ok(())
    }

    /// Writes the next character of the generation `start` began.
    pub async fn step(&mut self) -> Result<GptStep, JsValue> {
        let generation = self.generation.as_mut().ok_or_else(|| {
            js_error(Error::Invalid("no generation in progress: call start() first".into()))
        })?;
        let (gpu, gpt, reloaded) = self.gpt.get().await.map_err(js_error)?;
        if reloaded {
            generation.caches_lost();
        }
        let step = generation.step(gpu, gpt, self.watch).await.map_err(js_error)?;
        let text = self.tokenizer.decode(&[step.id]).map_err(js_error)?;
        Ok(GptStep { text, step })
    }
}

/// One written character, with what the model saw when it chose it.
#[wasm_bindgen]
pub struct GptStep {
    text: String,
    step: Step,
}

#[wasm_bindgen]
impl GptStep {
    /// The new character.
    #[wasm_bindgen(getter)]
    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// The new character's token id: its index in `vocab`.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> u32 {
        self.step.id
    }

    /// The model's next-character probabilities (temperature 1), indexed by token id.
    #[wasm_bindgen(getter)]
    pub fn probabilities(&self) -> Vec<f32> {
        self.step.probabilities.clone()
    }

    /// How many characters the model read: the last `window` of the text before this one.
    #[wasm_bindgen(getter)]
    pub fn window(&self) -> usize {
        self.step.window
    }

    /// How many query rows `attention` holds: the last `rows` characters of the window (0
    /// unless the generation was started with `attention`).
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.step.rows
    }

    /// Attention weights `[layers, heads, rows, blockSize]`: row r is the query at window
    /// position `window - rows + r`, its entry j the weight on window character j.
    #[wasm_bindgen(getter)]
    pub fn attention(&self) -> Vec<f32> {
        self.step.attention.clone()
    }

    /// The raw scores q.k / sqrt(head size) that `attention` is the softmax of, in its layout
    /// (0 after the query).
    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f32> {
        self.step.scores.clone()
    }

    /// With `lens`: the next-character probabilities read out of the residual stream at the
    /// last position, `[2 layers + 1, vocab]`: after the embedding, then after each block's
    /// attention and after its MLP (the last row is `probabilities`); empty without.
    #[wasm_bindgen(getter)]
    pub fn lens(&self) -> Vec<f32> {
        self.step.lens.clone()
    }

    /// With `lens`: how much each block's attention and MLP changed the residual stream there,
    /// `[2 layers]`, as |change| / |stream before it|; empty without.
    #[wasm_bindgen(getter)]
    pub fn changes(&self) -> Vec<f32> {
        self.step.changes.clone()
    }

    /// The window was cut before this step (the text outgrew the context) and read again.
    #[wasm_bindgen(getter)]
    pub fn slid(&self) -> bool {
        self.step.slid
    }

    /// Characters still to write.
    #[wasm_bindgen(getter)]
    pub fn remaining(&self) -> usize {
        self.step.remaining
    }
}
