//! The pretrained chat model for JavaScript: load it from its GGUF bytes, start an answer to a
//! conversation, then ask for one token at a time, each with the text it adds and the
//! candidates the model weighed.

use wasm_bindgen::prelude::*;

use super::device::OnDevice;
use super::{js_error, string, Lab, Settings};
use crate::formats::gguf::Gguf;
use crate::models::llama::Llama;
use crate::models::{LanguageModel, Watch};
use crate::text::bpe::{take_utf8, BpeTokenizer};
use crate::text::chat::{ChatTemplate, Message};
use crate::text::generation::Generation;
use crate::Error;

/// Positions the caches hold: SmolLM2 was trained on 8192, but 2048 keep the caches at 94 MB.
const CONTEXT: usize = 2048;
/// Candidates each step reports.
const TOP: usize = 5;

#[wasm_bindgen]
impl Lab {
    /// Loads a Llama-architecture chat model (SmolLM2-135M-Instruct) from its GGUF file: the
    /// weights stay quantized on the GPU, the tokenizer and chat template come from the file.
    #[wasm_bindgen(js_name = loadChat)]
    pub fn load_chat(&self, gguf: &[u8]) -> Result<ChatModel, JsValue> {
        let load = || -> Result<ChatModel, Error> {
            let Some(device) = &self.webgpu else {
                return Err(Error::Unsupported(format!(
                    "the chat model needs WebGPU: its quantized kernels have no CPU path here, and \
                     135 million parameters would be too slow on one anyway ({})",
                    self.no_gpu.as_deref().unwrap_or("no WebGPU device")
                )));
            };
            let file = Gguf::parse(gguf)?;
            let tokenizer = BpeTokenizer::from_gguf(&file)?;
            let template = ChatTemplate::from_jinja(file.str("tokenizer.chat_template")?)?;
            let name = match (file.str("general.basename"), file.str("general.size_label")) {
                (Ok(base), Ok(size)) => format!("{base} {size}"),
                _ => file.str("general.name").unwrap_or("a chat model").to_string(),
            };
            let model = Llama::load(&device.current(), gguf, CONTEXT)?;
            // 98 MB are not kept for a reload: after a device failure the page loads the file
            // again (from its cache).
            let model = OnDevice::loaded(device, model, |_| {
                Err(Error::DeviceLost("load the chat model again: its weights are not kept".into()))
            });
            Ok(ChatModel {
                model,
                tokenizer,
                template,
                name,
                generation: None,
                watch: Watch::NOTHING,
                pending: vec![],
            })
        };
        load().map_err(|e| js_error(e.in_model_file()))
    }
}

#[wasm_bindgen(js_name = Chat)]
pub struct ChatModel {
    model: OnDevice<Llama>,
    tokenizer: BpeTokenizer,
    template: ChatTemplate,
    name: String,
    generation: Option<Generation>,
    watch: Watch,
    /// Bytes of a character whose tokens are not all written yet.
    pending: Vec<u8>,
}

#[wasm_bindgen(js_class = Chat)]
impl ChatModel {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn layers(&self) -> usize {
        self.model.model().config().n_layer
    }

    #[wasm_bindgen(getter)]
    pub fn heads(&self) -> usize {
        self.model.model().config().n_head
    }

    /// How many tokens of conversation the model can read.
    #[wasm_bindgen(getter)]
    pub fn context(&self) -> usize {
        self.model.model().context()
    }

    /// Starts the answer to `messages` (JSON: `[{role, content}, ...]`, ending with the user's)
    /// of at most `max_tokens` tokens. The start it shares with the last conversation (the
    /// earlier turns) is not read again: the caches still hold it. Throws for bad messages or
    /// settings, and for a conversation longer than the context. With `lens`, each step also
    /// reads out the prediction after every layer (see `ChatStep::lens_tokens`); with
    /// `attention`, what the newest token attends to (see `ChatStep::attention`).
    // JavaScript passes them by position; the package's `chat` names them.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] messages: JsValue,
        temperature: f64,
        top_k: f64,
        top_p: f64,
        seed: f64,
        max_tokens: f64,
        lens: bool,
        attention: bool,
    ) -> Result<(), JsValue> {
        let previous = self.generation.take();
        self.watch = Watch { attention, lens };
        self.pending.clear();
        let started = (|| {
            let s = Settings::new(
                temperature,
                top_k,
                top_p,
                seed,
                max_tokens,
                self.model.model().vocab_size(),
            )?;
            let messages = Message::parse_list(&string("the messages", messages)?)?;
            let ids = self.template.encode(&self.tokenizer, &messages)?;
            if ids.len() >= self.model.model().context() {
                return Err(Error::Invalid(format!(
                    "the conversation is {} tokens; the model reads at most {}: start a new chat",
                    ids.len(),
                    self.model.model().context()
                )));
            }
            let stop: Vec<u32> = self.tokenizer.eos.into_iter().collect();
            let generation =
                Generation::new(self.model.model(), &ids, s.sampling, s.seed, s.length)?;
            let generation = generation.stop_at(&stop);
            Ok(match &previous {
                Some(previous) => generation.reuse(previous),
                None => generation,
            })
        })();
        self.generation = Some(started.map_err(js_error)?);
        Ok(())
    }

    /// Writes the next token of the answer `start` began.
    pub async fn step(&mut self) -> Result<ChatStep, JsValue> {
        let generation = self.generation.as_mut().ok_or_else(|| {
            js_error(Error::Invalid("no answer in progress: call start() first".into()))
        })?;
        let (gpu, model, _) = self.model.get().await.map_err(js_error)?;
        // The tokens this step reads, for its attention rows (the window may slide after it).
        let read = if self.watch.attention { generation.window().to_vec() } else { vec![] };
        let step = generation.step(gpu, model, self.watch).await.map_err(js_error)?;
        let done = step.remaining == 0;
        if Some(step.id) != self.tokenizer.eos {
            self.pending.extend(self.tokenizer.decode_bytes(&[step.id]).map_err(js_error)?);
        }
        let mut text = take_utf8(&mut self.pending);
        if done && !self.pending.is_empty() {
            text += &String::from_utf8_lossy(&std::mem::take(&mut self.pending));
        }
        let p = &step.probabilities;
        let mut order: Vec<usize> = (0..p.len()).collect();
        let likelier = |a: &usize, b: &usize| p[*b].total_cmp(&p[*a]);
        if order.len() > TOP {
            order.select_nth_unstable_by(TOP, likelier);
            order.truncate(TOP);
        }
        order.sort_unstable_by(likelier);
        let decode = |ids: &[u32]| -> Vec<String> {
            ids.iter().map(|&i| self.tokenizer.decode(&[i]).unwrap_or_default()).collect()
        };
        let top_ids: Vec<u32> = order.iter().map(|&i| i as u32).collect();
        let top_tokens = decode(&top_ids);
        let top_probabilities = order.iter().map(|&i| p[i]).collect();
        let lens_ids: Vec<u32> = step.lens_candidates.iter().flat_map(|c| c.ids.clone()).collect();
        let lens_tokens = decode(&lens_ids);
        let lens_probabilities =
            step.lens_candidates.iter().flat_map(|c| c.probabilities()).collect();
        // Each row over the tokens read, not the whole context.
        let over_window = |rows: &[f32]| -> Vec<f32> {
            let width = model.context();
            rows.chunks(width).flat_map(|row| &row[..step.window]).copied().collect()
        };
        Ok(ChatStep {
            text,
            token: step.id,
            done,
            prompt_tokens: step.fresh,
            top_tokens,
            top_ids,
            top_probabilities,
            lens_tokens,
            lens_probabilities,
            changes: step.changes,
            attention: over_window(&step.attention),
            scores: over_window(&step.scores),
            key_tokens: decode(&read),
        })
    }
}

/// One token of an answer.
#[wasm_bindgen]
pub struct ChatStep {
    text: String,
    token: u32,
    done: bool,
    prompt_tokens: usize,
    top_tokens: Vec<String>,
    top_ids: Vec<u32>,
    top_probabilities: Vec<f32>,
    lens_tokens: Vec<String>,
    lens_probabilities: Vec<f32>,
    changes: Vec<f32>,
    attention: Vec<f32>,
    scores: Vec<f32>,
    key_tokens: Vec<String>,
}

#[wasm_bindgen]
impl ChatStep {
    /// The text this token adds: empty while a character's bytes are still incomplete, and for
    /// the end-of-turn token.
    #[wasm_bindgen(getter)]
    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// The token's id in the model's vocabulary.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> u32 {
        self.token
    }

    /// The answer has ended: the model closed its turn, or the token budget ran out.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.done
    }

    /// How many tokens this step's pass read: the conversation on the first step, then 1.
    #[wasm_bindgen(getter, js_name = promptTokens)]
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// The likeliest next tokens at this step, most likely first, as text.
    #[wasm_bindgen(getter, js_name = topTokens)]
    pub fn top_tokens(&self) -> Vec<String> {
        self.top_tokens.clone()
    }

    /// Their ids in the model's vocabulary.
    #[wasm_bindgen(getter, js_name = topIds)]
    pub fn top_ids(&self) -> Vec<u32> {
        self.top_ids.clone()
    }

    /// Their probabilities (temperature 1).
    #[wasm_bindgen(getter, js_name = topProbabilities)]
    pub fn top_probabilities(&self) -> Vec<f32> {
        self.top_probabilities.clone()
    }

    /// With `lens`: the 5 likeliest next tokens read out of the residual stream after the
    /// embedding, then after each block's attention and after its MLP, `[2 layers + 1, 5]`,
    /// most likely first in each row, as text; empty without.
    #[wasm_bindgen(getter, js_name = lensTokens)]
    pub fn lens_tokens(&self) -> Vec<String> {
        self.lens_tokens.clone()
    }

    /// Their probabilities (temperature 1).
    #[wasm_bindgen(getter, js_name = lensProbabilities)]
    pub fn lens_probabilities(&self) -> Vec<f32> {
        self.lens_probabilities.clone()
    }

    /// With `lens`: how much each block's attention and MLP changed the residual stream at the
    /// last position, `[2 layers]`, as |change| / |stream before it|; empty without.
    #[wasm_bindgen(getter)]
    pub fn changes(&self) -> Vec<f32> {
        self.changes.clone()
    }

    /// With `attention`: the tokens this step read, oldest first, as text: what `attention`'s
    /// entries are over; empty without.
    #[wasm_bindgen(getter, js_name = keyTokens)]
    pub fn key_tokens(&self) -> Vec<String> {
        self.key_tokens.clone()
    }

    /// With `attention`: the newest token's attention weights `[layers, heads, keyTokens.length]`,
    /// entry j the weight on token j of `keyTokens`; empty without.
    #[wasm_bindgen(getter)]
    pub fn attention(&self) -> Vec<f32> {
        self.attention.clone()
    }

    /// The raw scores q.k / sqrt(head size) that `attention` is the softmax of, in its layout.
    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f32> {
        self.scores.clone()
    }
}
