//! Causal multi-head attention over a KV cache, with grouped-query heads: one kernel for a whole
//! prompt (many new tokens) and for one generated token.

use super::softmax::softmax_ref;
use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const ATTENTION: Kernel<Params> = kernel!("attention.wgsl", "main", uses "reduce.wgsl");
pub(super) const COMBINE: Kernel<CombineParams> = kernel!("attention_combine.wgsl", "main");
/// The kernel keeps the query in workgroup memory and gives each of its 64 threads 4 dims.
pub const MAX_HEAD_DIM: usize = 256;
/// A decode step over more keys than this, on a hardware GPU, spreads each head over
/// workgroups of `SEGMENT` keys and adds their parts in a second dispatch (see `attention`).
pub const SPLIT_PAST: usize = 256;
const SEGMENT: usize = 128;

/// One layer's cached keys and values, each `[capacity, n_kv_heads, head_dim]`; row `j` holds
/// the token at position `j`.
pub struct KvCache {
    pub k: Tensor,
    pub v: Tensor,
    /// The query heads that read it.
    n_heads: usize,
    /// Where a decode step split over the keys leaves each segment's part: `[n_heads,
    /// segments, 2 + head_dim]`, for caches of more than `SPLIT_PAST` rows on a hardware GPU.
    partials: Option<Tensor>,
}

impl KvCache {
    /// An empty (zero-filled) cache for `capacity` tokens, read by `n_heads` query heads.
    pub fn new(
        gpu: &Gpu,
        capacity: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
    ) -> Result<KvCache> {
        let split = !gpu.is_software();
        KvCache::made(gpu, [capacity, n_heads, n_kv_heads, head_dim], split)
    }

    /// `new`, with the partials of a split decode step (see `attention`) where `split` and the
    /// capacity passes `SPLIT_PAST`.
    fn made(gpu: &Gpu, size: [usize; 4], split: bool) -> Result<KvCache> {
        let [capacity, n_heads, n_kv_heads, head_dim] = size;
        let shape = [capacity, n_kv_heads, head_dim];
        let partials = (split && capacity > SPLIT_PAST)
            .then(|| Tensor::zeros(gpu, &[n_heads, capacity.div_ceil(SEGMENT), 2 + head_dim]))
            .transpose()?;
        let (k, v) = (Tensor::zeros(gpu, &shape)?, Tensor::zeros(gpu, &shape)?);
        Ok(KvCache { k, v, n_heads, partials })
    }

    pub fn capacity(&self) -> usize {
        self.k.shape()[0]
    }

    /// Writes the keys and values of new tokens, each `[tokens, n_kv_heads, head_dim]`, into
    /// rows `past..past + tokens`.
    pub fn append(&self, gpu: &Gpu, k: &Tensor, v: &Tensor, past: usize) -> Result<()> {
        let row = &self.k.shape()[1..];
        if k.shape()[1..] != *row || k.shape().len() != 3 {
            invalid!("new keys {:?} do not match cache rows {row:?}", k.shape());
        }
        expect_shape("new values", v, k.shape())?;
        let offset = past.saturating_mul(row.iter().product());
        self.k.copy_from(gpu, k, offset)?;
        self.v.copy_from(gpu, v, offset)
    }
}

/// The problem size: `tokens` new queries `[tokens, n_heads, head_dim]` at positions
/// `past..past + tokens`, attending to the first `past + tokens` rows of the cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionDims {
    pub tokens: usize,
    pub past: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl AttentionDims {
    /// Works the size out from the query's and the cache's shapes and checks they fit together.
    pub fn new(q: &[usize], cache: &[usize], past: usize) -> Result<AttentionDims> {
        let (&[tokens, n_heads, head_dim], &[capacity, n_kv_heads, kv_dim]) = (q, cache) else {
            invalid!("attention needs 3-D q and cache [tokens or capacity, heads, head_dim]; got {q:?}, {cache:?}");
        };
        if q.contains(&0) || cache.contains(&0) {
            invalid!("attention shapes {q:?} and {cache:?} have no elements");
        }
        if kv_dim != head_dim {
            invalid!("attention head sizes differ: q {q:?}, cache {cache:?}");
        }
        if head_dim > MAX_HEAD_DIM {
            invalid!("attention head_dim {head_dim} exceeds the kernel's {MAX_HEAD_DIM}");
        }
        if n_heads % n_kv_heads != 0 {
            invalid!("{n_heads} query heads cannot share {n_kv_heads} kv heads evenly");
        }
        if tokens > capacity || past > capacity - tokens {
            invalid!("{past} cached + {tokens} new tokens overflow a cache of {capacity}");
        }
        Ok(AttentionDims { tokens, past, n_heads, n_kv_heads, head_dim })
    }

    /// Keys the last query sees.
    pub fn keys(&self) -> usize {
        self.past + self.tokens
    }

    /// Shape of the optional attention scores of the last `rows` queries: one row per head and
    /// query, over every row of a cache of `capacity`.
    pub fn scores_shape(&self, rows: usize, capacity: usize) -> [usize; 3] {
        [self.n_heads, rows, capacity]
    }
}

params! {
    pub(super) struct Params {
        t: u32,
        past: u32,
        n_heads: u32,
        n_kv_heads: u32,
        head_dim: u32,
        group: u32,
        scale: f32,
        /// How many of the last queries write their scores: 0 for none.
        score_rows: u32,
        capacity: u32,
        /// Keys per workgroup when split; 0 for all of a query's.
        segment: u32,
    }
}

params! {
    pub(super) struct CombineParams {
        head_dim: u32,
        segments: u32,
    }
}

/// `out = softmax(scale * q k^T, causal) v` for the new tokens in `q`, whose keys and values the
/// caller has already written into `cache` at rows `past..past + tokens`. `scores`, when given
/// as `[n_heads, rows, capacity]` (`rows` from 1 to `tokens`), receives the raw scores
/// `scale * q.k` of the last `rows` queries (0 for rows a query cannot see);
/// `weights_from_scores` turns them into the softmax weights.
///
/// A decode step (one token) over more than `SPLIT_PAST` keys, on a hardware GPU, gives each
/// head a workgroup per `SEGMENT` keys rather than one for them all (a GPU has far more cores
/// than a model has heads), and combines their parts in a second dispatch. On a software
/// adapter the cores are few and one workgroup per head keeps them all busy.
pub fn attention(
    gpu: &Gpu,
    q: &Tensor,
    cache: &KvCache,
    past: usize,
    scale: f32,
    scores: Option<&Tensor>,
    out: &Tensor,
) -> Result<()> {
    let d = AttentionDims::new(q.shape(), cache.k.shape(), past)?;
    expect_shape("attention values", &cache.v, cache.k.shape())?;
    expect_output("attention output", out, q.shape(), [q, &cache.k, &cache.v])?;
    if cache.n_heads != d.n_heads {
        invalid!("the cache was made for {} query heads, not {}", cache.n_heads, d.n_heads);
    }
    let score_rows = scores.map_or(0, |s| s.shape().get(1).copied().unwrap_or(0));
    if let Some(scores) = scores {
        if !(1..=d.tokens).contains(&score_rows) {
            invalid!("attention scores {:?} need 1 to {} rows per head", scores.shape(), d.tokens);
        }
        expect_output(
            "attention scores",
            scores,
            &d.scores_shape(score_rows, cache.capacity()),
            [q, &cache.k, &cache.v, out],
        )?;
    }
    if !scale.is_finite() {
        invalid!("attention scale {scale} is not finite");
    }
    if gpu.is_reference() {
        let (values, seen) =
            attention_ref(&d, &q.host()?, &cache.k.host()?, &cache.v.host()?, scale);
        if let Some(scores) = scores {
            // The last rows of each head, as wide as the cache, 0 where a query cannot see, as
            // the kernel writes them.
            let (keys, capacity) = (d.keys(), cache.capacity());
            let mut wide = vec![0.0; d.n_heads * score_rows * capacity];
            let last = seen
                .chunks(keys)
                .enumerate()
                .filter(|(r, _)| r % d.tokens >= d.tokens - score_rows);
            for (row, (_, s)) in wide.chunks_mut(capacity).zip(last) {
                row[..keys].copy_from_slice(s);
            }
            scores.set_host(wide)?;
        }
        return out.set_host(values);
    }
    let params = Params {
        t: to_u32("tokens", d.tokens)?,
        past: to_u32("past", d.past)?,
        n_heads: to_u32("heads", d.n_heads)?,
        n_kv_heads: to_u32("kv heads", d.n_kv_heads)?,
        head_dim: to_u32("head_dim", d.head_dim)?,
        group: to_u32("group", d.n_heads / d.n_kv_heads)?,
        scale,
        score_rows: to_u32("score rows", score_rows)?,
        capacity: to_u32("capacity", cache.capacity())?,
        segment: 0,
    };
    let scores = gpu.optional(scores)?;
    let split = cache.partials.as_ref().filter(|_| d.tokens == 1 && d.keys() > SPLIT_PAST);
    let buffers = [q.buffer()?, cache.k.buffer()?, cache.v.buffer()?, scores, out.buffer()?];
    let Some(partials) = split else {
        let groups = Workgroups::grid(gpu, [d.n_heads, d.tokens, 1])?;
        let buffers = [&buffers[..], &[gpu.optional_out(None, 0)?]].concat();
        return gpu.dispatch(&ATTENTION, &params, &buffers, groups, out);
    };
    let segments = d.keys().div_ceil(SEGMENT);
    let params = Params { segment: SEGMENT as u32, ..params };
    let groups = Workgroups::grid(gpu, [d.n_heads, segments, 1])?;
    let buffers = [&buffers[..], &[partials.buffer()?]].concat();
    gpu.dispatch(&ATTENTION, &params, &buffers, groups, out)?;
    let combine =
        CombineParams { head_dim: params.head_dim, segments: to_u32("segments", segments)? };
    let groups = Workgroups::grid(gpu, [d.n_heads, 1, 1])?;
    gpu.dispatch(&COMBINE, &combine, &[partials.buffer()?, out.buffer()?], groups, out)
}

/// The softmax weights of rows of scores as `attention` writes them, `capacity` wide: row `r`,
/// whose query sees `visible(r)` keys, normalised over those, and 0 beyond.
pub fn weights_from_scores(
    scores: &[f32],
    capacity: usize,
    visible: impl Fn(usize) -> usize,
) -> Vec<f32> {
    let mut weights = vec![0.0; scores.len()];
    for (r, (w, s)) in weights.chunks_mut(capacity).zip(scores.chunks(capacity)).enumerate() {
        let n = visible(r).min(capacity);
        w[..n].copy_from_slice(&softmax_ref(&s[..n], n));
    }
    weights
}

/// Reference in f64: returns the output `[tokens, n_heads, head_dim]` and the scaled scores
/// `[n_heads, tokens, past + tokens]`, those a query cannot see 0. `k` and `v` hold at least
/// `past + tokens` cache rows.
pub fn attention_ref(
    d: &AttentionDims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let (hd, n_keys) = (d.head_dim, d.keys());
    let mut out = vec![0.0; d.tokens * d.n_heads * hd];
    let mut all_scores = vec![0.0; d.n_heads * d.tokens * n_keys];
    for i in 0..d.tokens {
        for h in 0..d.n_heads {
            let qv = &q[(i * d.n_heads + h) * hd..][..hd];
            let kv_head = h / (d.n_heads / d.n_kv_heads);
            let row = |cache: &[f32], j: usize| -> Vec<f64> {
                cache[(j * d.n_kv_heads + kv_head) * hd..][..hd].iter().map(|&x| x as f64).collect()
            };
            let visible = d.past + i + 1;
            let scores: Vec<f64> = (0..visible)
                .map(|j| {
                    scale as f64
                        * row(k, j).iter().zip(qv).map(|(&k, &q)| k * q as f64).sum::<f64>()
                })
                .collect();
            for (j, s) in scores.iter().enumerate() {
                all_scores[(h * d.tokens + i) * n_keys + j] = *s as f32;
            }
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            let mut acc = vec![0.0f64; hd];
            for (j, e) in exps.iter().enumerate() {
                let p = e / sum;
                for (a, vj) in acc.iter_mut().zip(row(v, j)) {
                    *a += p * vj;
                }
            }
            for (o, a) in out[(i * d.n_heads + h) * hd..][..hd].iter_mut().zip(acc) {
                *o = a as f32;
            }
        }
    }
    (out, all_scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    /// One case: `tokens` new queries after `past` cached tokens, in a cache with spare rows.
    struct Case {
        tokens: usize,
        past: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        /// Multiplies q, to make the scores large.
        q_gain: f32,
    }

    const fn case(
        tokens: usize,
        past: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
    ) -> Case {
        Case { tokens, past, n_heads, n_kv_heads, head_dim, q_gain: 1.0 }
    }

    /// Runs one case with and without weights and compares both runs with the reference; a
    /// decode step over many keys both in one workgroup per head and split over the keys.
    async fn check(seed: u64, c: Case) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let capacity = c.past + c.tokens + 3;
        let q_shape = [c.tokens, c.n_heads, c.head_dim];
        let kv_shape = [capacity, c.n_kv_heads, c.head_dim];
        let d = AttentionDims::new(&q_shape, &kv_shape, c.past).unwrap();
        let q_host: Vec<f32> =
            rng.vec(c.tokens * c.n_heads * c.head_dim).iter().map(|x| x * c.q_gain).collect();
        let q = Tensor::from_slice(gpu, &q_shape, &q_host).unwrap();
        let (k_host, v_host) =
            (rng.vec(kv_shape.iter().product()), rng.vec(kv_shape.iter().product()));
        let size = [capacity, c.n_heads, c.n_kv_heads, c.head_dim];
        let scale = 1.0 / (c.head_dim as f32).sqrt();
        let (want, want_scores) = attention_ref(&d, &q_host, &k_host, &v_host, scale);

        // Outputs are convex combinations of values in [-1, 1], so absolute errors. The f32
        // rounding of a score s is about 1e-7 |s|, and exp turns it into the same relative error
        // of each probability. Scores here reach about 1.5 q_gain (155 at q_gain 100, past
        // exp's f32 range: only subtracting the running max keeps that case finite). Measured
        // on lavapipe: 1.5e-7 at q_gain 1, 5.1e-6 at q_gain 100.
        let tol = 1e-6 + 2e-7 * c.q_gain;
        let splits = c.tokens == 1 && d.keys() > SPLIT_PAST;
        for split in if splits { vec![false, true] } else { vec![false] } {
            let cache = KvCache::made(gpu, size, split).unwrap();
            cache.k.write(gpu, &k_host).unwrap();
            cache.v.write(gpu, &v_host).unwrap();
            let what = format!(
                "attention tokens {} past {} heads {}/{} head_dim {} q x{}, split {split}",
                c.tokens, c.past, c.n_heads, c.n_kv_heads, c.head_dim, c.q_gain
            );
            let out = poisoned(gpu, &q_shape);
            attention(gpu, &q, &cache, c.past, scale, None, &out).unwrap();
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, tol, 0.0);

            let scores = poisoned(gpu, &d.scores_shape(c.tokens, capacity));
            let out = poisoned(gpu, &q_shape);
            attention(gpu, &q, &cache, c.past, scale, Some(&scores), &out).unwrap();
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, tol, 0.0);
            let got_scores = scores.read(gpu).await.unwrap();
            let seen: Vec<f32> =
                got_scores.chunks(capacity).flat_map(|row| &row[..d.keys()]).copied().collect();
            // A score is a sum of head_dim products in another order than the reference's.
            assert_close(&format!("{what} scores"), &seen, &want_scores, 1e-6 * c.q_gain, 1e-5);
            let visible = |r: usize| c.past + r % c.tokens + 1;
            for (r, row) in got_scores.chunks(capacity).enumerate() {
                assert!(
                    row[visible(r)..].iter().all(|&s| s == 0.0),
                    "{what}: row {r} sees the future"
                );
            }
            // The weights made from the scores, times the values, give the kernel's output back.
            let weights = weights_from_scores(&got_scores, capacity, visible);
            let mut mixed = vec![0.0f32; want.len()];
            for (r, w) in weights.chunks(capacity).enumerate() {
                let (h, i) = (r / c.tokens, r % c.tokens);
                let sum: f32 = w.iter().sum();
                // An f32 sum of up to 700 probabilities: a few 1e-6 of rounding at most.
                assert!((sum - 1.0).abs() < 1e-5, "{what}: row {r} sums to {sum}");
                assert!(
                    w[visible(r)..].iter().all(|&w| w == 0.0),
                    "{what}: row {r} weighs the future"
                );
                let kv_head = h / (c.n_heads / c.n_kv_heads);
                let o = &mut mixed[(i * c.n_heads + h) * c.head_dim..][..c.head_dim];
                for (j, &wj) in w.iter().enumerate() {
                    let row = &v_host[(j * c.n_kv_heads + kv_head) * c.head_dim..][..c.head_dim];
                    o.iter_mut().zip(row).for_each(|(o, &v)| *o += wj * v);
                }
            }
            assert_close(&format!("{what}: weights from scores, times v"), &mixed, &want, tol, 0.0);

            // Only the last queries' scores: the same rows of each head, computed the same way.
            let rows = c.tokens.div_ceil(3);
            let last = poisoned(gpu, &d.scores_shape(rows, capacity));
            attention(gpu, &q, &cache, c.past, scale, Some(&last), &out).unwrap();
            let want_last: Vec<f32> = got_scores
                .chunks(c.tokens * capacity)
                .flat_map(|head| &head[(c.tokens - rows) * capacity..])
                .copied()
                .collect();
            assert_eq!(
                last.read(gpu).await.unwrap(),
                want_last,
                "{what}: the last {rows} rows' scores"
            );
        }
    }

    gpu_tests! {
        async fn prefill_matches_reference() {
            check(1, case(7, 0, 4, 4, 64)).await;
            check(2, case(33, 0, 2, 1, 33)).await;
            check(3, case(65, 0, 3, 3, 8)).await;
        }

        async fn decode_and_continued_prompt_match_reference() {
            check(5, case(7, 33, 2, 2, 33)).await;
        }

        async fn grouped_query_heads_match_reference() {
            check(6, case(7, 5, 6, 2, 8)).await;
            check(7, case(7, 5, 9, 3, 33)).await;
            check(8, case(1, 40, 8, 1, 8)).await;
        }

        async fn long_context_spans_several_chunks() {
            check(9, case(3, 600, 2, 1, 64)).await;
            // Decode steps over 701 and 257 keys split into segments of 128: the last holds 61
            // keys, or 1.
            check(10, case(1, 700, 1, 1, 256)).await;
            check(4, case(1, 256, 4, 2, 64)).await;
        }

        async fn a_second_split_step_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut rng = Rng::new(14);
            let (q, _) = random(gpu, &mut rng, &[1, 9, 64]);
            let cache = KvCache::made(gpu, [2048, 9, 3, 64], true).unwrap();
            let out = poisoned(gpu, &[1, 9, 64]);
            for step in 0..2 {
                let before = gpu.stats();
                attention(gpu, &q, &cache, 600, 0.125, None, &out).unwrap();
                let spent = gpu.stats() - before;
                if step == 1 {
                    assert_made_nothing("a split decode step's attention", spent);
                    // The segments' pass and their combination.
                    assert_eq!(spent.dispatches, 2, "{spent:?}");
                }
            }
            assert!(out.read(gpu).await.unwrap().iter().all(|v| v.is_finite()));
        }

        async fn large_scores_stay_stable() {
            check(11, Case { q_gain: 100.0, ..case(7, 300, 2, 1, 64) }).await;
            // Split over the keys: the segments' maxima differ widely, and the combined sum
            // must rescale each to the largest.
            check(13, Case { q_gain: 100.0, ..case(1, 600, 6, 2, 33) }).await;
        }

        async fn appending_token_by_token_matches_one_prompt() {
            // A 9-token prompt, then 4 tokens decoded one at a time through the same cache, must
            // see exactly what one pass over all 13 tokens sees.
            let gpu = gpu().await;
            let mut rng = Rng::new(12);
            let (prompt, total, n_heads, n_kv, dim) = (9, 13, 4, 2, 16);
            let (q_all, k_all, v_all) = (rng.vec(total * n_heads * dim), rng.vec(total * n_kv * dim), rng.vec(total * n_kv * dim));
            let cache = KvCache::new(gpu, 16, n_heads, n_kv, dim).unwrap();
            let kv_shape = [total, n_kv, dim];
            let d = AttentionDims::new(&[total, n_heads, dim], &kv_shape, 0).unwrap();
            let (want, _) = attention_ref(&d, &q_all, &k_all, &v_all, 0.25);
            let rows = |data: &[f32], heads: usize, from: usize, to: usize| {
                let per_token = heads * dim;
                Tensor::from_slice(gpu, &[to - from, heads, dim], &data[from * per_token..to * per_token]).unwrap()
            };
            let mut got = Vec::new();
            let steps = std::iter::once((0, prompt)).chain((prompt..total).map(|t| (t, t + 1)));
            for (from, to) in steps {
                cache.append(gpu, &rows(&k_all, n_kv, from, to), &rows(&v_all, n_kv, from, to), from).unwrap();
                let out = poisoned(gpu, &[to - from, n_heads, dim]);
                attention(gpu, &rows(&q_all, n_heads, from, to), &cache, from, 0.25, None, &out).unwrap();
                got.extend(out.read(gpu).await.unwrap());
            }
            assert_close("attention through an appended cache", &got, &want, 1e-6, 0.0);
            let wrong_rows = Tensor::zeros(gpu, &[1, n_kv, dim + 1]).unwrap();
            assert!(matches!(cache.append(gpu, &wrong_rows, &wrong_rows, 0), Err(Error::Invalid(_))));
            let one = Tensor::zeros(gpu, &[1, n_kv, dim]).unwrap();
            assert!(matches!(cache.append(gpu, &one, &one, 16), Err(Error::Invalid(_))));
        }

        async fn bad_shapes_are_errors() {
            let gpu = gpu().await;
            let q = Tensor::zeros(gpu, &[2, 4, 8]).unwrap();
            let out = Tensor::zeros(gpu, &[2, 4, 8]).unwrap();
            let cache = KvCache::new(gpu, 10, 4, 2, 8).unwrap();
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            attention(gpu, &q, &cache, 8, 0.5, None, &out).unwrap();
            bad(attention(gpu, &q, &cache, 9, 0.5, None, &out));
            bad(attention(gpu, &q, &cache, usize::MAX, 0.5, None, &out));
            bad(attention(gpu, &q, &KvCache::new(gpu, 10, 4, 3, 8).unwrap(), 0, 0.5, None, &out));
            bad(attention(gpu, &q, &KvCache::new(gpu, 10, 4, 2, 4).unwrap(), 0, 0.5, None, &out));
            bad(attention(gpu, &q, &cache, 0, 0.5, None, &Tensor::zeros(gpu, &[2, 4, 4]).unwrap()));
            bad(attention(gpu, &q, &cache, 0, f32::NAN, None, &out));
            bad(attention(gpu, &q, &cache, 1, 0.5, Some(&Tensor::zeros(gpu, &[4, 2, 2]).unwrap()), &out));
            // Scores for more queries than the pass has.
            bad(attention(gpu, &q, &cache, 1, 0.5, Some(&Tensor::zeros(gpu, &[4, 3, 10]).unwrap()), &out));
            attention(gpu, &q, &cache, 1, 0.5, Some(&Tensor::zeros(gpu, &[4, 1, 10]).unwrap()), &out).unwrap();
            let mut mismatched = KvCache::new(gpu, 10, 4, 2, 8).unwrap();
            mismatched.v = Tensor::zeros(gpu, &[9, 2, 8]).unwrap();
            bad(attention(gpu, &q, &mismatched, 0, 0.5, None, &out));
            // A cache made for 2 query heads, not the 4 of q, split or not.
            for split in [false, true] {
                let mismatched = KvCache::made(gpu, [300, 2, 2, 8], split).unwrap();
                bad(attention(gpu, &q, &mismatched, 0, 0.5, None, &out));
            }
            let wide = Tensor::zeros(gpu, &[1, 1, 257]).unwrap();
            bad(attention(gpu, &wide, &KvCache::new(gpu, 4, 1, 1, 257).unwrap(), 0, 0.5, None, &wide));
            bad(attention(gpu, &Tensor::zeros(gpu, &[8, 8]).unwrap(), &cache, 0, 0.5, None, &out));
            gpu.check().unwrap();
        }
    }
}
