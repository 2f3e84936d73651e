//! Uploading a checkpoint's parameters by their PyTorch names, each checked against the shape
//! the architecture expects.

use crate::formats::json::Json;
use crate::formats::safetensors::SafeTensors;
use crate::ops::norm::BatchNorm;
use crate::{Error, Gpu, Result, Tensor};

pub(crate) struct Weights<'a, 'g> {
    gpu: &'g Gpu,
    file: SafeTensors<'a>,
}

impl<'a, 'g> Weights<'a, 'g> {
    /// Parses a checkpoint and checks it holds as many parameters as its model card says, so a
    /// checkpoint with missing or extra tensors is refused before anything is uploaded.
    pub fn open(gpu: &'g Gpu, card: &Json, bytes: &'a [u8]) -> Result<Weights<'a, 'g>> {
        let file = SafeTensors::parse(bytes)?;
        let expected = card
            .get("parameters")
            .and_then(Json::as_usize)
            .ok_or_else(|| Error::Invalid("the model card has no parameter count".into()))?;
        let mut found = 0usize;
        for name in file.names() {
            found = found.saturating_add(file.shape(name)?.iter().product());
        }
        if found != expected {
            return Err(Error::Invalid(format!(
                "the checkpoint holds {found} parameters; its model card says {expected}"
            )));
        }
        Ok(Weights { gpu, file })
    }

    /// The parameter `name`, which must be float32 of exactly `shape`, every value finite.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_slice(self.gpu, shape, &self.values(name, shape)?)
    }

    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let values = self.file.f32(name, shape)?;
        finite(name, &values)?;
        Ok(values)
    }

    /// `nn.BatchNorm2d` `name` over `channels` channels, in eval mode.
    pub fn batch_norm(&self, name: &str, channels: usize) -> Result<BatchNormWeights> {
        let p = |field: &str| self.tensor(&format!("{name}.{field}"), &[channels]);
        Ok(BatchNormWeights {
            gamma: p("weight")?,
            beta: p("bias")?,
            running_mean: p("running_mean")?,
            running_var: p("running_var")?,
        })
    }
}

/// Fails unless every value of the weight `name` is finite: a NaN or an infinity (a damaged
/// file, or a training run that diverged) would only show up later as a blank image.
pub(crate) fn finite(name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Invalid(format!(
            "weight '{name}' holds {} at element {i}; the file is damaged or was saved from a \
             diverged training run",
            values[i]
        ))),
        None => Ok(()),
    }
}

/// A batch norm layer's parameters on the GPU.
pub(crate) struct BatchNormWeights {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNormWeights {
    /// PyTorch's default eps of 1e-5.
    pub fn layer(&self) -> BatchNorm<'_> {
        BatchNorm {
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            gamma: &self.gamma,
            beta: &self.beta,
            eps: 1e-5,
        }
    }
}
