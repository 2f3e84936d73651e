//! Element-wise addition and multiplication with NumPy (PyTorch) broadcasting, up to rank 4.

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Error, Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("binary.wgsl", "main");
const WORKGROUP_SIZE: u32 = 64;
const MAX_RANK: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinaryOp {
    Add,
    Mul,
}

impl BinaryOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Mul => a * b,
        }
    }
}

params! {
    pub(super) struct Params {
        out_shape: [u32; 4],
        a_strides: [u32; 4],
        b_strides: [u32; 4],
        len: u32,
        op: u32,
    }
}

/// The shape `a` and `b` broadcast to: right-aligned, each dimension equal or 1.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.len() > MAX_RANK || b.len() > MAX_RANK {
        invalid!("broadcasting supports rank {MAX_RANK} at most; got shapes {a:?} and {b:?}");
    }
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], k: usize| {
        if k + s.len() >= rank {
            s[k + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(Error::Invalid(format!("shapes {a:?} and {b:?} do not broadcast"))),
        })
        .collect()
}

/// `shape` right-aligned into 4 dimensions, the missing leading ones 1.
fn aligned(shape: &[usize]) -> [usize; MAX_RANK] {
    let mut dims = [1; MAX_RANK];
    dims[MAX_RANK - shape.len()..].copy_from_slice(shape);
    dims
}

/// Row-major strides of `shape` aligned, 0 along its dimensions of 1: their one element serves
/// every coordinate there.
fn broadcast_strides(shape: &[usize]) -> Result<[u32; MAX_RANK]> {
    let dims = aligned(shape);
    let (mut strides, mut stride) = ([0; MAX_RANK], 1);
    for k in (0..MAX_RANK).rev() {
        if dims[k] != 1 {
            strides[k] = to_u32("broadcast stride", stride)?;
        }
        stride *= dims[k];
    }
    Ok(strides)
}

/// `out = a op b`, broadcasting; `out` must have the broadcast shape.
pub fn binary(gpu: &Gpu, op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    expect_output(&format!("{op:?} output"), out, &shape, [a, b])?;
    if gpu.is_reference() {
        return out.set_host(binary_ref(op, &a.host()?, a.shape(), &b.host()?, b.shape())?);
    }
    // Every dimension is at most the element count, which fits.
    let len = to_u32("broadcast element count", out.numel())?;
    let params = Params {
        out_shape: aligned(&shape).map(|d| d as u32),
        a_strides: broadcast_strides(a.shape())?,
        b_strides: broadcast_strides(b.shape())?,
        len,
        op: op as u32,
    };
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP_SIZE)?;
    gpu.dispatch(&KERNEL, &params, &[a.buffer()?, b.buffer()?, out.buffer()?], groups, out)
}

/// Reference: each output coordinate taken modulo the operands' dimensions (a dimension of 1
/// always gives 0), in f64.
pub fn binary_ref(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
) -> Result<Vec<f32>> {
    let shape = broadcast_shape(a_shape, b_shape)?;
    let len: usize = shape.iter().product();
    let index = |i: usize, operand: &[usize]| {
        let (mut rest, mut index, mut stride) = (i, 0, 1);
        for k in (0..shape.len()).rev() {
            let coord = rest % shape[k];
            rest /= shape[k];
            if let Some(&dim) =
                (k + operand.len()).checked_sub(shape.len()).and_then(|j| operand.get(j))
            {
                index += (coord % dim) * stride;
                stride *= dim;
            }
        }
        index
    };
    Ok((0..len)
        .map(|i| op.apply(a[index(i, a_shape)] as f64, b[index(i, b_shape)] as f64) as f32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    async fn check(gpu: &Gpu, op: BinaryOp, seed: u64, a_shape: &[usize], b_shape: &[usize]) {
        let mut rng = Rng::new(seed);
        let (a, a_host) = random(gpu, &mut rng, a_shape);
        let (b, b_host) = random(gpu, &mut rng, b_shape);
        let want = binary_ref(op, &a_host, a_shape, &b_host, b_shape).unwrap();
        let out = poisoned(gpu, &broadcast_shape(a_shape, b_shape).unwrap());
        binary(gpu, op, &a, &b, &out).unwrap();
        // f32 addition and multiplication are correctly rounded (WebGPU and Vulkan both say
        // so), and the f64 reference is exact before its one rounding: the results are equal.
        let what = format!("{op:?} {a_shape:?} {b_shape:?}");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, 0.0, 0.0);
    }

    gpu_tests! {
        async fn same_shapes() {
            let gpu = gpu().await;
            check(gpu, BinaryOp::Add, 1, &[7, 33], &[7, 33]).await;
            check(gpu, BinaryOp::Mul, 2, &[2, 3, 5, 7], &[2, 3, 5, 7]).await;
            check(gpu, BinaryOp::Add, 3, &[257], &[257]).await;
        }

        async fn broadcasting_shapes() {
            let gpu = gpu().await;
            check(gpu, BinaryOp::Add, 10, &[33, 65], &[65]).await;
            check(gpu, BinaryOp::Mul, 11, &[7, 1, 33], &[1, 65, 1]).await;
            // A per-channel bias on an NCHW image.
            check(gpu, BinaryOp::Add, 12, &[2, 3, 7, 7], &[3, 1, 1]).await;
            check(gpu, BinaryOp::Mul, 13, &[2, 1, 7, 1], &[1, 3, 1, 33]).await;
            check(gpu, BinaryOp::Mul, 14, &[65], &[7, 1]).await;
        }

        async fn scalar_like_operands() {
            let gpu = gpu().await;
            check(gpu, BinaryOp::Mul, 20, &[33, 7], &[1]).await;
            check(gpu, BinaryOp::Add, 21, &[1], &[2, 3, 65]).await;
            check(gpu, BinaryOp::Add, 22, &[1], &[1]).await;
        }

        async fn bad_shapes_are_errors() {
            let gpu = gpu().await;
            let invalid = |a: &[usize], b: &[usize], out: &[usize]| {
                let a = Tensor::zeros(gpu, a).unwrap();
                let b = Tensor::zeros(gpu, b).unwrap();
                let out = Tensor::zeros(gpu, out).unwrap();
                matches!(binary(gpu, BinaryOp::Add, &a, &b, &out), Err(Error::Invalid(_)))
            };
            assert!(invalid(&[3, 4], &[5], &[3, 4]));
            assert!(invalid(&[2, 3], &[3, 2], &[2, 3]));
            assert!(invalid(&[1, 2, 1, 1, 3], &[3], &[1, 2, 1, 1, 3]));
            assert!(invalid(&[3, 4], &[4], &[4, 3]));
            assert!(invalid(&[3, 4], &[4], &[12]));
            gpu.check().unwrap();
        }
    }
}
