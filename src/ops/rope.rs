//! Rotary position embedding (RoPE): each pair of a head's dims turns by an angle proportional to
//! the token's position, at a frequency that falls geometrically along the head.

use std::f64::consts::TAU;

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::ops::attention::KvCache;
use crate::{Gpu, Result, Tensor};

pub(super) const ROPE: Kernel<Params> = kernel!("rope.wgsl", "main", uses "rope_turn.wgsl");
pub(super) const ROPE_QKV: Kernel<Params> = kernel!("rope.wgsl", "qkv", uses "rope_turn.wgsl");
const WORKGROUP: u32 = 256;
/// The kernel splits positions into two 12-bit halves for its angle reduction.
pub const MAX_POSITION: usize = 1 << 24;

/// Which dims of a head form the pairs that rotate together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dims `2i` and `2i + 1` (GPT-J; llama.cpp's "normal" RoPE, as in GGUF Llama weights).
    Adjacent,
    /// Dims `i` and `i + head_dim / 2` (GPT-NeoX; Hugging Face Llama's `rotate_half`).
    SplitHalf,
}

params! {
    pub(super) struct Params {
        pairs: u32,
        half: u32,
        n_heads: u32,
        pos0: u32,
        split_half: u32,
        q_heads: u32,
        kv_heads: u32,
    }
}

/// `x` rounded to f32 and cut to its 12 leading significant bits.
fn leading_12_bits(x: f64) -> f64 {
    f32::from_bits((x as f32).to_bits() & !0xfff) as f64
}

/// Turns per position of each pair, `theta^(-2i / head_dim) / 2pi`, computed in f64 and split as
/// `f1 + f2 + f3` with 12 significant bits in `f1` and `f2`, so the kernel's products of them
/// with 12-bit halves of a position are exact.
fn turns_per_position(head_dim: usize, theta: f32) -> Vec<[f32; 3]> {
    (0..head_dim / 2)
        .map(|i| {
            let f = (theta as f64).powf(-2.0 * i as f64 / head_dim as f64) / TAU;
            let f1 = leading_12_bits(f);
            let f2 = leading_12_bits(f - f1);
            [f1 as f32, f2 as f32, (f - f1 - f2) as f32]
        })
        .collect()
}

/// Rotates `x` `[tokens, n_heads, head_dim]`, whose token `t` sits at position `pos0 + t`, into
/// `out`: pair `i` turns by `pos * theta^(-2i / head_dim)` radians.
pub fn rope(
    gpu: &Gpu,
    x: &Tensor,
    pos0: usize,
    theta: f32,
    style: RopeStyle,
    out: &Tensor,
) -> Result<()> {
    expect_output("rope output", out, x.shape(), [x])?;
    let params = check(x.shape(), pos0, theta, style, 0)?;
    let freq = gpu.input(out, &turns_per_position(x.shape()[2], theta))?;
    let groups = Workgroups::linear(gpu, x.numel() / 2, WORKGROUP)?;
    gpu.dispatch(&ROPE, &params, &[&freq, x.buffer()?, out.buffer()?], groups, out)
}

/// Where a fused projection's rows `[tokens, q_heads + 2 kv_heads, head_dim]` at positions
/// `pos0..` go: its q heads rotated into the queries `[tokens, q_heads, head_dim]`, its k heads
/// rotated and its v heads as they are into rows `pos0..` of `cache`.
#[derive(Clone, Copy)]
pub struct QkvRope<'a> {
    pub pos0: usize,
    pub theta: f32,
    pub style: RopeStyle,
    pub cache: &'a KvCache,
}

/// What rope_turn.wgsl reads of a `QkvRope`.
#[derive(Clone, Copy, Default)]
pub(super) struct QkvLayout {
    pub half: u32,
    pub split_half: u32,
    pub pos0: u32,
    pub q_heads: u32,
    pub kv_heads: u32,
}

impl QkvRope<'_> {
    /// Checks rows `qkv` (the shape) against the cache and the queries `q`, which must not
    /// alias `inputs`, and gives their layout and the turns-per-position table for a dispatch
    /// that writes `q`.
    pub(super) fn layout(
        &self,
        gpu: &Gpu,
        qkv: &[usize],
        q: &Tensor,
        inputs: &[&Tensor],
    ) -> Result<(QkvLayout, wgpu::Buffer)> {
        let &[capacity, kv_heads, head_dim] = self.cache.k.shape() else {
            invalid!("a KV cache is [capacity, heads, head_dim]; got {:?}", self.cache.k.shape());
        };
        let &[tokens, heads, width] = qkv else {
            invalid!("rope_qkv needs qkv [tokens, heads, head_dim]; got {qkv:?}");
        };
        if width != head_dim || heads <= 2 * kv_heads {
            let cache = self.cache.k.shape();
            invalid!("qkv {qkv:?} is not q heads and twice the cache's heads {cache:?}");
        }
        if self.pos0 >= capacity || tokens > capacity - self.pos0 {
            invalid!(
                "{tokens} tokens from position {} do not fit a cache of {capacity}",
                self.pos0
            );
        }
        let q_heads = heads - 2 * kv_heads;
        let caches = [&self.cache.k, &self.cache.v];
        let sources = inputs.iter().copied().chain(caches);
        expect_output("rope_qkv queries", q, &[tokens, q_heads, head_dim], sources)?;
        let p = check(qkv, self.pos0, self.theta, self.style, q_heads)?;
        let layout = QkvLayout {
            half: p.half,
            split_half: p.split_half,
            pos0: p.pos0,
            q_heads: p.q_heads,
            kv_heads: p.kv_heads,
        };
        Ok((layout, gpu.input(q, &turns_per_position(head_dim, self.theta))?))
    }
}

/// Splits a fused projection `qkv` `[tokens, q_heads + 2 kv_heads, head_dim]` as `rope` says,
/// the queries into `q`, in one dispatch.
pub fn rope_qkv(gpu: &Gpu, qkv: &Tensor, rope: &QkvRope, q: &Tensor) -> Result<()> {
    let (_, freq) = rope.layout(gpu, qkv.shape(), q, &[qkv])?;
    let params = check(qkv.shape(), rope.pos0, rope.theta, rope.style, q.shape()[1])?;
    let groups = Workgroups::linear(gpu, qkv.numel() / 2, WORKGROUP)?;
    let (k, v) = (rope.cache.k.buffer()?, rope.cache.v.buffer()?);
    gpu.dispatch(&ROPE_QKV, &params, &[&freq, qkv.buffer()?, q.buffer()?, k, v], groups, q)
}

/// Checks `x` `[tokens, n_heads, head_dim]` and the positions, and builds the parameters.
fn check(x: &[usize], pos0: usize, theta: f32, style: RopeStyle, q_heads: usize) -> Result<Params> {
    let &[tokens, n_heads, head_dim] = x else {
        invalid!("rope needs x [tokens, heads, head_dim]; got {x:?}");
    };
    if head_dim % 2 != 0 {
        invalid!("rope needs an even head_dim; got {head_dim}");
    }
    if !(theta.is_finite() && theta > 0.0) {
        invalid!("rope theta must be positive and finite; got {theta}");
    }
    if tokens > MAX_POSITION || pos0 > MAX_POSITION - tokens {
        invalid!("rope positions from {pos0} for {tokens} tokens pass the kernel's {MAX_POSITION}");
    }
    Ok(Params {
        pairs: to_u32("rope pairs", x.iter().product::<usize>() / 2)?,
        half: to_u32("head_dim / 2", head_dim / 2)?,
        n_heads: to_u32("heads", n_heads)?,
        pos0: to_u32("pos0", pos0)?,
        split_half: (style == RopeStyle::SplitHalf) as u32,
        q_heads: q_heads as u32,
        kv_heads: (n_heads.saturating_sub(q_heads) / 2) as u32,
    })
}

/// Reference in f64 for `x` of `shape` `[tokens, n_heads, head_dim]`.
pub fn rope_ref(
    shape: [usize; 3],
    x: &[f32],
    pos0: usize,
    theta: f32,
    style: RopeStyle,
) -> Vec<f32> {
    let [_, n_heads, head_dim] = shape;
    let half = head_dim / 2;
    let mut out = vec![0.0; x.len()];
    for (row, (xs, os)) in x.chunks(head_dim).zip(out.chunks_mut(head_dim)).enumerate() {
        let pos = (pos0 + row / n_heads) as f64;
        for i in 0..half {
            let angle = pos * (theta as f64).powf(-2.0 * i as f64 / head_dim as f64);
            let (s, c) = angle.sin_cos();
            let (a, b) = match style {
                RopeStyle::Adjacent => (2 * i, 2 * i + 1),
                RopeStyle::SplitHalf => (i, i + half),
            };
            let (xa, xb) = (xs[a] as f64, xs[b] as f64);
            os[a] = (xa * c - xb * s) as f32;
            os[b] = (xa * s + xb * c) as f32;
        }
    }
    out
}

/// Reference for `rope_qkv` on `qkv` of `[tokens, q_heads + 2 kv_heads, head_dim]` (`sizes`
/// `[tokens, q_heads, kv_heads, head_dim]`): returns the queries and writes rows `pos0..` of
/// the cache's keys `k` and values `v`.
pub fn rope_qkv_ref(
    sizes: [usize; 4],
    qkv: &[f32],
    (pos0, theta, style): (usize, f32, RopeStyle),
    k: &mut [f32],
    v: &mut [f32],
) -> Vec<f32> {
    let [tokens, q_heads, kv_heads, head_dim] = sizes;
    let heads = q_heads + 2 * kv_heads;
    let part = |from: usize, count: usize| -> Vec<f32> {
        let rows = qkv.chunks(heads * head_dim);
        rows.flat_map(|r| &r[from * head_dim..(from + count) * head_dim]).copied().collect()
    };
    let written = pos0 * kv_heads * head_dim..(pos0 + tokens) * kv_heads * head_dim;
    let keys = rope_ref([tokens, kv_heads, head_dim], &part(q_heads, kv_heads), pos0, theta, style);
    k[written.clone()].copy_from_slice(&keys);
    v[written].copy_from_slice(&part(q_heads + kv_heads, kv_heads));
    rope_ref([tokens, q_heads, head_dim], &part(0, q_heads), pos0, theta, style)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    /// Each output `xa cos - xb sin` takes two products and a difference of values below 1, each
    /// rounded by up to 6e-8, and the kernel's sin and cos are within about 1e-7 at any
    /// position: a worst case near 5e-7. Measured: at most 3.0e-7 up to position 2^24, the same
    /// bits on lavapipe and SwiftShader (a plain f32 angle `pos * inv_freq` with the builtin
    /// sin and cos is off by 4.6e-4 at position 4000 on lavapipe).
    async fn check(seed: u64, shape: [usize; 3], pos0: usize, theta: f32) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let (x, x_host) = random(gpu, &mut rng, &shape);
        for style in [RopeStyle::Adjacent, RopeStyle::SplitHalf] {
            let out = poisoned(gpu, &shape);
            rope(gpu, &x, pos0, theta, style, &out).unwrap();
            let want = rope_ref(shape, &x_host, pos0, theta, style);
            let what = format!("rope {shape:?} pos0 {pos0} theta {theta} {style:?}");
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, 5e-7, 0.0);
        }
    }

    /// `rope_qkv` against its reference: the queries rotated, the keys
    /// rotated into the cache's rows from `pos0`, the values copied there, and the cache's
    /// other rows (random, not zeros) left as they were.
    async fn check_qkv(
        seed: u64,
        [tokens, q_heads, kv_heads, head_dim]: [usize; 4],
        pos0: usize,
        capacity: usize,
    ) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let heads = q_heads + 2 * kv_heads;
        let (qkv, host) = random(gpu, &mut rng, &[tokens, heads, head_dim]);
        let cache = KvCache::new(gpu, capacity, q_heads, kv_heads, head_dim).unwrap();
        let (k0, k0_host) = random(gpu, &mut rng, &[capacity, kv_heads, head_dim]);
        let (v0, v0_host) = random(gpu, &mut rng, &[capacity, kv_heads, head_dim]);
        for style in [RopeStyle::Adjacent, RopeStyle::SplitHalf] {
            cache.k.copy_from(gpu, &k0, 0).unwrap();
            cache.v.copy_from(gpu, &v0, 0).unwrap();
            let q = poisoned(gpu, &[tokens, q_heads, head_dim]);
            let rope = QkvRope { pos0, theta: 10000.0, style, cache: &cache };
            rope_qkv(gpu, &qkv, &rope, &q).unwrap();
            let what = format!("rope_qkv {tokens} tokens of {q_heads} + 2 x {kv_heads} heads of {head_dim} from {pos0} {style:?}");
            let (mut want_k, mut want_v) = (k0_host.clone(), v0_host.clone());
            let sizes = [tokens, q_heads, kv_heads, head_dim];
            let want_q =
                rope_qkv_ref(sizes, &host, (pos0, 10000.0, style), &mut want_k, &mut want_v);
            assert_close(&format!("{what}: q"), &q.read(gpu).await.unwrap(), &want_q, 5e-7, 0.0);
            let k = cache.k.read(gpu).await.unwrap();
            assert_close(&format!("{what}: k"), &k, &want_k, 5e-7, 0.0);
            assert_eq!(cache.v.read(gpu).await.unwrap(), want_v, "{what}: v");
        }
    }

    gpu_tests! {
        async fn qkv_split_matches_reference() {
            check_qkv(11, [7, 9, 3, 64], 0, 9).await;
            check_qkv(12, [1, 3, 1, 8], 41, 42).await;
            check_qkv(13, [5, 2, 2, 130], 3000, 3010).await;
        }

        async fn qkv_split_rejects_what_does_not_fit() {
            let gpu = gpu().await;
            let cache = KvCache::new(gpu, 8, 4, 2, 4).unwrap();
            let z = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let (qkv, q) = (z(&[3, 7, 4]), z(&[3, 3, 4]));
            let at = |pos0: usize, theta: f32| QkvRope { pos0, theta, style: RopeStyle::Adjacent, cache: &cache };
            rope_qkv(gpu, &qkv, &at(5, 10000.0), &q).unwrap();
            bad(rope_qkv(gpu, &qkv, &at(6, 10000.0), &q));
            bad(rope_qkv(gpu, &z(&[3, 4, 4]), &at(0, 10000.0), &z(&[3, 1, 4])));
            bad(rope_qkv(gpu, &z(&[3, 7, 6]), &at(0, 10000.0), &z(&[3, 3, 6])));
            bad(rope_qkv(gpu, &qkv, &at(0, 10000.0), &z(&[3, 4, 4])));
            bad(rope_qkv(gpu, &qkv, &at(0, 0.0), &q));
            bad(rope_qkv(gpu, &qkv, &at(0, 10000.0), &qkv));
            gpu.check().unwrap();
        }

        async fn matches_reference_on_awkward_shapes() {
            check(1, [7, 3, 64], 0, 10000.0).await;
            check(2, [33, 2, 8], 5, 10000.0).await;
            check(3, [1, 7, 2], 65, 10000.0).await;
            check(4, [65, 1, 130], 257, 500000.0).await;
        }

        async fn stays_accurate_at_large_positions() {
            check(5, [9, 4, 128], 3992, 10000.0).await;
            check(6, [1, 3, 64], 65535, 10000.0).await;
            check(7, [2, 2, 64], MAX_POSITION - 2, 1000000.0).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let x = Tensor::zeros(gpu, &[2, 3, 8]).unwrap();
            let out = Tensor::zeros(gpu, &[2, 3, 8]).unwrap();
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            rope(gpu, &x, 0, 10000.0, RopeStyle::Adjacent, &out).unwrap();
            let odd = Tensor::zeros(gpu, &[2, 3, 7]).unwrap();
            bad(rope(gpu, &odd, 0, 10000.0, RopeStyle::Adjacent, &odd));
            bad(rope(gpu, &x, 0, 10000.0, RopeStyle::SplitHalf, &Tensor::zeros(gpu, &[2, 24]).unwrap()));
            bad(rope(gpu, &Tensor::zeros(gpu, &[6, 8]).unwrap(), 0, 10000.0, RopeStyle::Adjacent, &out));
            bad(rope(gpu, &x, 0, 0.0, RopeStyle::Adjacent, &out));
            bad(rope(gpu, &x, 0, f32::INFINITY, RopeStyle::Adjacent, &out));
            bad(rope(gpu, &x, MAX_POSITION - 1, 10000.0, RopeStyle::Adjacent, &out));
            bad(rope(gpu, &x, usize::MAX, 10000.0, RopeStyle::Adjacent, &out));
            gpu.check().unwrap();
        }
    }
}
