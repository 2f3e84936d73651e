//! The kernel library. Each file holds one op family: its parameter struct (the uniform its
//! WGSL reads), its GPU dispatch, its plain-Rust reference and its tests.
//!
//! Ops write into an output tensor the caller owns, so a forward pass can reuse its buffers;
//! every op checks the shapes it is given and returns `Err` instead of dispatching bad work.

pub mod activation;
pub mod attention;
pub mod batch_norm_train;
pub mod binary;
pub mod codebook;
pub mod conv;
pub mod conv_backward;
pub mod denoise;
pub mod embedding;
pub mod latent;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod quant;
pub mod rope;
pub mod softmax;
pub mod topk;
#[cfg(test)]
mod uniforms;

pub use matmul::{matmul, matmul_naive};

use crate::error::invalid;
use crate::{Error, Result, Tensor};

/// Fails unless `t` has exactly `shape`.
pub(crate) fn expect_shape(what: &str, t: &Tensor, shape: &[usize]) -> Result<()> {
    if t.shape() == shape {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{what} has shape {:?}; expected {shape:?}", t.shape())))
    }
}

/// Fails unless `out` has `shape` and is none of `inputs`: WebGPU cannot read and write one
/// buffer in a dispatch, and would only say so once the whole batch of commands is submitted.
pub(crate) fn expect_output<'a>(
    what: &str,
    out: &Tensor,
    shape: &[usize],
    inputs: impl IntoIterator<Item = &'a Tensor>,
) -> Result<()> {
    expect_shape(what, out, shape)?;
    if inputs.into_iter().any(|input| input.same_buffer(out)) {
        invalid!("{what} must be a different tensor from the inputs (ops do not work in place)");
    }
    Ok(())
}

/// Converts a size to the u32 a shader indexes with.
pub(crate) fn to_u32(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n)
        .map_err(|_| Error::TooLarge(format!("{what} = {n} does not fit a 32-bit index")))
}

/// Whether a parameter's gradient replaces what its tensor holds or adds to it: PyTorch sums the
/// gradients of every backward pass since `zero_grad`, and a GAN's discriminator takes two (the
/// real batch and the fake one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gradient {
    Write,
    Add,
}

impl Gradient {
    /// On the reference device: `grad` becomes `values`, or `grad + values`.
    pub(crate) fn store_host(self, grad: &Tensor, values: Vec<f32>) -> Result<()> {
        match self {
            Gradient::Write => grad.set_host(values),
            Gradient::Add => {
                let sum = grad.host()?.iter().zip(&values).map(|(g, v)| g + v).collect();
                grad.set_host(sum)
            }
        }
    }
}
