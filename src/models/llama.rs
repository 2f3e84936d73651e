//! A Llama-architecture decoder read from a GGUF file (SmolLM2-135M-Instruct): token embedding,
//! blocks of RMS-normed grouped-query attention with rotary positions and a SwiGLU MLP, a final
//! RMS norm and the head (the embedding again when tied). Named as llama.cpp names the tensors
//! (`blk.N.attn_q`, `ffn_gate`, ...). The matrices stay quantized on the GPU.

use super::scratch::Scratch;
use super::weights::finite;
use super::{LanguageModel, LastRow, Output};
use crate::error::invalid;
use crate::formats::gguf::{dequantize, GgmlType, Gguf};
use crate::ops::activation::{activation, Activation};
use crate::ops::attention::{attention, KvCache};
use crate::ops::binary::{binary, BinaryOp};
use crate::ops::matmul::matmul;
use crate::ops::norm::rms_norm;
use crate::ops::quant::{dequantize_quant, embedding_quant, matmul_quant, QuantTensor};
use crate::ops::rope::{rope, RopeStyle};
use crate::{Gpu, Result, Tensor};

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
    attn_q: QuantTensor,
    attn_k: QuantTensor,
    attn_v: QuantTensor,
    attn_output: QuantTensor,
    ffn_norm: Tensor,
    ffn_gate: QuantTensor,
    ffn_up: QuantTensor,
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
    h: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_rot: Tensor,
    k_rot: Tensor,
    att: Tensor,
    proj: Tensor,
    gate: Tensor,
    up: Tensor,
    act: Tensor,
    gated: Tensor,
    logits: Tensor,
    /// For passes over more than one token, whose head may read the last position only.
    last: Option<LastRow>,
    /// For passes over more than `FEW_TOKENS`: f32 scratch copies of one weight of each shape
    /// a block uses.
    dequantized: Vec<Tensor>,
}

/// Up to this many tokens a pass multiplies by the quantized weights directly; beyond, it
/// dequantizes each matrix once and runs the tiled matmul, which reuses every weight across
/// the tokens. On lavapipe a 128-token prompt took 18.9 s the first way and 12.5 s the second;
/// a 37-token one 5.0 s and 7.5 s (the tiled matmul's 128-row tiles were then mostly padding).
const FEW_TOKENS: usize = 64;

impl Buffers {
    fn new(gpu: &Gpu, t: usize, c: &Config) -> Result<Buffers> {
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        let (q_heads, kv_heads) = ([t, c.n_head, c.head_dim()], [t, c.n_kv_head, c.head_dim()]);
        Ok(Buffers {
            x: z(&[t, c.n_embd])?,
            y: z(&[t, c.n_embd])?,
            h: z(&[t, c.n_embd])?,
            q: z(&q_heads)?,
            k: z(&kv_heads)?,
            v: z(&kv_heads)?,
            q_rot: z(&q_heads)?,
            k_rot: z(&kv_heads)?,
            att: z(&q_heads)?,
            proj: z(&[t, c.n_embd])?,
            gate: z(&[t, c.n_ff])?,
            up: z(&[t, c.n_ff])?,
            act: z(&[t, c.n_ff])?,
            gated: z(&[t, c.n_ff])?,
            logits: z(&[t, c.vocab])?,
            last: if t > 1 { Some(LastRow::new(gpu, c.n_embd, c.vocab)?) } else { None },
            dequantized: if t > FEW_TOKENS {
                let kv = c.n_kv_head * c.head_dim();
                let shapes =
                    [[c.n_embd, c.n_embd], [kv, c.n_embd], [c.n_ff, c.n_embd], [c.n_embd, c.n_ff]];
                shapes.iter().map(|s| z(s)).collect::<Result<_>>()?
            } else {
                Vec::new()
            },
        })
    }

    /// `out = x w^T`: directly on the quantized `w` for a few tokens, else through an f32 copy.
    fn linear(&self, gpu: &Gpu, x: &Tensor, w: &QuantTensor, out: &Tensor) -> Result<()> {
        match self.dequantized.iter().find(|d| d.shape() == w.shape()) {
            Some(scratch) => {
                dequantize_quant(gpu, w, scratch)?;
                matmul(gpu, x, scratch, None, true, out)
            }
            None => matmul_quant(gpu, x, w, out),
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
            blocks.push(Block {
                attn_norm: vector(&name("attn_norm"))?,
                attn_q: matrix(&name("attn_q"), [d, d])?,
                attn_k: matrix(&name("attn_k"), [kv, d])?,
                attn_v: matrix(&name("attn_v"), [kv, d])?,
                attn_output: matrix(&name("attn_output"), [d, d])?,
                ffn_norm: vector(&name("ffn_norm"))?,
                ffn_gate: matrix(&name("ffn_gate"), [c.n_ff, d])?,
                ffn_up: matrix(&name("ffn_up"), [c.n_ff, d])?,
                ffn_down: matrix(&name("ffn_down"), [d, c.n_ff])?,
                cache: KvCache::new(gpu, context, c.n_kv_head, c.head_dim())?,
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

    /// Attention weights are not watched for this model: `attention` is always `None`.
    fn forward(&mut self, gpu: &Gpu, ids: &[u32], past: usize, _: bool) -> Result<Output<'_>> {
        self.pass(gpu, ids, past, true)
    }

    fn forward_last(&mut self, gpu: &Gpu, ids: &[u32], past: usize, _: bool) -> Result<Output<'_>> {
        self.pass(gpu, ids, past, false)
    }
}

impl Llama {
    /// The blocks over `ids`, then the head over every position or the last one.
    fn pass(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        every_position: bool,
    ) -> Result<Output<'_>> {
        let (t, c) = (ids.len(), &self.config);
        if t == 0 || past + t > self.context {
            invalid!("{t} tokens after {past} do not fit the context of {}", self.context);
        }
        let b = self.buffers.get(t, || Buffers::new(gpu, t, c))?;
        let flat = |x: &Tensor| x.view(&[t, x.numel() / t]);
        let scale = 1.0 / (c.head_dim() as f32).sqrt();
        embedding_quant(gpu, &self.token_embd, ids, &b.x)?;
        for block in &self.blocks {
            rms_norm(gpu, &b.x, &block.attn_norm, c.rms_eps, &b.h)?;
            b.linear(gpu, &b.h, &block.attn_q, &flat(&b.q)?)?;
            b.linear(gpu, &b.h, &block.attn_k, &flat(&b.k)?)?;
            b.linear(gpu, &b.h, &block.attn_v, &flat(&b.v)?)?;
            rope(gpu, &b.q, past, c.rope_theta, RopeStyle::Adjacent, &b.q_rot)?;
            rope(gpu, &b.k, past, c.rope_theta, RopeStyle::Adjacent, &b.k_rot)?;
            block.cache.append(gpu, &b.k_rot, &b.v, past)?;
            attention(gpu, &b.q_rot, &block.cache, past, scale, None, &b.att)?;
            b.linear(gpu, &flat(&b.att)?, &block.attn_output, &b.proj)?;
            binary(gpu, BinaryOp::Add, &b.x, &b.proj, &b.y)?;
            rms_norm(gpu, &b.y, &block.ffn_norm, c.rms_eps, &b.h)?;
            b.linear(gpu, &b.h, &block.ffn_gate, &b.gate)?;
            b.linear(gpu, &b.h, &block.ffn_up, &b.up)?;
            activation(gpu, Activation::Silu, &b.gate, &b.act)?;
            binary(gpu, BinaryOp::Mul, &b.act, &b.up, &b.gated)?;
            b.linear(gpu, &b.gated, &block.ffn_down, &b.proj)?;
            binary(gpu, BinaryOp::Add, &b.y, &b.proj, &b.x)?;
        }
        let (x, h, logits) = match (&b.last, every_position) {
            (Some(last), false) => last.take(gpu, &b.x)?,
            _ => (&b.x, &b.h, &b.logits),
        };
        rms_norm(gpu, x, &self.output_norm, c.rms_eps, h)?;
        matmul_quant(gpu, h, self.output.as_ref().unwrap_or(&self.token_embd), logits)?;
        Ok(Output { logits, attention: None })
    }
}
