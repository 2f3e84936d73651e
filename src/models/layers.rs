//! Layers with a forward and a backward pass, as llm.c writes them: each holds its parameters
//! beside their gradients, and its backward reads the input its forward was given. A model built
//! of them reads like its PyTorch module, and can train: `train` switches it to batch statistics
//! (and makes the gradients), `eval` back, as `nn.Module.train()` and `.eval()` do.

use crate::ops::batch_norm_train::{batch_norm_backward, batch_norm_train};
use crate::ops::conv::{conv2d, conv_transpose2d, Conv2dGeometry};
use crate::ops::conv_backward::{
    bias_grad, conv2d_input_grad, conv2d_weight_grad, conv_transpose2d_input_grad,
    conv_transpose2d_weight_grad,
};
use crate::ops::matmul::matmul;
use crate::ops::norm::{batch_norm, BatchNorm};
use crate::ops::Gradient;
use crate::{Error, Gpu, Result, Tensor};

/// A parameter and, once its model trains, its gradient (PyTorch's `.grad`).
pub(crate) struct Param {
    pub value: Tensor,
    grad: Option<Tensor>,
}

impl Param {
    pub fn new(value: Tensor) -> Param {
        Param { value, grad: None }
    }

    /// The gradient, which exists once the model has been switched to training.
    pub fn grad(&self) -> Result<&Tensor> {
        self.grad.as_ref().ok_or_else(|| {
            Error::Invalid("the model must be in training mode for a backward pass".into())
        })
    }

    fn require_grad(&mut self, gpu: &Gpu) -> Result<()> {
        if self.grad.is_none() {
            self.grad = Some(Tensor::zeros(gpu, self.value.shape())?);
        }
        Ok(())
    }
}

/// `nn.Conv2d` (or `nn.ConvTranspose2d` when `transposed`), without groups or dilation.
pub(crate) struct Conv {
    pub weight: Param,
    pub bias: Option<Param>,
    pub geometry: Conv2dGeometry,
    pub transposed: bool,
}

impl Conv {
    pub fn forward(&self, gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<()> {
        let (w, bias, g) =
            (&self.weight.value, self.bias.as_ref().map(|b| &b.value), self.geometry);
        if self.transposed {
            conv_transpose2d(gpu, x, w, bias, g, y)
        } else {
            conv2d(gpu, x, w, bias, g, y)
        }
    }

    /// From the forward's input `x` and the output's gradient `dy`: the parameters' gradients
    /// when `grads` says how to store them, and the input's gradient `dx` when asked for one.
    pub fn backward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        dy: &Tensor,
        grads: Option<Gradient>,
        dx: Option<&Tensor>,
    ) -> Result<()> {
        let (w, g) = (&self.weight.value, self.geometry);
        if let Some(mode) = grads {
            let dw = self.weight.grad()?;
            if self.transposed {
                conv_transpose2d_weight_grad(gpu, x, dy, g, mode, dw)?;
            } else {
                conv2d_weight_grad(gpu, x, dy, g, mode, dw)?;
            }
            if let Some(bias) = &self.bias {
                bias_grad(gpu, dy, mode, bias.grad()?)?;
            }
        }
        match (dx, self.transposed) {
            (Some(dx), true) => conv_transpose2d_input_grad(gpu, dy, w, g, dx),
            (Some(dx), false) => conv2d_input_grad(gpu, dy, w, g, dx),
            (None, _) => Ok(()),
        }
    }

    pub fn params(&self) -> impl Iterator<Item = &Param> {
        std::iter::once(&self.weight).chain(self.bias.as_ref())
    }
}

/// `nn.Linear`: `y = x w^T + b` for `x` `[N, in]` and `w` `[out, in]`.
pub(crate) struct Linear {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl Linear {
    pub fn forward(&self, gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<()> {
        matmul(gpu, x, &self.weight.value, self.bias.as_ref().map(|b| &b.value), true, y)
    }

    /// As `Conv::backward`. The weight's gradient `dy^T x` is a 1x1 convolution's.
    pub fn backward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        dy: &Tensor,
        grads: Option<Gradient>,
        dx: Option<&Tensor>,
    ) -> Result<()> {
        let (&[n, inputs], &[dy_n, out]) = (x.shape(), dy.shape()) else {
            return Err(Error::Invalid(format!(
                "a linear layer's backward pass takes x [n, in] and dy [n, out]; got {:?} and {:?}",
                x.shape(),
                dy.shape()
            )));
        };
        if dy_n != n {
            return Err(Error::Invalid(format!("{n} inputs but {dy_n} output gradients")));
        }
        if let Some(mode) = grads {
            let as_pixels = |t: &Tensor, c: usize| t.view(&[n, c, 1, 1]);
            let dw = self.weight.grad()?.view(&[out, inputs, 1, 1])?;
            let one = Conv2dGeometry::new(1, 0);
            conv2d_weight_grad(gpu, &as_pixels(x, inputs)?, &as_pixels(dy, out)?, one, mode, &dw)?;
            if let Some(bias) = &self.bias {
                bias_grad(gpu, dy, mode, bias.grad()?)?;
            }
        }
        match dx {
            Some(dx) => matmul(gpu, dy, &self.weight.value, None, false, dx),
            None => Ok(()),
        }
    }

    pub fn params(&self) -> impl Iterator<Item = &Param> {
        std::iter::once(&self.weight).chain(self.bias.as_ref())
    }
}

/// `nn.BatchNorm2d` (eps 1e-5, momentum 0.1): running statistics in eval mode; in training
/// mode the batch's, with the running ones updated and the batch's kept for the backward pass.
pub(crate) struct BatchNorm2d {
    pub gamma: Param,
    pub beta: Param,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// The last training batch's mean and inverse standard deviation, `[2, C]`.
    saved: Option<Tensor>,
}

impl BatchNorm2d {
    const EPS: f32 = 1e-5;
    const MOMENTUM: f32 = 0.1;

    pub fn new(gamma: Tensor, beta: Tensor, running_mean: Tensor, running_var: Tensor) -> Self {
        BatchNorm2d {
            gamma: Param::new(gamma),
            beta: Param::new(beta),
            running_mean,
            running_var,
            saved: None,
        }
    }

    fn layer(&self) -> BatchNorm<'_> {
        BatchNorm {
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            gamma: &self.gamma.value,
            beta: &self.beta.value,
            eps: Self::EPS,
        }
    }

    pub fn forward(&self, gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<()> {
        match &self.saved {
            Some(saved) => batch_norm_train(gpu, &self.layer(), Self::MOMENTUM, x, y, saved),
            None => batch_norm(gpu, &self.layer(), x, y),
        }
    }

    /// From the training forward's input `x` and the output's gradient `dy`: `dx`, and the
    /// gradients of gamma and beta when `grads` says how to store them.
    pub fn backward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        dy: &Tensor,
        grads: Option<Gradient>,
        dx: &Tensor,
    ) -> Result<()> {
        let saved = self.saved.as_ref().ok_or_else(|| {
            Error::Invalid(
                "batch norm's backward pass needs a forward pass in training mode".into(),
            )
        })?;
        let (dgamma, dbeta) = (self.gamma.grad()?, self.beta.grad()?);
        batch_norm_backward(gpu, &self.gamma.value, x, saved, dy, grads, dx, dgamma, dbeta)
    }

    pub fn params(&self) -> impl Iterator<Item = &Param> {
        [&self.gamma, &self.beta].into_iter()
    }
}

/// What `model.train()` and `model.eval()` switch in each layer.
pub(crate) trait Train {
    /// Training mode (`true`): gradients made, batch statistics used; or eval mode (the
    /// gradients stay).
    fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()>;
}

/// A weight and an optional bias get their gradients, when `training`.
fn require_grads(
    gpu: &Gpu,
    training: bool,
    weight: &mut Param,
    bias: &mut Option<Param>,
) -> Result<()> {
    if !training {
        return Ok(());
    }
    weight.require_grad(gpu)?;
    bias.as_mut().map_or(Ok(()), |b| b.require_grad(gpu))
}

impl Train for Conv {
    fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        require_grads(gpu, training, &mut self.weight, &mut self.bias)
    }
}

impl Train for Linear {
    fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        require_grads(gpu, training, &mut self.weight, &mut self.bias)
    }
}

impl Train for BatchNorm2d {
    fn set_training(&mut self, gpu: &Gpu, training: bool) -> Result<()> {
        if training {
            self.gamma.require_grad(gpu)?;
            self.beta.require_grad(gpu)?;
        }
        self.saved = match (training, self.saved.take()) {
            (true, Some(saved)) => Some(saved),
            (true, None) => Some(Tensor::zeros(gpu, &[2, self.gamma.value.numel()])?),
            (false, _) => None,
        };
        Ok(())
    }
}
