//! Writing text with a language model, one token per step: the prompt is read in one pass, then each new
//! token in one pass over one position, through the KV caches. When the text outgrows the
//! model's context, the window slides: its older half is dropped and the rest read again, which
//! costs one prompt pass per half a context of new tokens.

use super::sampling::{
    candidate_probabilities, candidates_suffice, probabilities, sample, sample_candidates, Sampling,
};
use crate::error::invalid;
use crate::models::{relative_changes, LanguageModel, Watch};
use crate::ops::attention::weights_from_scores;
use crate::ops::topk::{output_len, top_k, top_k_ref, Candidates};
use crate::rng::Rng;
use crate::{Gpu, Result, Tensor};

/// The most tokens one generation may write: a guard against absurd requests, not a limit of
/// the model (its window slides).
pub const MAX_LENGTH: usize = 100_000;

/// A step of a model with a large vocabulary reads back only its likeliest tokens, found on the
/// GPU (`ops::topk`), whenever the sampling keeps no more (greedy, or a top-k of at most this).
pub const CANDIDATES: usize = 64;
/// From this vocabulary size on; smaller rows come back whole (the character GPT's 81 logits).
pub const CANDIDATES_FROM_VOCAB: usize = 4096;
/// How many of each logit-lens row's likeliest tokens a step keeps.
pub const LENS_CANDIDATES: usize = 5;

pub struct Generation {
    /// The tokens the model reads, oldest first: at most its block size.
    window: Vec<u32>,
    /// How many of `window` the caches hold already.
    cached: usize,
    /// The window was cut since the last step.
    slid: bool,
    remaining: usize,
    /// Tokens that end the generation once written (a chat model's end of turn).
    stop: Vec<u32>,
    sampling: Sampling,
    rng: Rng,
    /// Vocabularies from this size on read back candidates only (see `CANDIDATES`).
    candidates_from: usize,
    /// Where the GPU leaves the candidates, made on the first step that reads them, and those
    /// of the lens's rows.
    candidates: Option<Tensor>,
    lens_candidates: Option<Tensor>,
}

/// `kept` if it has `shape`, else a new tensor of it.
fn reuse(gpu: &Gpu, kept: Option<Tensor>, shape: &[usize]) -> Result<Tensor> {
    match kept {
        Some(t) if t.shape() == shape => Ok(t),
        _ => Tensor::zeros(gpu, shape),
    }
}

/// One written token and what the model saw when it chose it.
pub struct Step {
    pub id: u32,
    /// The model's own next-token probabilities (temperature 1), whatever the sampling, indexed
    /// by token id; where only the likeliest tokens were read back (`CANDIDATES`), theirs, and 0
    /// for the others.
    pub probabilities: Vec<f32>,
    /// How many tokens the model read for this prediction: the last `window` of the text.
    pub window: usize,
    /// How many of them this step's pass read (the rest were in the caches).
    pub fresh: usize,
    /// Attention weights `[n_layer, n_head, rows, block_size]` of the last `rows` queries of
    /// this step's pass, when watched; empty otherwise. Row `r` is the query at window position
    /// `window - rows + r`, its entry `j` the weight on window position `j` (0 past the query).
    pub attention: Vec<f32>,
    /// The raw scores `q.k / sqrt(head_dim)` those weights are the softmax of, in the same
    /// layout (0 past the query).
    pub scores: Vec<f32>,
    pub rows: usize,
    /// When the lens was watched, the next-token probabilities (temperature 1) read out of the
    /// residual stream after the embedding, then after each block's attention and its MLP,
    /// `[2 n_layer + 1, vocab]` (vocabularies under `CANDIDATES_FROM_VOCAB` only: the others'
    /// rows stay on the GPU), each row's `LENS_CANDIDATES` likeliest tokens (every vocabulary),
    /// and how much each of those sub-layers changed the stream, `[2 n_layer]` (see
    /// `relative_changes`); empty otherwise.
    pub lens: Vec<f32>,
    pub lens_candidates: Vec<Candidates>,
    pub changes: Vec<f32>,
    /// The window was cut before this step, and read again.
    pub slid: bool,
    /// Tokens still to write after this one: 0 once the length is reached or a stop token
    /// was written.
    pub remaining: usize,
}

impl Generation {
    /// A generation of `length` tokens after `prompt`, drawing with `sampling` from `seed`. A
    /// prompt longer than the model's context keeps only its end, and the first step says so.
    pub fn new(
        model: &impl LanguageModel,
        prompt: &[u32],
        sampling: Sampling,
        seed: u64,
        length: usize,
    ) -> Result<Generation> {
        sampling.check()?;
        if prompt.is_empty() {
            invalid!("the prompt is empty: give the model at least one character to continue");
        }
        if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= model.input_vocab()) {
            invalid!("token id {bad} is outside the vocabulary of {}", model.input_vocab());
        }
        if !(1..=MAX_LENGTH).contains(&length) {
            invalid!("the length must be from 1 to {MAX_LENGTH} tokens; got {length}");
        }
        let start = prompt.len().saturating_sub(model.context());
        Ok(Generation {
            window: prompt[start..].to_vec(),
            cached: 0,
            slid: start > 0,
            remaining: length,
            stop: Vec::new(),
            sampling,
            rng: Rng::new(seed),
            candidates_from: CANDIDATES_FROM_VOCAB,
            candidates: None,
            lens_candidates: None,
        })
    }

    /// Ends the generation as soon as one of `stop` is written (it is still returned).
    pub fn stop_at(mut self, stop: &[u32]) -> Generation {
        self.stop = stop.to_vec();
        self
    }

    /// Keeps what `previous` (the last generation on the same model) left in the caches, for
    /// the longest start this prompt shares with it: a chat's next turn reads only its new
    /// tokens. Rows past the shared start are rewritten before anything reads them.
    pub fn reuse(mut self, previous: &Generation) -> Generation {
        if !self.slid {
            let held = &previous.window[..previous.cached];
            let shared = held.iter().zip(&self.window).take_while(|(a, b)| a == b).count();
            // At least the last prompt token is read again: its pass gives the next logits.
            self.cached = shared.min(self.window.len() - 1);
        }
        self
    }

    /// Forgets what the caches held (the model was loaded again onto a new device): the next
    /// step reads the whole window.
    pub fn caches_lost(&mut self) {
        self.cached = 0;
        // They were on the lost device.
        (self.candidates, self.lens_candidates) = (None, None);
    }

    /// Reads back candidates only from vocabularies of `vocab` on (for tests on a small model).
    #[cfg(test)]
    fn candidates_from(mut self, vocab: usize) -> Generation {
        self.candidates_from = vocab;
        self
    }

    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// The tokens the next step reads, oldest first (what its attention rows are over).
    pub fn window(&self) -> &[u32] {
        &self.window
    }

    /// Reads what the caches lack (the prompt, or the last token), draws the next token and
    /// appends it. The step carries what `watch` asked the pass to keep, where the model has it.
    pub async fn step(
        &mut self,
        gpu: &Gpu,
        model: &mut impl LanguageModel,
        watch: Watch,
    ) -> Result<Step> {
        if self.remaining == 0 {
            invalid!("this generation has written all its tokens; start a new one");
        }
        let (past, window) = (self.cached, self.window.len());
        let out = model.forward_last(gpu, &self.window[past..], past, watch)?;
        let (rows, attention, scores) = match out.attention {
            Some(a) => {
                let (rows, context, scores) = (a.shape()[2], a.shape()[3], a.read(gpu).await?);
                // Query r of the last `rows` sees the keys up to its own position.
                let visible = |r| window - rows + r % rows + 1;
                (rows, weights_from_scores(&scores, context, visible), scores)
            }
            None => (0, Vec::new(), Vec::new()),
        };
        let vocab = out.logits.shape()[1];
        let (lens, lens_candidates, changes) = match &out.lens {
            Some(lens) => {
                let width = lens.stream.shape()[1];
                let changes = relative_changes(&lens.stream.read(gpu).await?, width);
                let (k, rows) = (LENS_CANDIDATES.min(vocab), lens.logits.shape()[0]);
                let (dense, found) = if vocab >= self.candidates_from {
                    let found = reuse(gpu, self.lens_candidates.take(), &[rows, output_len(k)])?;
                    top_k(gpu, lens.logits, k, 1.0, &found)?;
                    let read = found.read(gpu).await?;
                    self.lens_candidates = Some(found);
                    (Vec::new(), read)
                } else {
                    let logits = lens.logits.read(gpu).await?;
                    let found = logits.chunks(vocab).flat_map(|row| top_k_ref(row, k, 1.0));
                    let found = found.collect();
                    (logits.chunks(vocab).flat_map(|row| probabilities(row, 1.0)).collect(), found)
                };
                let rows = found.chunks(output_len(k)).map(Candidates::from_output);
                (dense, rows.collect::<Result<_>>()?, changes)
            }
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        let all = out.logits.numel();
        let k = CANDIDATES.min(vocab);
        let (id, probabilities) =
            if vocab >= self.candidates_from && candidates_suffice(k, &self.sampling) {
                let found = reuse(gpu, self.candidates.take(), &[output_len(k)])?;
                let row = out.logits.view(&[all])?;
                top_k(gpu, &row, k, self.sampling.temperature, &found)?;
                let c = Candidates::from_output(&found.read(gpu).await?)?;
                self.candidates = Some(found);
                let id = sample_candidates(&c, &self.sampling, &mut self.rng)?;
                (id, candidate_probabilities(&c, vocab))
            } else {
                let last = out.logits.read_range(gpu, all - vocab..all).await?;
                let id = sample(&last, &self.sampling, &mut self.rng)? as u32;
                (id, probabilities(&last, 1.0))
            };
        let slid = std::mem::take(&mut self.slid);
        self.cached = window;
        self.window.push(id);
        self.remaining = if self.stop.contains(&id) { 0 } else { self.remaining - 1 };
        if self.window.len() > model.context() {
            self.window.drain(..self.window.len() - model.context() / 2);
            (self.cached, self.slid) = (0, true);
        }
        let remaining = self.remaining;
        Ok(Step {
            id,
            probabilities,
            window,
            fresh: window - past,
            attention,
            scores,
            rows,
            lens,
            lens_candidates,
            changes,
            slid,
            remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gpt::Gpt;
    use crate::testing::*;
    use crate::Error;

    const CARD: &str = include_str!("../../www/models/gpt_shakespeare.json");
    const WEIGHTS: &[u8] = include_bytes!("../../www/models/gpt_shakespeare.safetensors");

    fn sampling(temperature: f32) -> Sampling {
        Sampling { temperature, top_k: 0, top_p: 1.0 }
    }

    /// Writes `n` tokens after `prompt`.
    async fn write(gpt: &mut Gpt, prompt: &[u32], s: Sampling, seed: u64, n: usize) -> Vec<Step> {
        let gpu = gpu().await;
        let mut generation = Generation::new(gpt, prompt, s, seed, n).unwrap();
        let mut steps = Vec::new();
        while generation.remaining() > 0 {
            steps.push(generation.step(gpu, gpt, Watch::NOTHING).await.unwrap());
        }
        steps
    }

    /// Each attention row of `step` weighs the window up to its own query, and nothing after.
    fn attends_to_the_past_only(step: &Step, context: usize) {
        assert_eq!(step.scores.len(), step.attention.len());
        let rows = step.attention.chunks(context).zip(step.scores.chunks(context));
        for (n, (weights, scores)) in rows.enumerate() {
            let query = step.window - step.rows + n % step.rows;
            let sum: f32 = weights.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "row {n} (query {query}) sums to {sum}");
            assert!(weights[..=query].iter().all(|&w| w > 0.0), "row {n} misses a key");
            let after = weights[query + 1..].iter().chain(&scores[query + 1..]);
            assert!(after.into_iter().all(|&x| x == 0.0), "row {n} sees the future");
        }
    }

    gpu_tests! {
        async fn candidates_found_on_the_gpu_write_what_the_whole_row_writes() {
            // A device of its own, so that only this test's reads are counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let prompt: Vec<u32> = (0..13).map(|i| (i * 11 % 81) as u32).collect();
            for s in [sampling(0.0), Sampling { temperature: 0.9, top_k: 20, top_p: 0.95 }] {
                let mut whole = Generation::new(&gpt, &prompt, s, 5, 12).unwrap();
                let mut found = Generation::new(&gpt, &prompt, s, 5, 12).unwrap().candidates_from(81);
                while whole.remaining() > 0 {
                    let a = whole.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
                    let before = gpu.stats();
                    let b = found.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
                    let read = (gpu.stats() - before).bytes_read_back;
                    assert_eq!(b.id, a.id, "{s:?}");
                    assert_eq!(read, 4 * output_len(64) as u64, "only the candidates come back");
                    // The drawn token's probability and the likeliest one's, as the row has them.
                    let largest = |p: &[f32]| p.iter().fold(0.0f32, |m, &v| m.max(v));
                    let drawn = a.id as usize;
                    assert!((b.probabilities[drawn] - a.probabilities[drawn]).abs() < 1e-6);
                    assert!((largest(&b.probabilities) - largest(&a.probabilities)).abs() < 1e-6);
                }
            }
            // Top-k 0 keeps every token: the whole row comes back.
            let every = Sampling { temperature: 1.0, top_k: 0, top_p: 0.9 };
            let mut g = Generation::new(&gpt, &prompt, every, 5, 2).unwrap().candidates_from(81);
            g.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
            let before = gpu.stats();
            g.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
            assert_eq!((gpu.stats() - before).bytes_read_back, 81 * 4);
        }

        async fn greedy_steps_match_full_passes_and_seeds_repeat() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let prompt: Vec<u32> = (0..11).map(|i| (i * 7 % 81) as u32).collect();
            let greedy = write(&mut gpt, &prompt, sampling(0.0), 1, 20).await;
            // Each greedy token is the argmax of a full pass over everything before it.
            let mut text = prompt.clone();
            for step in &greedy {
                let logits = gpt.forward(gpu, &text, 0, Watch::NOTHING).unwrap().logits;
                let logits = logits.read(gpu).await.unwrap();
                let last = &logits[logits.len() - 81..];
                let best = (0..81).max_by(|&a, &b| last[a].total_cmp(&last[b])).unwrap();
                assert_eq!(step.id as usize, best, "greedy token {} of {text:?}", text.len());
                let want = probabilities(last, 1.0);
                assert_close("step probabilities", &step.probabilities, &want, 1e-6, 1e-5);
                text.push(step.id);
            }
            assert_eq!(greedy.last().unwrap().remaining, 0);

            let ids = |steps: Vec<Step>| steps.iter().map(|s| s.id).collect::<Vec<_>>();
            let warm = Sampling { temperature: 0.9, top_k: 20, top_p: 0.95 };
            let a = ids(write(&mut gpt, &prompt, warm, 7, 30).await);
            assert_eq!(a, ids(write(&mut gpt, &prompt, warm, 7, 30).await), "same seed");
            assert_ne!(a, ids(write(&mut gpt, &prompt, warm, 8, 30).await), "another seed");
        }

        async fn a_next_turn_reuses_the_caches_and_writes_the_same() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let warm = Sampling { temperature: 0.9, top_k: 20, top_p: 0.95 };
            let prompt: Vec<u32> = (0..23).map(|i| (i * 11 % 81) as u32).collect();
            let mut first = Generation::new(&gpt, &prompt, warm, 3, 9).unwrap();
            let mut text = prompt.clone();
            while first.remaining() > 0 {
                text.push(first.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap().id);
            }
            // The next turn: everything so far, the last written token changed, and more.
            *text.last_mut().unwrap() = 5;
            text.extend([40, 41, 42]);
            let ids = |steps: Vec<Step>| steps.iter().map(|s| s.id).collect::<Vec<_>>();
            let want = ids(write(&mut gpt, &text, warm, 4, 12).await);
            let mut first = Generation::new(&gpt, &prompt, warm, 3, 9).unwrap();
            while first.remaining() > 0 {
                first.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
            }
            let mut next = Generation::new(&gpt, &text, warm, 4, 12).unwrap().reuse(&first);
            let mut got = vec![next.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap()];
            // The caches held the prompt and 8 written tokens (the 9th was never read).
            assert_eq!(got[0].fresh, text.len() - (prompt.len() + 8));
            while next.remaining() > 0 {
                got.push(next.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap());
            }
            assert_eq!(ids(got), want, "reusing the caches changes nothing");
        }

        async fn a_watched_lens_ends_in_the_steps_own_probabilities() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let prompt: Vec<u32> = (0..19).map(|i| (i * 7 % 81) as u32).collect();
            let mut g = Generation::new(&gpt, &prompt, sampling(0.8), 5, 3).unwrap();
            // The same, with each lens row's candidates found on the GPU, as a large vocabulary's.
            let mut on_gpu = Generation::new(&gpt, &prompt, sampling(0.8), 5, 3).unwrap().candidates_from(81);
            let plain = write(&mut gpt, &prompt, sampling(0.8), 5, 3).await;
            let layers = gpt.n_layer();
            for want in plain {
                let step = g.step(gpu, &mut gpt, Watch::LENS).await.unwrap();
                let found = on_gpu.step(gpu, &mut gpt, Watch::LENS).await.unwrap();
                assert_eq!(found.id, step.id);
                assert!(found.lens.is_empty() && step.lens_candidates.len() == 2 * layers + 1);
                for (row, (gpu_row, host_row)) in found.lens_candidates.iter().zip(&step.lens_candidates).enumerate() {
                    assert_eq!(gpu_row.ids, host_row.ids, "lens row {row}");
                    // The candidates are the dense row's likeliest, with its probabilities.
                    let dense = &step.lens[row * 81..(row + 1) * 81];
                    let want: Vec<f32> = host_row.ids.iter().map(|&id| dense[id as usize]).collect();
                    assert_close(&format!("lens row {row}'s candidates"), &gpu_row.probabilities(), &want, 1e-6, 1e-5);
                    assert!(want.windows(2).all(|w| w[0] >= w[1]) && dense.iter().all(|&p| p <= want[0]));
                }
                assert_eq!(step.id, want.id, "watching the lens changes the text");
                assert_eq!((step.lens.len(), step.changes.len()), ((2 * layers + 1) * 81, 2 * layers));
                for row in step.lens.chunks(81) {
                    let sum: f32 = row.iter().sum();
                    assert!((sum - 1.0).abs() < 1e-5, "a lens row sums to {sum}");
                }
                // The head over the stream's last row is the step's own head.
                let last = &step.lens[step.lens.len() - 81..];
                assert_close("the lens's last row", last, &want.probabilities, 1e-6, 1e-5);
                assert!(step.changes.iter().all(|&c| c.is_finite() && c > 0.0), "{:?}", step.changes);
            }
        }

        async fn the_window_slides_when_the_context_is_full() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let block = gpt.context();
            // A prompt longer than the context: the first step reads its last `block` tokens.
            let long: Vec<u32> = (0..block + 9).map(|i| (i * 13 % 81) as u32).collect();
            let mut g = Generation::new(&gpt, &long, sampling(0.0), 1, block / 2 + 10).unwrap();
            let first = g.step(gpu, &mut gpt, Watch::ATTENTION).await.unwrap();
            assert!(first.slid && first.window == block, "{} {}", first.slid, first.window);
            assert_eq!(first.rows, crate::models::gpt::ATTENTION_ROWS);
            attends_to_the_past_only(&first, block);
            let want = gpt.forward(gpu, &long[9..], 0, Watch::NOTHING).unwrap().logits;
            let want = want.read(gpu).await.unwrap();
            let want = probabilities(&want[want.len() - 81..], 1.0);
            assert_close("a cut prompt's first step", &first.probabilities, &want, 1e-6, 1e-5);
            // That token overflowed the window: the next step reads its newer half again.
            let second = g.step(gpu, &mut gpt, Watch::ATTENTION).await.unwrap();
            assert!(second.slid && second.window == block / 2 && second.rows > 1);
            let mut windows = vec![first.window, second.window];
            while g.remaining() > 0 {
                let step = g.step(gpu, &mut gpt, Watch::ATTENTION).await.unwrap();
                assert_eq!(step.slid, step.window == block / 2);
                assert_eq!(step.rows == 1, !step.slid, "a slide reads the window again");
                attends_to_the_past_only(&step, block);
                windows.push(step.window);
            }
            assert!(windows.iter().all(|&w| w <= block), "{windows:?}");
            assert_eq!(windows.iter().filter(|&&w| w == block / 2).count(), 2, "{windows:?}");
        }

        async fn a_stop_token_ends_it_and_bad_settings_are_refused() {
            let gpu = gpu().await;
            let mut gpt = Gpt::load(gpu, CARD, WEIGHTS).unwrap();
            let invalid = |r: Result<Generation>| {
                assert!(matches!(r, Err(Error::Invalid(_))), "{:?}", r.map(|_| ()))
            };
            invalid(Generation::new(&gpt, &[], sampling(1.0), 1, 10));
            invalid(Generation::new(&gpt, &[1, 81], sampling(1.0), 1, 10));
            invalid(Generation::new(&gpt, &[1], sampling(-1.0), 1, 10));
            invalid(Generation::new(&gpt, &[1], Sampling { top_p: 0.0, ..sampling(1.0) }, 1, 10));
            invalid(Generation::new(&gpt, &[1], sampling(1.0), 1, 0));
            invalid(Generation::new(&gpt, &[1], sampling(1.0), 1, MAX_LENGTH + 1));
            // Greedy after "\n" writes some token first: stopping at it ends at once.
            let first = write(&mut gpt, &[0], sampling(0.0), 1, 1).await[0].id;
            let mut stopping = Generation::new(&gpt, &[0], sampling(0.0), 1, 50).unwrap().stop_at(&[first]);
            let step = stopping.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
            assert_eq!((step.id, step.remaining, step.fresh), (first, 0, 1));
            let mut done = Generation::new(&gpt, &[1], sampling(1.0), 1, 1).unwrap();
            done.step(gpu, &mut gpt, Watch::NOTHING).await.unwrap();
            assert!(matches!(done.step(gpu, &mut gpt, Watch::NOTHING).await, Err(Error::Invalid(_))));
        }
    }
}
