//! A Llama-architecture decoder read from a GGUF file (SmolLM2-135M-Instruct): token embedding,
//! blocks of RMS-normed grouped-query attention with rotary positions and a SwiGLU MLP, a final
//! RMS norm and the head (the embedding again when tied). Named as llama.cpp names the tensors
//! (`blk.N.attn_q`, `ffn_gate`, ...). The matrices stay quantized on the GPU.

use super::scratch::Scratch;
use super::weights::finite;
use super::{AttentionBuffers, LanguageModel, LastRow, LensBuffers, Output, Watch};
use crate::error::invalid;
use crate::formats::gguf::{dequantize, GgmlType, Gguf};
use crate::ops::activation::{glu, Activation};
use crate::ops::attention::{attention, KvCache};
use crate::ops::matmul::{matmul, matmul_fused, Fused};
use crate::ops::norm::rms_norm;
use crate::ops::quant::{
    dequantize_quant, embedding_quant, matmul_quant_fused, QuantFused, QuantTensor,
};
use crate::ops::rope::{rope_qkv, QkvRope, RopeStyle};
use crate::{Gpu, Result, Tensor};

/// How many of a pass's last queries keep their attention scores: the newest token's, which the
/// page shows (30 layers of 9 heads over the whole context already make 2.2 MB a step).
pub const ATTENTION_ROWS: usize = 1;

/// The hyperparameters, from the file's `llama.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub vocab: usize,
    /// The context the model was trained for.
    pub context_length: usize,
    pub rope_theta: f32,
    pub rms_eps: f32,
}

impl Config {
    pub fn read(file: &Gguf) -> Result<Config> {
        let arch = file.str("general.architecture")?;
        if arch != "llama" {
            invalid!("gguf: architecture '{arch}' is not supported (llama is)");
        }
        let c = Config {
            n_layer: file.usize("llama.block_count")?,
            n_embd: file.usize("llama.embedding_length")?,
            n_ff: file.usize("llama.feed_forward_length")?,
            n_head: file.usize("llama.attention.head_count")?,
            n_kv_head: file.usize("llama.attention.head_count_kv")?,
            vocab: file.tensor("token_embd.weight")?.shape[0],
            context_length: file.usize("llama.context_length")?,
            rope_theta: file.f32("llama.rope.freq_base")?,
            rms_eps: file.f32("llama.attention.layer_norm_rms_epsilon")?,
        };
        let sizes = [c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_kv_head, c.context_length];
        let uneven = !c.n_embd.is_multiple_of(c.n_head) || !c.n_head.is_multiple_of(c.n_kv_head);
        if sizes.contains(&0) || uneven {
            invalid!("gguf: the model's sizes do not fit together: {c:?}");
        }
        let rope_dims = file.get("llama.rope.dimension_count").and_then(|v| v.as_u64());
        if rope_dims.is_some_and(|d| d != c.head_dim() as u64) {
            invalid!(
                "gguf: rotary embedding on {rope_dims:?} of {} dims is not supported",
                c.head_dim()
            );
        }
        if !(c.rope_theta > 0.0 && c.rms_eps > 0.0) {
            invalid!(
                "gguf: rope theta {} and RMS epsilon {} must be positive",
                c.rope_theta,
                c.rms_eps
            );
        }
        Ok(c)
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

struct Block {
    attn_norm: Tensor,
    /// `attn_q`, `attn_k` and `attn_v` stacked: one product makes a token's q, k and v heads.
    attn_qkv: QuantTensor,
    attn_output: QuantTensor,
    ffn_norm: Tensor,
    /// `ffn_gate` and `ffn_up` stacked, for the product that ends in SwiGLU.
    ffn_gate_up: QuantTensor,
    ffn_down: QuantTensor,
    cache: KvCache,
}

pub struct Llama {
    config: Config,
    /// Positions the caches hold: the trained context, or less to save memory.
    context: usize,
    token_embd: QuantTensor,
    blocks: Vec<Block>,
    output_norm: Tensor,
    /// `None` when the head is tied to the token embedding.
    output: Option<QuantTensor>,
    buffers: Scratch<Buffers>,
}

/// Activations for a chunk of `t` tokens; `x` and `y` take turns as the residual stream.
struct Buffers {
    x: Tensor,
    y: Tensor,
    q: Tensor,
    att: Tensor,
    gated: Tensor,
    logits: Tensor,
    /// For passes over more than one token, whose head may read the last position only.
    last: Option<LastRow>,
    /// For passes over more than `FEW_TOKENS`.
    dequantized: Option<Dequantized>,
    /// Made on the first pass of this size that asks for attention scores.
    attention: Option<AttentionBuffers>,
    /// Made on the first pass of this size that asks for the logit lens.
    lens: Option<LensBuffers>,
}

/// What a pass over many tokens adds: f32 scratch copies of one weight of each shape a block
/// uses, and the steps the quantized product fuses: the normed rows, q, k and v before their
/// rotation, and the gate and up halves before their SwiGLU.
struct Dequantized {
    weights: Vec<Tensor>,
    normed: Tensor,
    qkv: Tensor,
    gate_up: Tensor,
}

/// Up to this many tokens a pass multiplies by the quantized weights directly; beyond, it
/// dequantizes each matrix once and runs the tiled matmul, which reuses every weight across
/// the tokens. On lavapipe a 128-token prompt took 18.9 s the first way and 12.5 s the second;
/// a 37-token one 5.0 s and 7.5 s (the tiled matmul's 128-row tiles were then mostly padding).
const FEW_TOKENS: usize = 64;

impl Buffers {
    fn new(gpu: &Gpu, t: usize, c: &Config) -> Result<Buffers> {
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        let (d, hd, kv) = (c.n_embd, c.head_dim(), c.n_kv_head * c.head_dim());
        Ok(Buffers {
            x: z(&[t, d])?,
            y: z(&[t, d])?,
            q: z(&[t, c.n_head, hd])?,
            att: z(&[t, c.n_head, hd])?,
            gated: z(&[t, c.n_ff])?,
            logits: z(&[t, c.vocab])?,
            last: if t > 1 { Some(LastRow::new(gpu, d, c.vocab)?) } else { None },
            dequantized: if t > FEW_TOKENS {
                let shapes = [[d + 2 * kv, d], [d, d], [2 * c.n_ff, d], [d, c.n_ff]];
                Some(Dequantized {
                    weights: shapes.iter().map(|s| z(s)).collect::<Result<_>>()?,
                    normed: z(&[t, d])?,
                    qkv: z(&[t, c.n_head + 2 * c.n_kv_head, hd])?,
                    gate_up: z(&[t, 2 * c.n_ff])?,
                })
            } else {
                None
            },
            attention: None,
            lens: None,
        })
    }

    /// `out = x w^T` with what `fused` adds: in one dispatch on the quantized `w` for a few
    /// tokens; else the RMS norm, an f32 copy of `w`, the tiled matmul (with the residual), and
    /// SwiGLU or the rotation of q, k and v in turn.
    fn linear(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        w: &QuantTensor,
        fused: QuantFused,
        out: &Tensor,
    ) -> Result<()> {
        let Some(d) = &self.dequantized else {
            return matmul_quant_fused(gpu, x, w, &fused, out);
        };
        let input = match fused.rms_norm {
            Some((weight, eps)) => {
                rms_norm(gpu, x, weight, eps, &d.normed)?;
                &d.normed
            }
            None => x,
        };
        let Some(weight) = d.weights.iter().find(|s| s.shape() == w.shape()) else {
            invalid!("no scratch copy for a {:?} weight", w.shape());
        };
        dequantize_quant(gpu, w, weight)?;
        match (fused.glu, fused.residual, fused.rope) {
            (None, residual, None) => {
                matmul_fused(gpu, input, weight, true, &Fused { residual, ..Fused::default() }, out)
            }
            (Some(act), None, None) => {
                matmul(gpu, input, weight, None, true, &d.gate_up)?;
                glu(gpu, act, &d.gate_up, out)
            }
            (None, None, Some(rope)) => {
                let rows = d.qkv.view(&[x.shape()[0], w.shape()[0]])?;
                matmul(gpu, input, weight, None, true, &rows)?;
                rope_qkv(gpu, &d.qkv, &rope, out)
            }
            _ => invalid!("a block adds no residual to its SwiGLU or its q, k and v"),
        }
    }
}

impl Llama {
    /// Loads the model from GGUF bytes, with caches for `max_context` positions at most (the
    /// trained context may need more memory than a browser tab should take).
    pub fn load(gpu: &Gpu, bytes: &[u8], max_context: usize) -> Result<Llama> {
        let file = Gguf::parse(bytes)?;
        let c = Config::read(&file)?;
        let (d, kv) = (c.n_embd, c.n_kv_head * c.head_dim());
        // Matrices of `d` columns, stacked by rows: one product makes all their outputs.
        let stacked = |parts: &[(&str, usize)]| -> Result<QuantTensor> {
            let (mut ty, mut blocks) = (None, Vec::new());
            for &(name, rows) in parts {
                let (info, data) = file.data(name, &[rows, d])?;
                if ty.is_some_and(|ty| ty != info.ty) {
                    invalid!(
                        "gguf: '{name}' is {:?}, unlike the matrices it is stacked with",
                        info.ty
                    );
                }
                ty = Some(info.ty);
                blocks.extend_from_slice(data);
            }
            let rows = parts.iter().map(|&(_, rows)| rows).sum();
            QuantTensor::new(gpu, ty.unwrap_or(GgmlType::F32), [rows, d], &blocks)
        };
        let matrix = |name: &str, shape: [usize; 2]| -> Result<QuantTensor> {
            let (info, data) = file.data(name, &shape)?;
            QuantTensor::new(gpu, info.ty, shape, data)
        };
        let vector = |name: &str| -> Result<Tensor> {
            let (info, data) = file.data(name, &[d])?;
            if info.ty != GgmlType::F32 {
                invalid!("gguf: norm '{name}' is {:?}; f32 expected", info.ty);
            }
            let values = dequantize(info.ty, data)?;
            finite(name, &values)?;
            Tensor::from_slice(gpu, &[d], &values)
        };
        let context = c.context_length.min(max_context);
        let mut blocks = Vec::new();
        for i in 0..c.n_layer {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            let (q, k, v) = (name("attn_q"), name("attn_k"), name("attn_v"));
            let (gate, up) = (name("ffn_gate"), name("ffn_up"));
            blocks.push(Block {
                attn_norm: vector(&name("attn_norm"))?,
                attn_qkv: stacked(&[(&q, d), (&k, kv), (&v, kv)])?,
                attn_output: matrix(&name("attn_output"), [d, d])?,
                ffn_norm: vector(&name("ffn_norm"))?,
                ffn_gate_up: stacked(&[(&gate, c.n_ff), (&up, c.n_ff)])?,
                ffn_down: matrix(&name("ffn_down"), [d, c.n_ff])?,
                cache: KvCache::new(gpu, context, c.n_head, c.n_kv_head, c.head_dim())?,
            });
        }
        let output = match file.tensor("output.weight") {
            Ok(_) => Some(matrix("output.weight", [c.vocab, d])?),
            Err(_) => None,
        };
        Ok(Llama {
            token_embd: matrix("token_embd.weight", [c.vocab, d])?,
            output_norm: vector("output_norm.weight")?,
            output,
            blocks,
            context,
            config: c,
            buffers: Scratch::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl LanguageModel for Llama {
    fn vocab_size(&self) -> usize {
        self.config.vocab
    }

    fn context(&self) -> usize {
        self.context
    }

    /// Watched, also the attention scores of the last query, `[n_layer, n_head, 1, context]`,
    /// each row over the cache positions, and the lens.
    fn forward(&mut self, gpu: &Gpu, ids: &[u32], past: usize, watch: Watch) -> Result<Output<'_>> {
        self.pass(gpu, ids, past, watch, true)
    }

    fn forward_last(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch: Watch,
    ) -> Result<Output<'_>> {
        self.pass(gpu, ids, past, watch, false)
    }
}

impl Llama {
    /// The blocks over `ids`, then the head over every position or the last one.
    fn pass(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch: Watch,
        every_position: bool,
    ) -> Result<Output<'_>> {
        let (t, c) = (ids.len(), &self.config);
        if t == 0 || past + t > self.context {
            invalid!("{t} tokens after {past} do not fit the context of {}", self.context);
        }
        let b = self.buffers.get(t, || Buffers::new(gpu, t, c))?;
        if watch.attention && b.attention.is_none() {
            let (layers, heads) = (c.n_layer, c.n_head);
            b.attention =
                Some(AttentionBuffers::new(gpu, layers, heads, ATTENTION_ROWS, self.context)?);
        }
        if watch.lens && b.lens.is_none() {
            b.lens = Some(LensBuffers::new(gpu, c.n_layer, c.n_embd, c.vocab)?);
        }
        let b = &*b;
        let watched = b.attention.as_ref().filter(|_| watch.attention);
        let lens = b.lens.as_ref().filter(|_| watch.lens);
        let keep = |x: &Tensor, row: usize| lens.map_or(Ok(()), |lens| lens.keep(gpu, x, row));
        let flat = |x: &Tensor| x.view(&[t, x.numel() / t]);
        let scale = 1.0 / (c.head_dim() as f32).sqrt();
        let normed =
            |weight| QuantFused { rms_norm: Some((weight, c.rms_eps)), ..Default::default() };
        let plus = |residual| QuantFused { residual: Some(residual), ..Default::default() };
        embedding_quant(gpu, &self.token_embd, ids, &b.x)?;
        keep(&b.x, 0)?;
        for (l, block) in self.blocks.iter().enumerate() {
            // y = x + o_proj(attention(rope(q), rope(k), v)), q, k, v from attn_norm(x): rope(q)
            // into b.q, rope(k) and v into the layer's cache.
            let rope = QkvRope {
                pos0: past,
                theta: c.rope_theta,
                style: RopeStyle::Adjacent,
                cache: &block.cache,
            };
            let qkv = QuantFused { rope: Some(rope), ..normed(&block.attn_norm) };
            b.linear(gpu, &b.x, &block.attn_qkv, qkv, &b.q)?;
            attention(gpu, &b.q, &block.cache, past, scale, watched.map(|w| &w.layer), &b.att)?;
            if let Some(w) = watched {
                w.keep(gpu, l)?;
            }
            b.linear(gpu, &flat(&b.att)?, &block.attn_output, plus(&b.x), &b.y)?;
            keep(&b.y, 2 * l + 1)?;
            // x = y + down(silu(gate(h)) * up(h)), h = ffn_norm(y).
            let swiglu = QuantFused { glu: Some(Activation::Silu), ..normed(&block.ffn_norm) };
            b.linear(gpu, &b.y, &block.ffn_gate_up, swiglu, &b.gated)?;
            b.linear(gpu, &b.gated, &block.ffn_down, plus(&b.y), &b.x)?;
            keep(&b.x, 2 * l + 2)?;
        }
        let (x, logits) = match (&b.last, every_position) {
            (Some(last), false) => last.take(gpu, &b.x)?,
            _ => (&b.x, &b.logits),
        };
        let head = self.output.as_ref().unwrap_or(&self.token_embd);
        matmul_quant_fused(gpu, x, head, &normed(&self.output_norm), logits)?;
        if let Some(lens) = lens {
            // 61 rows: few enough for the quantized product (FEW_TOKENS).
            matmul_quant_fused(gpu, &lens.stream, head, &normed(&self.output_norm), &lens.logits)?;
        }
        Ok(Output {
            logits,
            attention: watched.map(|w| &w.recent),
            lens: lens.map(LensBuffers::lens),
        })
    }
}
