//! Uploading a checkpoint's parameters by their PyTorch names, each checked against the shape
//! the architecture expects.

use super::layers::{BatchNorm2d, Conv, Linear, Param};
use crate::formats::json::Json;
use crate::formats::safetensors::SafeTensors;
use crate::ops::conv::Conv2dGeometry;
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

    /// `nn.BatchNorm2d` `name` over `channels` channels.
    pub fn batch_norm(&self, name: &str, channels: usize) -> Result<BatchNorm2d> {
        let p = |field: &str| self.tensor(&format!("{name}.{field}"), &[channels]);
        Ok(BatchNorm2d::new(p("weight")?, p("bias")?, p("running_mean")?, p("running_var")?))
    }

    /// `nn.Conv2d` `name` (`nn.ConvTranspose2d` when `transposed`) with a weight of `shape`, and
    /// a bias when `bias`.
    pub fn conv(
        &self,
        name: &str,
        shape: [usize; 4],
        bias: bool,
        geometry: Conv2dGeometry,
        transposed: bool,
    ) -> Result<Conv> {
        let out_channels = if transposed { shape[1] } else { shape[0] };
        Ok(Conv {
            weight: Param::new(self.tensor(&format!("{name}.weight"), &shape)?),
            bias: self.bias(name, out_channels, bias)?,
            geometry,
            transposed,
        })
    }

    /// `nn.Linear` `name` with a weight `[out, in]`, and a bias when `bias`.
    pub fn linear(&self, name: &str, [out, inputs]: [usize; 2], bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: Param::new(self.tensor(&format!("{name}.weight"), &[out, inputs])?),
            bias: self.bias(name, out, bias)?,
        })
    }

    fn bias(&self, name: &str, len: usize, present: bool) -> Result<Option<Param>> {
        let bias = present.then(|| self.tensor(&format!("{name}.bias"), &[len]));
        Ok(bias.transpose()?.map(Param::new))
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
