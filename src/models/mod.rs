//! Forward passes of the models, written like the PyTorch modules they were trained as
//! (`training/models.py`; Hugging Face's Llama) and over the same parameter names; the ops own
//! the GPU.

pub mod classifier;
pub mod diffusion;
pub mod gan;
pub mod gpt;
pub mod image_gpt;
pub(crate) mod layers;
pub mod llama;
pub mod nearest;
pub(crate) mod scratch;
pub mod vae;
pub mod vqvae;
mod weights;

use crate::{Gpu, Result, Tensor};

/// What a language model's pass keeps for the page to see, besides the logits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Watch {
    /// The attention scores (their softmax is the attention weights).
    pub attention: bool,
    /// The logit lens at the last position (see `Lens`).
    pub lens: bool,
}

impl Watch {
    pub const NOTHING: Watch = Watch { attention: false, lens: false };
    pub const ATTENTION: Watch = Watch { attention: true, lens: false };
    pub const LENS: Watch = Watch { attention: false, lens: true };
}

/// What one pass of a language model returns: logits `[t, vocab]`, and what was watched.
pub struct Output<'a> {
    pub logits: &'a Tensor,
    pub attention: Option<&'a Tensor>,
    pub lens: Option<Lens<'a>>,
}

/// The residual stream at the pass's last position, read out as the model's final layers read
/// it (the "logit lens"): how the prediction forms, block by block. Rows: after the embedding,
/// then after each block's attention and after its MLP.
pub struct Lens<'a> {
    /// `[2 n_layer + 1, width]`
    pub stream: &'a Tensor,
    /// The final norm and the head applied to each row: `[2 n_layer + 1, vocab]`; its last row
    /// is the pass's own last row of logits.
    pub logits: &'a Tensor,
}

/// A causal language model with a KV cache per layer, as text generation drives it.
pub trait LanguageModel {
    /// How many tokens the head scores.
    fn vocab_size(&self) -> usize;

    /// How many tokens the model reads: more than it writes where some only condition it
    /// (the image GPT's class tokens).
    fn input_vocab(&self) -> usize {
        self.vocab_size()
    }

    /// How many positions the caches hold.
    fn context(&self) -> usize;

    /// Logits for tokens `ids` at positions `past..past + ids.len()`, the caches holding
    /// positions `0..past` from earlier calls; these tokens join the caches. Models that can
    /// also return what `watch` asks for; the others return `None` for it.
    fn forward(&mut self, gpu: &Gpu, ids: &[u32], past: usize, watch: Watch) -> Result<Output<'_>>;

    /// As `forward`, but the head reads the last position only: logits `[1, vocab]`, all that
    /// writing the next token needs (the head is large: SmolLM2's multiplies by a quarter of its
    /// weights).
    fn forward_last(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch: Watch,
    ) -> Result<Output<'_>>;
}

/// How much each step of a residual stream changed it: for rows `s_0, s_1, ...` of `width`
/// values, `|s_i - s_(i-1)| / |s_(i-1)|` for i = 1, 2, ... (a sub-layer that adds nothing: 0).
pub fn relative_changes(stream: &[f32], width: usize) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let rows: Vec<&[f32]> = stream.chunks(width).collect();
    rows.windows(2)
        .map(|w| {
            let change: Vec<f32> = w[0].iter().zip(w[1]).map(|(a, b)| b - a).collect();
            norm(&change) / norm(w[0]).max(f32::MIN_POSITIVE)
        })
        .collect()
}

/// The residual stream's last row after the embedding and after each sub-layer, and the head
/// over those rows (see `Lens`).
struct LensBuffers {
    stream: Tensor,
    logits: Tensor,
}

impl LensBuffers {
    fn new(gpu: &Gpu, layers: usize, width: usize, vocab: usize) -> Result<LensBuffers> {
        let rows = 2 * layers + 1;
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        Ok(LensBuffers { stream: z(&[rows, width])?, logits: z(&[rows, vocab])? })
    }

    /// Copies the last row of the residual stream `x` `[t, width]` into row `row`.
    fn keep(&self, gpu: &Gpu, x: &Tensor, row: usize) -> Result<()> {
        let (n, width) = (x.numel(), self.stream.shape()[1]);
        self.stream.copy_range(gpu, x, n - width..n, row * width)
    }

    fn lens(&self) -> Lens<'_> {
        Lens { stream: &self.stream, logits: &self.logits }
    }
}

/// One layer's attention scores of a pass's last `rows` queries `[n_head, rows, capacity]`, as
/// the attention kernel writes them, and every layer's gathered into
/// `[n_layer, n_head, rows, capacity]`.
struct AttentionBuffers {
    layer: Tensor,
    recent: Tensor,
}

impl AttentionBuffers {
    fn new(
        gpu: &Gpu,
        layers: usize,
        heads: usize,
        rows: usize,
        capacity: usize,
    ) -> Result<AttentionBuffers> {
        Ok(AttentionBuffers {
            layer: Tensor::zeros(gpu, &[heads, rows, capacity])?,
            recent: Tensor::zeros(gpu, &[layers, heads, rows, capacity])?,
        })
    }

    /// Copies layer `l`'s scores, just written into `layer`, into `recent`.
    fn keep(&self, gpu: &Gpu, l: usize) -> Result<()> {
        self.recent.copy_from(gpu, &self.layer, l * self.layer.numel())
    }
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

#[cfg(test)]
mod tests {
    use super::relative_changes;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn relative_changes_compare_each_step_with_the_row_before() {
        // Rows [3, 4] (norm 5), then + [0, 5] (norm 5), then nothing added, then back to 0.
        let stream = [3.0, 4.0, 3.0, 9.0, 3.0, 9.0, 0.0, 0.0];
        let want = [1.0, 0.0, 1.0];
        let got = relative_changes(&stream, 2);
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?}");
        // From a zero row: no division by zero.
        assert!(relative_changes(&[0.0, 0.0, 1.0, 0.0], 2)[0].is_finite());
    }
}
