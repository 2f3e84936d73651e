//! The character-level GPT of `training/models.py` (nanoGPT's shape): token and position
//! embeddings, pre-norm blocks of causal self-attention and a GELU MLP, a final layer norm and
//! an untied head. Keys and values are cached per layer, so a prompt is read once and each new
//! token costs one pass over one position.

use super::scratch::Scratch;
use super::weights::Weights;
use super::{AttentionBuffers, LanguageModel, LastRow, LensBuffers, Output, Watch};
use crate::formats::json::Json;
use crate::ops::activation::Activation;
use crate::ops::attention::{attention, KvCache};
use crate::ops::embedding::embedding_at;
use crate::ops::matmul::{matmul_fused, Fused, Split};
use crate::{Error, Gpu, Result, Tensor};

const EPS: f32 = 1e-5;
/// How many of a pass's last queries keep their attention scores, for the page's heatmap.
pub const ATTENTION_ROWS: usize = 24;

/// A linear layer `y = x W^T + b`, weight `[out, in]` as `nn.Linear` keeps it, with what the
/// layer around it fuses into the same dispatch (a norm before it, an activation or a residual
/// after it).
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn forward(&self, gpu: &Gpu, x: &Tensor, around: Fused, out: &Tensor) -> Result<()> {
        let fused = Fused { bias: self.bias.as_ref(), ..around };
        matmul_fused(gpu, x, &self.weight, true, &fused, out)
    }
}

/// A `LayerNorm`'s weight and bias, as one `[2, C]` tensor: the matmul that reads its output
/// applies it to its input rows.
struct LayerNorm {
    weight_bias: Tensor,
}

impl LayerNorm {
    /// The norm, for the next layer to apply first.
    fn before(&self) -> Fused<'_> {
        Fused { norm: Some((&self.weight_bias, EPS)), ..Fused::default() }
    }
}

struct Block {
    ln_1: LayerNorm,
    attn_c_attn: Linear,
    attn_c_proj: Linear,
    ln_2: LayerNorm,
    mlp_c_fc: Linear,
    mlp_c_proj: Linear,
    cache: KvCache,
}

pub struct Gpt {
    vocab: Vec<String>,
    /// How many tokens the head scores: the first `outputs` of the vocabulary (all of it for
    /// text; the image GPT reads class tokens it never writes).
    outputs: usize,
    block_size: usize,
    n_head: usize,
    n_embd: usize,
    wte: Tensor,
    wpe: Tensor,
    h: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Linear,
    buffers: Scratch<Buffers>,
}

/// Activations for a chunk of `t` tokens; `x` and `y` take turns as the residual stream.
struct Buffers {
    x: Tensor,
    y: Tensor,
    q: Tensor,
    att: Tensor,
    act: Tensor,
    logits: Tensor,
    /// For passes over more than one token, whose head may read the last position only.
    last: Option<LastRow>,
    /// Made on the first pass of this size that asks for attention scores.
    attention: Option<AttentionBuffers>,
    /// Made on the first pass of this size that asks for the logit lens.
    lens: Option<LensBuffers>,
}

impl Buffers {
    fn new(gpu: &Gpu, t: usize, c: usize, vocab: usize) -> Result<Buffers> {
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        Ok(Buffers {
            x: z(&[t, c])?,
            y: z(&[t, c])?,
            q: z(&[t, c])?,
            att: z(&[t, c])?,
            act: z(&[t, 4 * c])?,
            logits: z(&[t, vocab])?,
            last: if t > 1 { Some(LastRow::new(gpu, c, vocab)?) } else { None },
            attention: None,
            lens: None,
        })
    }
}

fn arch_usize(arch: &Json, key: &str) -> Result<usize> {
    arch.get(key)
        .and_then(Json::as_usize)
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::Invalid(format!("the GPT card has no architecture.{key}")))
}

impl Gpt {
    /// Loads `gpt_shakespeare.safetensors`, checked against its model card, whose vocabulary
    /// (one string per token id) is the tokenizer.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<Gpt> {
        let card = Json::parse(card)?;
        let arch = card
            .get("architecture")
            .ok_or_else(|| Error::Invalid("the GPT card has no architecture".into()))?;
        let vocab: Vec<String> = arch
            .get("vocab")
            .and_then(Json::as_array)
            .map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let (block_size, n_layer) = (arch_usize(arch, "block_size")?, arch_usize(arch, "n_layer")?);
        let (n_head, c) = (arch_usize(arch, "n_head")?, arch_usize(arch, "n_embd")?);
        let outputs = match arch.get("outputs") {
            Some(n) => n.as_usize().unwrap_or(0),
            None => vocab.len(),
        };
        if vocab.is_empty() || c % n_head != 0 || !(1..=vocab.len()).contains(&outputs) {
            return Err(Error::Invalid("the GPT card's vocabulary or head size is wrong".into()));
        }
        let w = Weights::open(gpu, &card, safetensors)?;
        let linear = |name: &str, out: usize, inp: usize| -> Result<Linear> {
            let weight = w.tensor(&format!("{name}.weight"), &[out, inp])?;
            Ok(Linear { weight, bias: Some(w.tensor(&format!("{name}.bias"), &[out])?) })
        };
        let norm = |name: &str| -> Result<LayerNorm> {
            let weight_bias = Tensor::zeros(gpu, &[2, c])?;
            weight_bias.copy_from(gpu, &w.tensor(&format!("{name}.weight"), &[c])?, 0)?;
            weight_bias.copy_from(gpu, &w.tensor(&format!("{name}.bias"), &[c])?, c)?;
            Ok(LayerNorm { weight_bias })
        };
        let mut h = Vec::new();
        for i in 0..n_layer {
            let p = format!("h.{i}");
            h.push(Block {
                ln_1: norm(&format!("{p}.ln_1"))?,
                attn_c_attn: linear(&format!("{p}.attn.c_attn"), 3 * c, c)?,
                attn_c_proj: linear(&format!("{p}.attn.c_proj"), c, c)?,
                ln_2: norm(&format!("{p}.ln_2"))?,
                mlp_c_fc: linear(&format!("{p}.mlp.c_fc"), 4 * c, c)?,
                mlp_c_proj: linear(&format!("{p}.mlp.c_proj"), c, 4 * c)?,
                cache: KvCache::new(gpu, block_size, n_head, n_head, c / n_head)?,
            });
        }
        Ok(Gpt {
            wte: w.tensor("wte.weight", &[vocab.len(), c])?,
            wpe: w.tensor("wpe.weight", &[block_size, c])?,
            ln_f: norm("ln_f")?,
            lm_head: Linear { weight: w.tensor("lm_head.weight", &[outputs, c])?, bias: None },
            vocab,
            outputs,
            block_size,
            n_head,
            n_embd: c,
            h,
            buffers: Scratch::new(),
        })
    }

    /// The tokens (characters, or codes and classes), indexed by token id.
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    pub fn n_layer(&self) -> usize {
        self.h.len()
    }

    pub fn n_head(&self) -> usize {
        self.n_head
    }
}

impl LanguageModel for Gpt {
    fn vocab_size(&self) -> usize {
        self.outputs
    }

    fn input_vocab(&self) -> usize {
        self.vocab.len()
    }

    fn context(&self) -> usize {
        self.block_size
    }

    /// Watched, also the attention scores of the last `min(t, ATTENTION_ROWS)` queries,
    /// `[n_layer, n_head, rows, block_size]`, each row over the cache positions, and the lens.
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

impl Gpt {
    /// The blocks over `ids`, then the head over every position or the last one.
    fn pass(
        &mut self,
        gpu: &Gpu,
        ids: &[u32],
        past: usize,
        watch: Watch,
        every_position: bool,
    ) -> Result<Output<'_>> {
        let (t, c, v) = (ids.len(), self.n_embd, self.outputs);
        if t == 0 || past + t > self.block_size {
            return Err(Error::Invalid(format!(
                "{t} tokens after {past} do not fit the context of {}",
                self.block_size
            )));
        }
        let b = self.buffers.get(t, || Buffers::new(gpu, t, c, v))?;
        if watch.attention && b.attention.is_none() {
            let (layers, rows) = (self.h.len(), t.min(ATTENTION_ROWS));
            b.attention =
                Some(AttentionBuffers::new(gpu, layers, self.n_head, rows, self.block_size)?);
        }
        if watch.lens && b.lens.is_none() {
            b.lens = Some(LensBuffers::new(gpu, self.h.len(), c, v)?);
        }
        let watched = b.attention.as_ref().filter(|_| watch.attention);
        let lens = b.lens.as_ref().filter(|_| watch.lens);
        let keep = |x: &Tensor, row: usize| lens.map_or(Ok(()), |lens| lens.keep(gpu, x, row));
        let b = &*b;
        // wte(ids) + wpe(positions past..), in one dispatch.
        embedding_at(gpu, &self.wte, ids, &self.wpe, past, &b.x)?;
        keep(&b.x, 0)?;
        let heads = [t, self.n_head, c / self.n_head];
        let scale = 1.0 / ((c / self.n_head) as f32).sqrt();
        for (l, block) in self.h.iter().enumerate() {
            // x + attn(ln_1(x)): the query, and the new keys and values straight into the cache,
            // come out of one matmul.
            let new_rows = Split { k: &block.cache.k, v: &block.cache.v, row: past };
            let qkv = Fused { split: Some(new_rows), ..block.ln_1.before() };
            block.attn_c_attn.forward(gpu, &b.x, qkv, &b.q)?;
            let scores = watched.map(|w| &w.layer);
            attention(
                gpu,
                &b.q.view(&heads)?,
                &block.cache,
                past,
                scale,
                scores,
                &b.att.view(&heads)?,
            )?;
            if let Some(w) = watched {
                w.keep(gpu, l)?;
            }
            let plus_x = Fused { residual: Some(&b.x), ..Fused::default() };
            block.attn_c_proj.forward(gpu, &b.att, plus_x, &b.y)?;
            keep(&b.y, 2 * l + 1)?;
            // y + mlp(ln_2(y))
            let gelu = Fused { activation: Some(Activation::Gelu), ..block.ln_2.before() };
            block.mlp_c_fc.forward(gpu, &b.y, gelu, &b.act)?;
            let plus_y = Fused { residual: Some(&b.y), ..Fused::default() };
            block.mlp_c_proj.forward(gpu, &b.act, plus_y, &b.x)?;
            keep(&b.x, 2 * l + 2)?;
        }
        let (x, logits) = match (&b.last, every_position) {
            (Some(last), false) => last.take(gpu, &b.x)?,
            _ => (&b.x, &b.logits),
        };
        self.lm_head.forward(gpu, x, self.ln_f.before(), logits)?;
        if let Some(lens) = lens {
            self.lm_head.forward(gpu, &lens.stream, self.ln_f.before(), &lens.logits)?;
        }
        Ok(Output {
            logits,
            attention: watched.map(|w| &w.recent),
            lens: lens.map(LensBuffers::lens),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::models::LanguageModel;
    use crate::testing::*;

    const CARD: &str = include_str!("../../www/models/gpt_shakespeare.json");
    const WEIGHTS: &[u8] = include_bytes!("../../www/models/gpt_shakespeare.safetensors");
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/gpt_shakespeare.safetensors");

    /// Logits against PyTorch's, in one pass and step by step through the caches.
    async fn matches_pytorch(gpu: &Gpu) {
        let fixture = SafeTensors::parse(FIXTURE).unwrap();
        let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
        let v = gpt.vocab().len();
        let ids = fixture.i64("ids", &[1, 97]).unwrap();
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        let want = fixture.f32("logits", &[1, 97, v]).unwrap();
        let full =
            gpt.forward(gpu, &ids, 0, Watch::NOTHING).unwrap().logits.read(gpu).await.unwrap();
        // Logits of size ~10 after 6 blocks of sums over 180-720 products each, in another
        // order than PyTorch's: 1.2e-5 at most on lavapipe.
        assert_close("GPT logits, one pass", &full, &want, 6e-5, 1e-5);
        // The head over the last position only: that row, up to the order of the sums (the
        // row kernel reads one row, the tiled kernel the pass's 97).
        let last = gpt.forward_last(gpu, &ids, 0, Watch::NOTHING).unwrap().logits;
        assert_eq!(last.shape(), [1, v]);
        let last = last.read(gpu).await.unwrap();
        assert_close("GPT logits, last position only", &last, &full[96 * v..], 2e-5, 1e-5);

        // A 40-token prompt, then one token at a time through the caches: every row is
        // computed in the same order either way, so this is exact on lavapipe.
        let mut stepped = gpt
            .forward(gpu, &ids[..40], 0, Watch::NOTHING)
            .unwrap()
            .logits
            .read(gpu)
            .await
            .unwrap();
        for p in 40..97 {
            let step = gpt.forward(gpu, &ids[p..p + 1], p, Watch::NOTHING).unwrap();
            stepped.extend(step.logits.read(gpu).await.unwrap());
        }
        assert_close("GPT logits, cached steps", &stepped, &full, 2e-5, 1e-5);

        // The logit lens at the last position, after 97 tokens in one pass and after a cached
        // step: the head over 13 rows of the stream, each summed as the pass's own head sums.
        let (rows, c) = (2 * gpt.n_layer() + 1, gpt.n_embd);
        let want = fixture.f32("lens", &[rows, v]).unwrap();
        for (ids, past) in [(&ids[..], 0), (&ids[96..], 96)] {
            let out = gpt.forward_last(gpu, ids, past, Watch::LENS).unwrap();
            let lens = out.lens.unwrap();
            assert_eq!(lens.stream.shape(), [rows, c]);
            let got = lens.logits.read(gpu).await.unwrap();
            assert_close(&format!("GPT logit lens after {past}"), &got, &want, 6e-5, 1e-5);
        }
    }

    gpu_tests! {
        async fn logits_match_pytorch_and_the_cache_matches_a_full_pass() {
            matches_pytorch(gpu().await).await;
        }

        async fn the_reference_device_matches_pytorch() {
            matches_pytorch(&Gpu::reference()).await;
        }

        async fn attention_scores_are_causal_and_agree_between_prompt_and_steps() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let (layers, heads, cap) = (gpt.n_layer(), gpt.n_head(), gpt.context());
            let ids: Vec<u32> = (0..37).map(|i| (i * 29 % 81) as u32).collect();
            let plain = gpt.forward(gpu, &ids, 0, Watch::NOTHING).unwrap().logits.read(gpu).await.unwrap();
            let out = gpt.forward(gpu, &ids, 0, Watch::ATTENTION).unwrap();
            let watched = out.logits.read(gpu).await.unwrap();
            assert_eq!(watched, plain, "watching attention changes the logits");
            let rows = ATTENTION_ROWS;
            let prompt = out.attention.unwrap().read(gpu).await.unwrap();
            assert_eq!(prompt.len(), layers * heads * rows * cap);
            for (n, row) in prompt.chunks(cap).enumerate() {
                let query = ids.len() - rows + n % rows;
                assert!(row[..=query].iter().all(|s| s.is_finite()), "row {n} (query {query})");
                assert!(row[..=query].iter().any(|&s| s != 0.0), "row {n} misses its keys");
                assert!(row[query + 1..].iter().all(|&s| s == 0.0), "row {n} sees the future");
            }
            // The heads differ: attention is not one pattern copied.
            assert_ne!(prompt[..cap], prompt[rows * cap..(rows + 1) * cap]);

            // The prompt's last query again, as one cached step: the same rows of every layer.
            let last = ids.len() - 1;
            gpt.forward(gpu, &ids[..last], 0, Watch::NOTHING).unwrap();
            let step = gpt.forward(gpu, &ids[last..], last, Watch::ATTENTION).unwrap();
            let stepped = step.attention.unwrap().read(gpu).await.unwrap();
            let from_prompt: Vec<f32> = prompt
                .chunks(rows * cap)
                .flat_map(|head| &head[(rows - 1) * cap..])
                .copied()
                .collect();
            assert_close("last query's attention scores, cached step", &stepped, &from_prompt, 1e-5, 1e-5);
        }

        async fn a_decode_step_makes_nothing_and_reads_back_only_what_is_used() {
            use crate::text::generation::Generation;
            use crate::text::sampling::Sampling;
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let (v, layers, heads, cap) = (gpt.vocab().len(), gpt.n_layer(), gpt.n_head(), gpt.context());
            let c = gpt.n_embd;
            let prompt: Vec<u32> = (0..23).map(|i| (i * 13 % 81) as u32).collect();
            let sampling = Sampling { temperature: 0.8, top_k: 0, top_p: 1.0 };
            let mut generation = Generation::new(&gpt, &prompt, sampling, 3, 8).unwrap();
            // The prompt's pass; then the first decode step of each kind makes its buffers.
            for (watch, steps) in [(Watch::NOTHING, 3), (Watch::ATTENTION, 2), (Watch::LENS, 2)] {
                for n in 0..steps {
                    let before = gpu.stats();
                    generation.step(gpu, &mut gpt, watch).await.unwrap();
                    if n + 1 < steps {
                        continue;
                    }
                    let step = gpu.stats() - before;
                    assert_made_nothing(&format!("a GPT decode step, watching {watch:?}"), step);
                    // The embeddings, 5 a block (the norms, bias, GELU, residuals and the cache
                    // write fused into the matmuls) and the head (and the lens's head), in one
                    // pass unless rows are copied out for the heatmap or the lens.
                    assert_eq!(step.dispatches, 2 + 5 * layers as u64 + watch.lens as u64, "{step:?}");
                    assert!(watch != Watch::NOTHING || step.compute_passes == 1, "{step:?}");
                    let logits = v as u64 * 4;
                    let attention = if watch.attention { layers * heads * cap * 4 } else { 0 };
                    let lens = if watch.lens { (2 * layers + 1) * (c + v) * 4 } else { 0 };
                    assert_eq!(step.bytes_read_back, logits + (attention + lens) as u64, "{step:?}");
                    let reads = 1 + watch.attention as u64 + 2 * watch.lens as u64;
                    assert_eq!(step.submissions, reads, "{step:?}");
                }
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(Gpt::load(gpu, CARD, &WEIGHTS[..WEIGHTS.len() / 2]).map(drop));
            let seven_heads = CARD.replace("\"n_head\": 6", "\"n_head\": 7");
            invalid(Gpt::load(gpu, &seven_heads, WEIGHTS).map(drop));
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            invalid(gpt.forward(gpu, &[], 0, Watch::NOTHING).map(drop));
            invalid(gpt.forward(gpu, &[1, 2], 255, Watch::ATTENTION).map(drop));
            invalid(gpt.forward(gpu, &[81], 0, Watch::NOTHING).map(drop));
            gpu.check().unwrap();
        }
    }
}
