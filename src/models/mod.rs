//! Forward passes of the models, written like the PyTorch modules they were trained as
//! (`training/models.py`; Hugging Face's Llama) and over the same parameter names; the ops own
//! the GPU.

pub mod classifier;
pub mod diffusion;
pub mod gan;
pub mod gpt;
pub(crate) mod layers;
pub mod llama;
pub mod nearest;
pub(crate) mod scratch;
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

    /// As `forward`, but the head reads the last position only: logits `[1, vocab]`, all that
    /// writing the next token needs (the head is large: SmolLM2's multiplies by a quarter of its
    /// weights).
    fn forward_last(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch_attention: bool,
    ) -> Result<Output<'_>>;
}

/// Scratch for a head that reads one position: the last row of the residual stream, normed,
/// and its logits.
struct LastRow {
    x: Tensor,
    logits: Tensor,
}

impl LastRow {
    fn new(gpu: &Gpu, width: usize, vocab: usize) -> Result<LastRow> {
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        Ok(LastRow { x: z(&[1, width])?, logits: z(&[1, vocab])? })
    }

    /// Copies the last row of `x` `[t, width]` in, and returns (that row, the logits).
    fn take(&self, gpu: &Gpu, x: &Tensor) -> Result<(&Tensor, &Tensor)> {
        let (n, width) = (x.numel(), self.x.numel());
        self.x.copy_range(gpu, x, n - width..n, 0)?;
        Ok((&self.x, &self.logits))
    }
}
