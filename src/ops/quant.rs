//! Ops on weights that stay Q4_1-quantized on the GPU (5 bits a weight instead of 32): a matmul
//! and an embedding lookup that dequantize blocks as they read them. The references dequantize
//! with `formats::gguf::dequantize` and compute in f64.

use bytemuck::{Pod, Zeroable};

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::formats::gguf::{dequantize, GgmlType};
use crate::gpu::{kernel, Kernel, Workgroups};
use crate::ops::matmul::{matmul_ref, MatmulDims};
use crate::{Error, Gpu, Result, Tensor};

const MATMUL: Kernel = kernel!("matmul_q4_1.wgsl", "main", uses "q4_1.wgsl");
const EMBEDDING: Kernel = kernel!("embedding_q4_1.wgsl", "main", uses "q4_1.wgsl");
const WORKGROUP: usize = 64;
/// Rows of x each matmul thread handles (`ROWS` in the shader).
const ROWS: usize = 8;
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 20;

/// A Q4_1 matrix `[rows, cols]` on the GPU, as GGUF stores it: each row `cols / 32` blocks.
pub struct QuantTensor {
    buffer: wgpu::Buffer,
    shape: [usize; 2],
}

impl QuantTensor {
    /// Uploads the blocks of a `[rows, cols]` Q4_1 matrix.
    pub fn new(gpu: &Gpu, shape: [usize; 2], blocks: &[u8]) -> Result<QuantTensor> {
        let [rows, cols] = shape;
        if rows == 0 || cols == 0 || cols % BLOCK != 0 {
            invalid!("a Q4_1 matrix needs rows of whole 32-weight blocks; got {shape:?}");
        }
        let bytes = rows.checked_mul(cols / BLOCK).and_then(|b| b.checked_mul(BLOCK_BYTES));
        if bytes != Some(blocks.len()) {
            invalid!("a Q4_1 matrix {shape:?} takes {bytes:?} bytes; got {}", blocks.len());
        }
        if blocks.len() as u64 > gpu.max_storage_bytes() {
            return Err(Error::TooLarge(format!(
                "a Q4_1 matrix of {} bytes; this device binds at most {}",
                blocks.len(),
                gpu.max_storage_bytes()
            )));
        }
        Ok(QuantTensor { buffer: gpu.upload(blocks), shape })
    }

    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
}

/// `out = x w^T` for `x` `[.., m, k]` and a Q4_1 `w` `[n, k]`: a linear layer without bias.
pub fn matmul_q4_1(gpu: &Gpu, x: &Tensor, w: &QuantTensor, out: &Tensor) -> Result<()> {
    let [n, k] = w.shape;
    let (&last, lead) = x.shape().split_last().unwrap_or((&0, &[]));
    if last != k || lead.is_empty() {
        invalid!("Q4_1 matmul: x {:?} does not end in the weight's {k} columns", x.shape());
    }
    let m: usize = lead.iter().product();
    let out_shape: Vec<usize> = lead.iter().copied().chain([n]).collect();
    expect_output("Q4_1 matmul output", out, &out_shape, [x])?;
    let params = MatmulParams { m: to_u32("m", m)?, n: to_u32("n", n)?, k: to_u32("k", k)? };
    let groups = Workgroups::grid(gpu, [n.div_ceil(WORKGROUP), m.div_ceil(ROWS), 1])?;
    gpu.dispatch(&MATMUL, &params, &[x.buffer(), &w.buffer, out.buffer()], groups, out)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EmbeddingParams {
    len: u32,
    k: u32,
}

/// `out[t] = w[ids[t]]`, dequantized, for a Q4_1 table `w` `[vocab, k]`; `out` is
/// `[ids.len(), k]`.
pub fn embedding_q4_1(gpu: &Gpu, w: &QuantTensor, ids: &[u32], out: &Tensor) -> Result<()> {
    let [vocab, k] = w.shape;
    if ids.is_empty() {
        invalid!("embedding needs at least one token id");
    }
    if let Some((position, id)) = ids.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
        invalid!("token id {id} at position {position} is outside the vocabulary of {vocab}");
    }
    expect_output("Q4_1 embedding output", out, &[ids.len(), k], [])?;
    let params =
        EmbeddingParams { len: to_u32("embedding size", out.numel())?, k: to_u32("k", k)? };
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP as u32)?;
    gpu.dispatch(&EMBEDDING, &params, &[&gpu.upload(ids), &w.buffer, out.buffer()], groups, out)
}

/// Reference for `matmul_q4_1`: `x` `[m, k]` times the dequantized `[n, k]` blocks, transposed.
pub fn matmul_q4_1_ref(x: &[f32], blocks: &[u8], [n, k]: [usize; 2]) -> Result<Vec<f32>> {
    let w = dequantize(GgmlType::Q4_1, blocks)?;
    let d = MatmulDims::new(&[x.len() / k, k], &[n, k], true)?;
    Ok(matmul_ref(&d, x, &w, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// Random Q4_1 blocks for a `[rows, cols]` matrix, every code: f16 bits built directly,
    /// scales in [2^-7, 2^-3) and minimums in (-2, -2^-4], so weights stay within about 2.
    fn random_blocks(rng: &mut Rng, rows: usize, cols: usize) -> Vec<u8> {
        let mut half = |lo: u16, hi: u16, sign: u16| {
            let exp = lo + rng.below((hi - lo).into()) as u16;
            (sign | exp << 10 | rng.below(1024) as u16).to_le_bytes()
        };
        let mut out = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            out.extend(half(8, 12, 0));
            out.extend(half(11, 15, 0x8000));
            out.extend((0..16).map(|_| 0));
        }
        for b in out.chunks_mut(BLOCK_BYTES) {
            b[4..].iter_mut().for_each(|q| *q = rng.below(256) as u8);
        }
        out
    }

    async fn check(seed: u64, lead: &[usize], n: usize, k: usize) {
        let gpu = gpu().await;
        let mut rng = Rng::new(seed);
        let m: usize = lead.iter().product();
        let x_shape: Vec<usize> = lead.iter().copied().chain([k]).collect();
        let (x, x_host) = random(gpu, &mut rng, &x_shape);
        let blocks = random_blocks(&mut rng, n, k);
        let w = QuantTensor::new(gpu, [n, k], &blocks).unwrap();
        let out_shape: Vec<usize> = lead.iter().copied().chain([n]).collect();
        let out = poisoned(gpu, &out_shape);
        matmul_q4_1(gpu, &x, &w, &out).unwrap();
        let want = matmul_q4_1_ref(&x_host, &blocks, [n, k]).unwrap();
        assert_eq!(want.len(), m * n);
        // Weights up to about 2 in size, K products: f32 rounding grows with K.
        let what = format!("Q4_1 matmul x {x_shape:?}, w [{n}, {k}]");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-7 * k as f32 + 2e-6, 1e-5);
    }

    gpu_tests! {
        async fn matmul_matches_reference() {
            // One token (decode), a few, and more rows than one thread's group of 8.
            check(1, &[1], 65, 576).await;
            check(2, &[7], 257, 32).await;
            check(3, &[33], 7, 1536).await;
            check(4, &[2, 9], 33, 96).await;
        }

        async fn embedding_matches_reference() {
            let gpu = gpu().await;
            let mut rng = Rng::new(5);
            let (vocab, k) = (65, 96);
            let blocks = random_blocks(&mut rng, vocab, k);
            let table = QuantTensor::new(gpu, [vocab, k], &blocks).unwrap();
            let ids = [64, 0, 7, 7, 33];
            let out = poisoned(gpu, &[ids.len(), k]);
            embedding_q4_1(gpu, &table, &ids, &out).unwrap();
            let all = dequantize(GgmlType::Q4_1, &blocks).unwrap();
            let want = crate::ops::embedding::embedding_ref(&all, k, &ids);
            assert_eq!(out.read(gpu).await.unwrap(), want, "dequantized rows");
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            bad(QuantTensor::new(gpu, [2, 33], &[0; 2 * 20]).map(drop));
            bad(QuantTensor::new(gpu, [2, 32], &[0; 39]).map(drop));
            bad(QuantTensor::new(gpu, [0, 32], &[]).map(drop));
            let w = QuantTensor::new(gpu, [3, 64], &[0; 3 * 2 * 20]).unwrap();
            let x = Tensor::zeros(gpu, &[2, 64]).unwrap();
            bad(matmul_q4_1(gpu, &Tensor::zeros(gpu, &[2, 32]).unwrap(), &w, &Tensor::zeros(gpu, &[2, 3]).unwrap()));
            bad(matmul_q4_1(gpu, &Tensor::zeros(gpu, &[64]).unwrap(), &w, &Tensor::zeros(gpu, &[3]).unwrap()));
            bad(matmul_q4_1(gpu, &x, &w, &Tensor::zeros(gpu, &[2, 4]).unwrap()));
            let out = Tensor::zeros(gpu, &[2, 64]).unwrap();
            bad(embedding_q4_1(gpu, &w, &[0, 3], &out));
            bad(embedding_q4_1(gpu, &w, &[], &out));
            bad(embedding_q4_1(gpu, &w, &[0], &out));
            gpu.check().unwrap();
        }
    }
}
