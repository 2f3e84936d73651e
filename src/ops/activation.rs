//! Element-wise activations with PyTorch's semantics, on tensors of any shape, and their
//! gradients for the backward pass.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("activation.wgsl", "main", uses "act.wgsl");
pub(super) const BACKWARD: Kernel<Params> = kernel!("activation.wgsl", "backward", uses "act.wgsl");
pub(super) const GLU: Kernel<Params> = kernel!("activation.wgsl", "glu", uses "act.wgsl");
const WORKGROUP_SIZE: u32 = 64;

/// The activation functions of `torch.nn`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Relu,
    /// `x` for `x >= 0`, `alpha * x` below.
    LeakyRelu(f32),
    /// `nn.GELU()`, exact: `0.5 x (1 + erf(x / sqrt 2))`. The shader's erf is the Numerical
    /// Recipes Chebyshev fit of erfc, relative error below 1.2e-7.
    Gelu,
    /// `nn.GELU(approximate="tanh")`.
    GeluTanh,
    Silu,
    Tanh,
    Sigmoid,
}

impl Activation {
    /// The shader's op code and its `alpha`.
    pub(super) fn code(self) -> (u32, f32) {
        match self {
            Activation::Relu => (0, 0.0),
            Activation::LeakyRelu(alpha) => (1, alpha),
            Activation::Gelu => (2, 0.0),
            Activation::GeluTanh => (3, 0.0),
            Activation::Silu => (4, 0.0),
            Activation::Tanh => (5, 0.0),
            Activation::Sigmoid => (6, 0.0),
        }
    }
}

params! {
    pub(super) struct Params {
        len: u32,
        op: u32,
        alpha: f32,
        /// The width of a gated linear unit's output rows (0 for the others).
        half: u32,
    }
}

/// `out = act(x)` element by element; `out` has the shape of `x`.
pub fn activation(gpu: &Gpu, act: Activation, x: &Tensor, out: &Tensor) -> Result<()> {
    expect_output("activation output", out, x.shape(), [x])?;
    let params = params(act, x)?;
    if gpu.is_reference() {
        return out.set_host(activation_ref(act, &x.host()?));
    }
    let groups = Workgroups::linear(gpu, x.numel(), WORKGROUP_SIZE)?;
    gpu.dispatch(&KERNEL, &params, &[x.buffer()?, out.buffer()?], groups, out)
}

/// The backward pass of `activation`: `dx = dy * act'(x)`, from the forward's input `x` and the
/// gradient `dy` of its output; all three have one shape.
pub fn activation_backward(
    gpu: &Gpu,
    act: Activation,
    x: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<()> {
    expect_shape("activation gradient", dy, x.shape())?;
    expect_output("activation input gradient", dx, x.shape(), [x, dy])?;
    let params = params(act, x)?;
    if gpu.is_reference() {
        let grad = activation_grad_ref(act, &x.host()?);
        return dx.set_host(grad.iter().zip(dy.host()?.iter()).map(|(g, d)| g * d).collect());
    }
    let groups = Workgroups::linear(gpu, x.numel(), WORKGROUP_SIZE)?;
    gpu.dispatch(&BACKWARD, &params, &[x.buffer()?, dx.buffer()?, dy.buffer()?], groups, dx)
}

fn params(act: Activation, x: &Tensor) -> Result<Params> {
    let (op, alpha) = act.code();
    if !alpha.is_finite() {
        invalid!("LeakyReLU slope must be finite; got {alpha}");
    }
    Ok(Params { len: to_u32("activation length", x.numel())?, op, alpha, half: 0 })
}

/// A gated linear unit: each row of `x` `[.., 2h]` is `[gate, up]`, and `out` `[.., h]` is
/// `act(gate) * up` (SwiGLU with `Silu`).
pub fn glu(gpu: &Gpu, act: Activation, x: &Tensor, out: &Tensor) -> Result<()> {
    let (&width, lead) = x.shape().split_last().unwrap_or((&0, &[]));
    if width % 2 != 0 || width == 0 {
        invalid!("a gated linear unit needs rows of [gate, up] halves; x is {:?}", x.shape());
    }
    let out_shape: Vec<usize> = lead.iter().copied().chain([width / 2]).collect();
    expect_output("gated linear unit output", out, &out_shape, [x])?;
    if gpu.is_reference() {
        return out.set_host(glu_ref(act, &x.host()?, width / 2));
    }
    let params = Params { half: to_u32("half", width / 2)?, ..params(act, out)? };
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP_SIZE)?;
    gpu.dispatch(&GLU, &params, &[x.buffer()?, out.buffer()?], groups, out)
}

/// Reference for `glu` over rows of `2 half`.
pub fn glu_ref(act: Activation, x: &[f32], half: usize) -> Vec<f32> {
    x.chunks(2 * half)
        .flat_map(|row| {
            let gate = activation_ref(act, &row[..half]);
            gate.into_iter().zip(&row[half..]).map(|(g, &u)| (g as f64 * u as f64) as f32)
        })
        .collect()
}

/// Reference: the definitions, evaluated in f64.
pub fn activation_ref(act: Activation, x: &[f32]) -> Vec<f32> {
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let f = |v: f64| match act {
        Activation::Relu => v.max(0.0),
        Activation::LeakyRelu(alpha) => {
            if v < 0.0 {
                alpha as f64 * v
            } else {
                v
            }
        }
        // 1 + erf(v / sqrt 2) is erfc(-v / sqrt 2); erfc_ref takes z >= 0.
        Activation::Gelu => {
            let q = erfc_ref(v.abs() * std::f64::consts::FRAC_1_SQRT_2);
            0.5 * v * if v < 0.0 { q } else { 2.0 - q }
        }
        Activation::GeluTanh => {
            let u = (2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3));
            0.5 * v * (1.0 + u.tanh())
        }
        Activation::Silu => v * sigmoid(v),
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => sigmoid(v),
    };
    x.iter().map(|&v| f(v as f64) as f32).collect()
}

/// Reference derivative `act'(x)`, from the derivatives' closed forms in f64 (PyTorch's at the
/// kinks: 0 for ReLU at 0, alpha for LeakyReLU). The tests check these against finite differences
/// of `activation_ref`.
pub fn activation_grad_ref(act: Activation, x: &[f32]) -> Vec<f32> {
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let f = |v: f64| match act {
        // NaN passes the gradient through, as PyTorch's threshold_backward does.
        Activation::Relu => (v.is_nan() || v > 0.0) as u8 as f64,
        Activation::LeakyRelu(alpha) => {
            if v > 0.0 {
                1.0
            } else {
                alpha as f64
            }
        }
        Activation::Gelu => {
            let q = erfc_ref(v.abs() * std::f64::consts::FRAC_1_SQRT_2);
            let cdf = 0.5 * if v < 0.0 { q } else { 2.0 - q };
            cdf + v * (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt()
        }
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let t = (c * (v + 0.044715 * v.powi(3))).tanh();
            0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v)
        }
        Activation::Silu => sigmoid(v) * (1.0 + v * (1.0 - sigmoid(v))),
        Activation::Tanh => 1.0 - v.tanh().powi(2),
        Activation::Sigmoid => sigmoid(v) * (1.0 - sigmoid(v)),
    };
    x.iter().map(|&v| f(v as f64) as f32).collect()
}

/// erfc(z) for z >= 0 to about 1e-13 relative, for the reference (std has no erf): erf's Taylor
/// series below 2, where its terms stay small enough not to cancel, and the continued fraction
/// `erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))` from 2 on.
fn erfc_ref(z: f64) -> f64 {
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    if z < 2.0 {
        let (mut term, mut sum) = (z, z);
        for n in 1..60 {
            term *= -z * z / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        1.0 - two_over_sqrt_pi * sum
    } else {
        let fraction = (1..=60).rev().fold(z, |f, k| z + k as f64 / 2.0 / f);
        0.5 * two_over_sqrt_pi * (-z * z).exp() / fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    const ALL: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Tanh,
        Activation::Sigmoid,
    ];

    async fn check(gpu: &Gpu, act: Activation, seed: u64, shape: &[usize], scale: f32) {
        let mut rng = Rng::new(seed);
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v * scale).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let out = poisoned(gpu, shape);
        activation(gpu, act, &x, &out).unwrap();
        let want = activation_ref(act, &host);
        // exp, the division and erfc's 1.2e-7 leave a few ulps: atol covers outputs of order
        // 1 (worst seen on lavapipe 2.4e-7), rtol the outputs near 20 (worst seen 1e-7 relative).
        assert_close(
            &format!("{act:?} {shape:?} x{scale}"),
            &out.read(gpu).await.unwrap(),
            &want,
            1e-6,
            1e-6,
        );
    }

    /// The gradient of a random `dy` through `act` on random `x` of `shape`, against the
    /// reference derivative.
    async fn check_backward(gpu: &Gpu, act: Activation, seed: u64, shape: &[usize], scale: f32) {
        let mut rng = Rng::new(seed);
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v * scale).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let (dy, dy_host) = random(gpu, &mut rng, shape);
        let dx = poisoned(gpu, shape);
        activation_backward(gpu, act, &x, &dy, &dx).unwrap();
        let grad = activation_grad_ref(act, &host);
        let want: Vec<f32> = grad.iter().zip(&dy_host).map(|(g, d)| g * d).collect();
        // As the forward: a few ulps of exp and erfc on values of order 1.
        let what = format!("{act:?} backward {shape:?} x{scale}");
        assert_close(&what, &dx.read(gpu).await.unwrap(), &want, 2e-6, 2e-6);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn reference_derivatives_match_finite_differences() {
        let x: Vec<f32> = (0..81).map(|i| (i as f32 - 40.0) / 8.0 + 0.013).collect();
        for act in ALL {
            let h = 1e-3f32;
            let up: Vec<f32> = x.iter().map(|v| v + h).collect();
            let down: Vec<f32> = x.iter().map(|v| v - h).collect();
            let (fu, fd) = (activation_ref(act, &up), activation_ref(act, &down));
            let grad = activation_grad_ref(act, &x);
            for i in 0..x.len() {
                let numeric = (fu[i] - fd[i]) / (2.0 * h);
                // Central differences of f32 values: error of order f32 eps / h plus h^2 f'''.
                let close = (numeric - grad[i]).abs() < 2e-3;
                assert!(close, "{act:?}'({}) = {}, finite difference {numeric}", x[i], grad[i]);
            }
        }
    }

    gpu_tests! {
        async fn gated_linear_units_match_reference() {
            let gpu = gpu().await;
            let mut rng = Rng::new(700);
            let cases: [(&[usize], Activation); 3] = [
                (&[7, 130], Activation::Silu),
                (&[3, 2, 66], Activation::Gelu),
                (&[5, 2], Activation::LeakyRelu(0.2)),
            ];
            for (shape, act) in cases {
                let (x, host) = random(gpu, &mut rng, shape);
                let half = shape[shape.len() - 1] / 2;
                let mut out_shape = shape.to_vec();
                *out_shape.last_mut().unwrap() = half;
                let out = poisoned(gpu, &out_shape);
                glu(gpu, act, &x, &out).unwrap();
                let want = glu_ref(act, &host, half);
                // One activation and one product: a few ulps, as the plain activations.
                let what = format!("{act:?} GLU of {shape:?}");
                assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-6, 1e-6);
            }
            let bad = |r: Result<()>| assert!(matches!(r, Err(crate::Error::Invalid(_))), "{r:?}");
            let z = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            bad(glu(gpu, Activation::Silu, &z(&[2, 5]), &z(&[2, 2])));
            bad(glu(gpu, Activation::Silu, &z(&[2, 6]), &z(&[2, 6])));
        }

        async fn every_gradient_on_awkward_lengths() {
            let gpu = gpu().await;
            for (i, &act) in ALL.iter().enumerate() {
                for (j, &len) in AWKWARD.iter().enumerate() {
                    check_backward(gpu, act, (400 + i * 5 + j) as u64, &[3, len], 3.0).await;
                }
                check_backward(gpu, act, 500 + i as u64, &[65, 257], 20.0).await;
            }
        }

        async fn gradients_at_the_kinks_are_pytorchs() {
            let gpu = gpu().await;
            let x = Tensor::from_slice(gpu, &[3], &[-1.0, 0.0, 1.0]).unwrap();
            let dy = Tensor::from_slice(gpu, &[3], &[2.0, 2.0, 2.0]).unwrap();
            let dx = poisoned(gpu, &[3]);
            activation_backward(gpu, Activation::Relu, &x, &dy, &dx).unwrap();
            assert_eq!(dx.read(gpu).await.unwrap(), [0.0, 0.0, 2.0]);
            activation_backward(gpu, Activation::LeakyRelu(0.25), &x, &dy, &dx).unwrap();
            assert_eq!(dx.read(gpu).await.unwrap(), [0.5, 0.5, 2.0]);
        }

        async fn every_activation_on_awkward_lengths() {
            let gpu = gpu().await;
            for (i, &act) in ALL.iter().enumerate() {
                // Three rows, so that ReLU of a lone negative value is not all zeros.
                for (j, &len) in AWKWARD.iter().enumerate() {
                    check(gpu, act, (i * 5 + j) as u64, &[3, len], 1.0).await;
                }
                check(gpu, act, 100 + i as u64, &[2, 7, 33], 4.0).await;
            }
        }

        async fn tails_of_wide_inputs() {
            let gpu = gpu().await;
            for (i, &act) in ALL.iter().enumerate() {
                check(gpu, act, 200 + i as u64, &[65, 257], 20.0).await;
            }
        }

        async fn length_past_one_grid_dimension() {
            let gpu = gpu().await;
            // 65 537 workgroups of 64 threads: the grid wraps into y.
            check(gpu, Activation::Silu, 300, &[65537 * 64 + 7], 8.0).await;
        }

        async fn reference_erfc_matches_known_values() {
            // Values from Python's math.erfc.
            for (z, want) in [
                (0.5, 0.4795001221869535),
                (1.9, 0.0072095707647425325),
                (2.0, 0.004677734981047265),
                (3.0, 2.2090496998585438e-05),
                (10.0, 2.088487583762545e-45),
            ] {
                let got = erfc_ref(z);
                assert!(((got - want) / want).abs() < 1e-12, "erfc({z}) = {got}, expected {want}");
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let x = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let wrong_out = Tensor::zeros(gpu, &[5, 4]).unwrap();
            let bad = activation(gpu, Activation::Relu, &x, &wrong_out);
            assert!(matches!(bad, Err(Error::Invalid(_))));
            let out = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let bad = activation(gpu, Activation::LeakyRelu(f32::NAN), &x, &out);
            assert!(matches!(bad, Err(Error::Invalid(_))));
            let in_place = activation(gpu, Activation::Relu, &x, &x);
            assert!(matches!(in_place, Err(Error::Invalid(_))));
            let backward = |dy: &Tensor, dx: &Tensor| {
                let r = activation_backward(gpu, Activation::Tanh, &x, dy, dx);
                assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            };
            backward(&wrong_out, &out);
            backward(&out, &wrong_out);
            backward(&out, &out);
            backward(&out, &x);
            gpu.check().unwrap();
        }
    }
}
