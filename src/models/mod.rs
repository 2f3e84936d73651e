//! Forward passes of the models, written like the PyTorch modules they were trained as
//! (`training/models.py`; Hugging Face's Llama) and over the same parameter names; the ops own
//! the GPU.

pub mod gan;
pub mod gpt;
pub mod llama;
pub mod nearest;
mod scratch;
pub mod vae;
mod weights;

use crate::{Gpu, Result, Tensor};

/// What one pass of a language model returns: logits `[t, vocab]`, and the attention weights
/// when asked for.
pub struct Output<'a> {
    pub logits: &'a Tensor,
    pub attention: Option<&'a Tensor>,
}

/// A causal language model with a KV cache per layer, as text generation drives it.
pub trait LanguageModel {
    fn vocab_size(&self) -> usize;

    /// How many positions the caches hold.
    fn context(&self) -> usize;

    /// Logits for tokens `ids` at positions `past..past + ids.len()`, the caches holding
    /// positions `0..past` from earlier calls; these tokens join the caches. With
    /// `watch_attention`, models that can also return attention weights.
    fn forward(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch_attention: bool,
    ) -> Result<Output<'_>>;
}
