//! Ops on weights that stay quantized on the GPU, in llama.cpp's blocks of 32: Q4_1 (5 bits a
//! weight) and Q8_0 (9 bits once word-aligned), instead of f32's 32. A matmul and an embedding
//! lookup dequantize blocks as they read them; a pass over many tokens dequantizes a whole
//! matrix into an f32 scratch tensor and runs the tiled matmul on it. The references dequantize with
//! `formats::gguf::dequantize` and compute in f64.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use half::f16;

use crate::formats::gguf::{dequantize, GgmlType};
use crate::gpu::{kernel, params, Counted, Kernel, Workgroups};
use crate::ops::activation::Activation;
use crate::ops::matmul::{matmul_ref, MatmulDims};
use crate::ops::norm::check_eps;
use crate::ops::rope::QkvRope;
use crate::{Error, Gpu, Result, Tensor};

pub(super) const MATMUL_Q4_1: Kernel<MatmulParams> =
    kernel!("matmul_quant.wgsl", "main", uses "act.wgsl", uses "rope_turn.wgsl", uses "q4_1.wgsl");
pub(super) const MATMUL_Q8_0: Kernel<MatmulParams> =
    kernel!("matmul_quant.wgsl", "main", uses "act.wgsl", uses "rope_turn.wgsl", uses "q8_0.wgsl");
pub(super) const DEQUANTIZE_Q4_1: Kernel<DequantizeParams> =
    kernel!("dequantize.wgsl", "main", uses "q4_1.wgsl");
pub(super) const DEQUANTIZE_Q8_0: Kernel<DequantizeParams> =
    kernel!("dequantize.wgsl", "main", uses "q8_0.wgsl");
const WORKGROUP: usize = 64;
/// The quantized product's threads a column on a hardware GPU (see matmul_quant.wgsl).
const GPU_SLICES: usize = 4;
const BLOCK: usize = 32;

/// A quantized matrix `[rows, cols]` on the GPU, each row `cols / 32` blocks.
pub struct QuantTensor {
    buffer: Counted<wgpu::Buffer>,
    shape: [usize; 2],
    ty: GgmlType,
}

impl QuantTensor {
    /// Uploads the blocks of a `[rows, cols]` matrix of `ty` (Q4_1 or Q8_0), as GGUF stores
    /// them, rearranged so that neighbouring rows' blocks sit side by side (see `interleave`).
    pub fn new(gpu: &Gpu, ty: GgmlType, shape: [usize; 2], blocks: &[u8]) -> Result<QuantTensor> {
        let [rows, cols] = shape;
        if !matches!(ty, GgmlType::Q4_1 | GgmlType::Q8_0) {
            invalid!("quantized matrices are Q4_1 or Q8_0; got {ty:?}");
        }
        if rows == 0 || cols == 0 || cols % BLOCK != 0 {
            invalid!("a {ty:?} matrix needs rows of whole 32-weight blocks; got {shape:?}");
        }
        let block_bytes = ty.block().1;
        let bytes = rows.checked_mul(cols / BLOCK).and_then(|b| b.checked_mul(block_bytes));
        if bytes != Some(blocks.len()) {
            invalid!("a {ty:?} matrix {shape:?} takes {bytes:?} bytes; got {}", blocks.len());
        }
        finite_scales(ty, blocks)?;
        let words = interleave(ty, rows, cols / BLOCK, blocks);
        let size = words.len() as u64 * 4;
        if size > gpu.max_storage_bytes() {
            return Err(Error::TooLarge(format!(
                "a {ty:?} matrix {shape:?} of {size} bytes; this device binds at most {}",
                gpu.max_storage_bytes()
            )));
        }
        Ok(QuantTensor { buffer: gpu.upload(&words)?, shape, ty })
    }

    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }
}

/// Fails on a block whose scale (or Q4_1 minimum) is NaN or infinite, which would turn its
/// whole row of outputs into NaN.
fn finite_scales(ty: GgmlType, blocks: &[u8]) -> Result<()> {
    let halves = if ty == GgmlType::Q4_1 { 2 } else { 1 };
    for (i, block) in blocks.chunks_exact(ty.block().1).enumerate() {
        for h in block[..2 * halves].chunks_exact(2) {
            let value = f16::from_le_bytes([h[0], h[1]]).to_f32();
            if !value.is_finite() {
                invalid!("block {i} of a {ty:?} matrix has the scale {value}; the file is damaged");
            }
        }
    }
    Ok(())
}

/// The blocks of a `[rows, blocks per row]` matrix as two planes of words, in which threads
/// that work on neighbouring rows read neighbouring words: first each block's scale word (Q4_1:
/// d and m as two f16; Q8_0: d as f32), indexed `b * rows + row`; then its code words (Q4_1: 4,
/// Q8_0: 8), indexed `(b * code_words + g) * rows + row`.
fn interleave(ty: GgmlType, rows: usize, blocks: usize, bytes: &[u8]) -> Vec<u32> {
    let block_bytes = ty.block().1;
    let (header, code_words) = if ty == GgmlType::Q8_0 { (2, 8) } else { (4, 4) };
    let mut words = vec![0u32; rows * blocks * (1 + code_words)];
    let (scales, codes) = words.split_at_mut(rows * blocks);
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (i, block) in bytes.chunks_exact(block_bytes).enumerate() {
        let (row, b) = (i / blocks, i % blocks);
        scales[b * rows + row] = match ty {
            GgmlType::Q8_0 => f16::from_le_bytes([block[0], block[1]]).to_f32().to_bits(),
            _ => word(block),
        };
        for (g, code) in block[header..].chunks_exact(4).enumerate() {
            codes[(b * code_words + g) * rows + row] = word(code);
        }
    }
    words
}

params! {
    pub(super) struct MatmulParams {
        m: u32,
        n: u32,
        k: u32,
        has_norm: u32,
        eps: f32,
        glu: u32,
        alpha: f32,
        has_residual: u32,
        has_rope: u32,
        half: u32,
        split_half: u32,
        pos0: u32,
        q_heads: u32,
        kv_heads: u32,
        slices: u32,
    }
}

/// What a Llama block fuses into a quantized matmul's dispatch, each optional.
#[derive(Clone, Copy, Default)]
pub struct QuantFused<'a> {
    /// An RMS norm of each row of `x` first: its weight `[k]` and eps.
    pub rms_norm: Option<(&'a Tensor, f32)>,
    /// A gated linear unit after: `w`'s rows are `[gate; up]` halves, and the output, half as
    /// wide, is `act(x gate^T) * (x up^T)` (SwiGLU with SiLU).
    pub glu: Option<Activation>,
    /// Added last; the output's shape.
    pub residual: Option<&'a Tensor>,
    /// `w` is a fused q, k, v projection, and its rows go where `rope` says: the queries
    /// `[.., q_heads, head_dim]` into the output, the keys and values into the cache.
    pub rope: Option<QkvRope<'a>>,
}

/// `out = x w^T` for `x` `[.., m, k]` and a quantized `w` `[n, k]`: a linear layer without
/// bias.
pub fn matmul_quant(gpu: &Gpu, x: &Tensor, w: &QuantTensor, out: &Tensor) -> Result<()> {
    matmul_quant_fused(gpu, x, w, &QuantFused::default(), out)
}

/// `matmul_quant` with what `fused` adds around the product, in one dispatch.
pub fn matmul_quant_fused(
    gpu: &Gpu,
    x: &Tensor,
    w: &QuantTensor,
    fused: &QuantFused,
    out: &Tensor,
) -> Result<()> {
    let slices = if gpu.is_software() { 1 } else { GPU_SLICES };
    quant_product(gpu, x, w, fused, out, slices)
}

/// `matmul_quant_fused` with each output's blocks split over `slices` threads (1, 2 or 4).
fn quant_product(
    gpu: &Gpu,
    x: &Tensor,
    w: &QuantTensor,
    fused: &QuantFused,
    out: &Tensor,
    slices: usize,
) -> Result<()> {
    let [n, k] = w.shape;
    let (&last, lead) = x.shape().split_last().unwrap_or((&0, &[]));
    if last != k || lead.is_empty() {
        invalid!("quantized matmul: x {:?} does not end in the weight's {k} columns", x.shape());
    }
    if fused.glu.is_some() && n % 2 != 0 {
        invalid!("a gated linear unit needs [gate; up] halves; the weight has {n} rows");
    }
    if fused.rope.is_some() && (fused.glu.is_some() || fused.residual.is_some()) {
        invalid!("a quantized q, k, v projection takes no gated unit and no residual");
    }
    let m: usize = lead.iter().product();
    let pairs = fused.glu.is_some() || fused.rope.is_some();
    let cols = if pairs { n / 2 } else { n };
    let out_shape: Vec<usize> = lead.iter().copied().chain([cols]).collect();
    if let Some((weight, eps)) = fused.rms_norm {
        check_eps("quantized matmul's RMS norm", eps)?;
        expect_shape("quantized matmul's RMS norm weight", weight, &[k])?;
    }
    if let Some(residual) = fused.residual {
        expect_shape("quantized matmul residual", residual, &out_shape)?;
    }
    let inputs = [Some(x), fused.residual, fused.rms_norm.map(|(w, _)| w)];
    let inputs: Vec<&Tensor> = inputs.into_iter().flatten().collect();
    let (rope, freq) = match &fused.rope {
        Some(rope) => {
            let head_dim = rope.cache.k.shape().get(2).copied().unwrap_or(0);
            if head_dim == 0 || n % head_dim != 0 {
                invalid!(
                    "a q, k, v projection of {n} rows is no whole number of {head_dim}-dim heads"
                );
            }
            let qkv = [m, n / head_dim, head_dim];
            let (layout, freq) = rope.layout(gpu, &qkv, out, &inputs)?;
            (Some(layout), Some(freq))
        }
        None => {
            expect_output("quantized matmul output", out, &out_shape, inputs)?;
            (None, None)
        }
    };
    let (glu, alpha) = fused.glu.map_or((0, 0.0), |act| {
        let (op, alpha) = act.code();
        (op + 1, alpha)
    });
    let r = rope.unwrap_or_default();
    let params = MatmulParams {
        m: to_u32("m", m)?,
        n: to_u32("n", n)?,
        k: to_u32("k", k)?,
        has_norm: fused.rms_norm.is_some() as u32,
        eps: fused.rms_norm.map_or(0.0, |(_, eps)| eps),
        glu,
        alpha,
        has_residual: fused.residual.is_some() as u32,
        has_rope: rope.is_some() as u32,
        half: r.half,
        split_half: r.split_half,
        pos0: r.pos0,
        q_heads: r.q_heads,
        kv_heads: r.kv_heads,
        slices: slices as u32,
    };
    let groups = Workgroups::grid(gpu, [cols.div_ceil(WORKGROUP / slices), m, 1])?;
    let kernel = if w.ty == GgmlType::Q8_0 { &MATMUL_Q8_0 } else { &MATMUL_Q4_1 };
    let placeholder = gpu.placeholder()?;
    let residual = fused.residual.map_or(Ok(placeholder), Tensor::buffer)?;
    let norm = fused.rms_norm.map_or(Ok(placeholder), |(w, _)| w.buffer())?;
    let freq = freq.as_ref().unwrap_or(placeholder);
    let k_cache = gpu.optional_out(fused.rope.map(|r| &r.cache.k), 0)?;
    let v_cache = gpu.optional_out(fused.rope.map(|r| &r.cache.v), 1)?;
    let buffers = [x.buffer()?, &w.buffer, out.buffer()?, residual, norm, freq, k_cache, v_cache];
    gpu.dispatch(kernel, &params, &buffers, groups, out)
}

params! {
    pub(super) struct DequantizeParams {
        len: u32,
        n: u32,
        k: u32,
        all_rows: u32,
    }
}

/// `out[t] = w[ids[t]]`, dequantized, for a quantized table `w` `[vocab, k]`; `out` is
/// `[ids.len(), k]`.
pub fn embedding_quant(gpu: &Gpu, w: &QuantTensor, ids: &[u32], out: &Tensor) -> Result<()> {
    let [vocab, k] = w.shape;
    if ids.is_empty() {
        invalid!("embedding needs at least one token id");
    }
    if let Some((position, id)) = ids.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
        invalid!("token id {id} at position {position} is outside the vocabulary of {vocab}");
    }
    expect_output("quantized embedding output", out, &[ids.len(), k], [])?;
    dequantize_rows(gpu, w, Some(&gpu.input(out, ids)?), out)
}

/// `out = w` as f32 `[n, k]`: for a pass over many tokens, where the tiled f32 matmul then
/// reuses each weight across the tokens.
pub fn dequantize_quant(gpu: &Gpu, w: &QuantTensor, out: &Tensor) -> Result<()> {
    expect_output("dequantized matrix", out, &w.shape, [])?;
    dequantize_rows(gpu, w, None, out)
}

fn dequantize_rows(
    gpu: &Gpu,
    w: &QuantTensor,
    ids: Option<&wgpu::Buffer>,
    out: &Tensor,
) -> Result<()> {
    let [n, k] = w.shape;
    let params = DequantizeParams {
        len: to_u32("dequantized size", out.numel())?,
        n: to_u32("rows", n)?,
        k: to_u32("k", k)?,
        all_rows: ids.is_none() as u32,
    };
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP as u32)?;
    let kernel = if w.ty == GgmlType::Q8_0 { &DEQUANTIZE_Q8_0 } else { &DEQUANTIZE_Q4_1 };
    let ids = match ids {
        Some(ids) => ids,
        None => gpu.placeholder()?,
    };
    gpu.dispatch(kernel, &params, &[ids, &w.buffer, out.buffer()?], groups, out)
}

/// Reference for `matmul_quant`: `x` `[m, k]` times the dequantized `[n, k]` blocks of `ty`,
/// transposed.
pub fn matmul_quant_ref(
    ty: GgmlType,
    x: &[f32],
    blocks: &[u8],
    [n, k]: [usize; 2],
) -> Result<Vec<f32>> {
    let w = dequantize(ty, blocks)?;
    let d = MatmulDims::new(&[x.len() / k, k], &[n, k], true)?;
    Ok(matmul_ref(&d, x, &w, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::activation::glu_ref;
    use crate::ops::attention::KvCache;
    use crate::ops::norm::rms_norm_ref;
    use crate::ops::rope::{rope_qkv_ref, RopeStyle};
    use crate::testing::*;

    /// Random blocks of `ty` for a `[rows, cols]` matrix, every code: f16 bits built directly,
    /// scales in [2^-7, 2^-3) and Q4_1 minimums in (-2, -2^-4]: Q4_1 weights stay within
    /// about 2, Q8_0 weights within 16.
    fn random_blocks(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
        let mut half = |lo: usize, hi: usize, sign: u16| {
            let exp = (lo + rng.below(hi - lo)) as u16;
            (sign | exp << 10 | rng.below(1024) as u16).to_le_bytes()
        };
        let mut out = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            out.extend(half(8, 12, 0));
            if ty == GgmlType::Q4_1 {
                out.extend(half(11, 15, 0x8000));
            }
            // Q4_1: 16 bytes of two codes each; Q8_0: 32 signed codes.
            out.extend((0..ty.block().1 - out.len() % ty.block().1).map(|_| 0u8));
        }
        let header = if ty == GgmlType::Q4_1 { 4 } else { 2 };
        for b in out.chunks_mut(ty.block().1) {
            b[header..].iter_mut().for_each(|q| *q = rng.below(256) as u8);
        }
        out
    }

    /// Threads a column: a software adapter's and a GPU's, each run on every adapter.
    const SLICINGS: [usize; 2] = [1, GPU_SLICES];

    async fn check(seed: u64, ty: GgmlType, lead: &[usize], n: usize, k: usize) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let m: usize = lead.iter().product();
        let x_shape: Vec<usize> = lead.iter().copied().chain([k]).collect();
        let (x, x_host) = random(gpu, &mut rng, &x_shape);
        let blocks = random_blocks(&mut rng, ty, n, k);
        let w = QuantTensor::new(gpu, ty, [n, k], &blocks).unwrap();
        let out_shape: Vec<usize> = lead.iter().copied().chain([n]).collect();
        let want = matmul_quant_ref(ty, &x_host, &blocks, [n, k]).unwrap();
        assert_eq!(want.len(), m * n);
        for slices in SLICINGS {
            let out = poisoned(gpu, &out_shape);
            quant_product(gpu, &x, &w, &QuantFused::default(), &out, slices).unwrap();
            // K products: f32 rounding grows with K (and with Q8_0's larger weights, relatively).
            let what =
                format!("{ty:?} matmul x {x_shape:?}, w [{n}, {k}], {slices} threads a column");
            let tol = 1e-7 * k as f32 + 2e-6;
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, tol, 1e-5);
        }
    }

    /// The fused options against their references applied in turn: RMS norm, product, gated
    /// linear unit, residual.
    async fn check_fused(
        seed: u64,
        ty: GgmlType,
        [m, n, k]: [usize; 3],
        norm: bool,
        glu: bool,
        residual: bool,
    ) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let (x, x_host) = random(gpu, &mut rng, &[m, k]);
        let (weight, weight_host) = random(gpu, &mut rng, &[k]);
        let blocks = random_blocks(&mut rng, ty, n, k);
        let w = QuantTensor::new(gpu, ty, [n, k], &blocks).unwrap();
        let cols = if glu { n / 2 } else { n };
        let (r, r_host) = random(gpu, &mut rng, &[m, cols]);
        let eps = 1e-5;
        let fused = QuantFused {
            rms_norm: norm.then_some((&weight, eps)),
            glu: glu.then_some(Activation::Silu),
            residual: residual.then_some(&r),
            rope: None,
        };
        let input = if norm { rms_norm_ref(&x_host, k, &weight_host, eps) } else { x_host };
        let mut want = matmul_quant_ref(ty, &input, &blocks, [n, k]).unwrap();
        if glu {
            want = glu_ref(Activation::Silu, &want, cols);
        }
        if residual {
            want.iter_mut().zip(&r_host).for_each(|(v, r)| *v += r);
        }
        // As the plain product; a gated unit multiplies two products, which adds their
        // relative errors.
        for slices in SLICINGS {
            let out = poisoned(gpu, &[m, cols]);
            quant_product(gpu, &x, &w, &fused, &out, slices).unwrap();
            let what = format!("fused {ty:?} matmul [{m}, {k}] x [{n}, {k}], norm {norm}, glu {glu}, residual {residual}, {slices} threads a column");
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-7 * k as f32 + 2e-6, 3e-5);
        }
    }

    /// A fused q, k, v projection, normed or not, against the references of its product and
    /// of `rope_qkv`, and the cache's rows outside the written ones (random) left alone.
    async fn check_fused_rope(seed: u64, ty: GgmlType, sizes: [usize; 4], k: usize, pos0: usize) {
        let [tokens, q_heads, kv_heads, head_dim] = sizes;
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let n = (q_heads + 2 * kv_heads) * head_dim;
        let (x, x_host) = random(gpu, &mut rng, &[tokens, k]);
        let (weight, weight_host) = random(gpu, &mut rng, &[k]);
        let blocks = random_blocks(&mut rng, ty, n, k);
        let w = QuantTensor::new(gpu, ty, [n, k], &blocks).unwrap();
        let capacity = pos0 + tokens + 2;
        let cache = KvCache::new(gpu, capacity, q_heads, kv_heads, head_dim).unwrap();
        let (k0, v0) = (rng.vec(cache.k.numel()), rng.vec(cache.v.numel()));
        let cases = [(true, RopeStyle::Adjacent), (false, RopeStyle::SplitHalf)];
        for ((norm, style), slices) in cases.into_iter().flat_map(|c| SLICINGS.map(|s| (c, s))) {
            cache.k.write(gpu, &k0).unwrap();
            cache.v.write(gpu, &v0).unwrap();
            let rope = QkvRope { pos0, theta: 10000.0, style, cache: &cache };
            let fused = QuantFused {
                rms_norm: norm.then_some((&weight, 1e-5)),
                rope: Some(rope),
                ..QuantFused::default()
            };
            let q = poisoned(gpu, &[tokens, q_heads, head_dim]);
            quant_product(gpu, &x, &w, &fused, &q, slices).unwrap();
            let input =
                if norm { rms_norm_ref(&x_host, k, &weight_host, 1e-5) } else { x_host.clone() };
            let qkv = matmul_quant_ref(ty, &input, &blocks, [n, k]).unwrap();
            let (mut want_k, mut want_v) = (k0.clone(), v0.clone());
            let want_q =
                rope_qkv_ref(sizes, &qkv, (pos0, 10000.0, style), &mut want_k, &mut want_v);
            // The product's error as in `check_fused`; turning adds about 5e-7.
            let what = format!("fused {ty:?} q, k, v [{tokens}, {k}] to {sizes:?} at {pos0}, norm {norm}, {style:?}, {slices} threads a column");
            let tol = 1e-7 * k as f32 + 3e-6;
            assert_close(&format!("{what}: q"), &q.read(gpu).await.unwrap(), &want_q, tol, 3e-5);
            assert_close(
                &format!("{what}: k"),
                &cache.k.read(gpu).await.unwrap(),
                &want_k,
                tol,
                3e-5,
            );
            assert_close(
                &format!("{what}: v"),
                &cache.v.read(gpu).await.unwrap(),
                &want_v,
                tol,
                3e-5,
            );
        }
    }

    async fn check_embedding(seed: u64, ty: GgmlType) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let (vocab, k) = (65, 96);
        let blocks = random_blocks(&mut rng, ty, vocab, k);
        let table = QuantTensor::new(gpu, ty, [vocab, k], &blocks).unwrap();
        let ids = [64, 0, 7, 7, 33];
        let out = poisoned(gpu, &[ids.len(), k]);
        embedding_quant(gpu, &table, &ids, &out).unwrap();
        let all = dequantize(ty, &blocks).unwrap();
        let want = crate::ops::embedding::embedding_ref(&all, k, &ids);
        assert_eq!(out.read(gpu).await.unwrap(), want, "{ty:?} rows, dequantized");
        let whole = poisoned(gpu, &[vocab, k]);
        dequantize_quant(gpu, &table, &whole).unwrap();
        assert_eq!(whole.read(gpu).await.unwrap(), all, "{ty:?} matrix, dequantized");
    }

    gpu_tests! {
        async fn matmul_matches_reference() {
            // One token (decode), a few, and many.
            for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
                check(1, ty, &[1], 65, 576).await;
                check(2, ty, &[7], 257, 32).await;
                check(3, ty, &[33], 7, 1536).await;
                check(4, ty, &[2, 9], 33, 96).await;
            }
        }

        async fn fused_matmul_matches_reference() {
            let (q4, q8) = (GgmlType::Q4_1, GgmlType::Q8_0);
            check_fused(11, q4, [1, 2 * 97, 576], true, true, false).await;
            check_fused(12, q8, [5, 65, 96], true, false, true).await;
            check_fused(13, q4, [3, 33, 1536], false, false, true).await;
            check_fused(14, q4, [2, 130, 64], true, true, true).await;
            check_fused(15, q8, [9, 2 * 33, 32], false, true, false).await;
        }

        async fn fused_qkv_projection_matches_reference() {
            // SmolLM2's heads (9 and 3 of 64) for one token; odd head counts and a head of 34
            // dims for a few tokens far into the cache.
            check_fused_rope(16, GgmlType::Q4_1, [1, 9, 3, 64], 576, 300).await;
            check_fused_rope(17, GgmlType::Q8_0, [5, 3, 1, 34], 96, 2000).await;
            check_fused_rope(18, GgmlType::Q4_1, [2, 2, 2, 8], 64, 0).await;
        }

        async fn embedding_and_dequantization_match_reference() {
            check_embedding(5, GgmlType::Q4_1).await;
            check_embedding(6, GgmlType::Q8_0).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let q4 = GgmlType::Q4_1;
            bad(QuantTensor::new(gpu, q4, [2, 33], &[0; 2 * 20]).map(drop));
            bad(QuantTensor::new(gpu, q4, [2, 32], &[0; 39]).map(drop));
            bad(QuantTensor::new(gpu, GgmlType::Q8_0, [2, 32], &[0; 40]).map(drop));
            bad(QuantTensor::new(gpu, q4, [0, 32], &[]).map(drop));
            bad(QuantTensor::new(gpu, GgmlType::F32, [1, 32], &[0; 128]).map(drop));
            let w = QuantTensor::new(gpu, q4, [3, 64], &[0; 3 * 2 * 20]).unwrap();
            let x = Tensor::zeros(gpu, &[2, 64]).unwrap();
            let z = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            bad(matmul_quant(gpu, &z(&[2, 32]), &w, &z(&[2, 3])));
            bad(matmul_quant(gpu, &z(&[64]), &w, &z(&[3])));
            bad(matmul_quant(gpu, &x, &w, &z(&[2, 4])));
            let out = z(&[2, 64]);
            bad(embedding_quant(gpu, &w, &[0, 3], &out));
            bad(embedding_quant(gpu, &w, &[], &out));
            bad(embedding_quant(gpu, &w, &[0], &out));
            bad(dequantize_quant(gpu, &w, &z(&[64, 3])));
            let fused = |f: QuantFused, out: &Tensor| bad(matmul_quant_fused(gpu, &x, &w, &f, out));
            let silu = Some(Activation::Silu);
            fused(QuantFused { glu: silu, ..QuantFused::default() }, &z(&[2, 1]));
            let (norm, residual) = (z(&[64]), z(&[2, 3]));
            fused(QuantFused { rms_norm: Some((&z(&[63]), 1e-5)), ..QuantFused::default() }, &residual);
            fused(QuantFused { rms_norm: Some((&norm, -1.0)), ..QuantFused::default() }, &residual);
            fused(QuantFused { residual: Some(&z(&[2, 4])), ..QuantFused::default() }, &residual);
            fused(QuantFused { residual: Some(&residual), ..QuantFused::default() }, &residual);
            // A projection to 3 heads of 1 dim (odd): no rotary pairs; to 1 + 2 heads of 2 dims
            // (6 rows, not 3), or with a gated unit or a residual, or beyond the cache.
            let (small, odd) = (KvCache::new(gpu, 4, 1, 1, 2).unwrap(), KvCache::new(gpu, 4, 1, 1, 1).unwrap());
            let at = |pos0: usize, cache| Some(QkvRope { pos0, theta: 10000.0, style: RopeStyle::Adjacent, cache });
            fused(QuantFused { rope: at(0, &odd), ..QuantFused::default() }, &z(&[2, 1, 1]));
            fused(QuantFused { rope: at(0, &small), ..QuantFused::default() }, &z(&[2, 1, 2]));
            let w6 = QuantTensor::new(gpu, q4, [6, 64], &[0; 6 * 2 * 20]).unwrap();
            let rope = |f: QuantFused, out: &Tensor| bad(matmul_quant_fused(gpu, &x, &w6, &f, out));
            let q = z(&[2, 1, 2]);
            matmul_quant_fused(gpu, &x, &w6, &QuantFused { rope: at(2, &small), ..QuantFused::default() }, &q).unwrap();
            rope(QuantFused { rope: at(3, &small), ..QuantFused::default() }, &q);
            rope(QuantFused { rope: at(0, &small), glu: silu, ..QuantFused::default() }, &q);
            rope(QuantFused { rope: at(0, &small), residual: Some(&z(&[2, 3])), ..QuantFused::default() }, &q);
            rope(QuantFused { rope: at(0, &small), ..QuantFused::default() }, &z(&[2, 3]));
            gpu.check().unwrap();
        }
    }
}
