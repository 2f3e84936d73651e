//! Normalisations: layer norm and RMS norm over the last dimension, group norm over groups of
//! channels (optionally followed by an activation, as U-Nets use it), and batch norm with running
//! statistics (inference).

use super::activation::{activation_ref, Activation};
use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const ROW_NORM: Kernel<Params> =
    kernel!("norm.wgsl", "row_norm", uses "reduce.wgsl", uses "act.wgsl");
pub(super) const GROUP_NORM: Kernel<Params> =
    kernel!("norm.wgsl", "group_norm", uses "reduce.wgsl", uses "act.wgsl");
pub(super) const BATCH_NORM: Kernel<Params> =
    kernel!("norm.wgsl", "batch_norm", uses "reduce.wgsl", uses "act.wgsl");
const ELEMENT_THREADS: u32 = 64;

params! {
    pub(super) struct Params {
        rows: u32,
        d: u32,
        channels: u32,
        center: u32,
        eps: f32,
        spatial: u32,
        act: u32,
        alpha: f32,
    }
}

/// `nn.GroupNorm(groups, C)`'s parameters (`T` is `Tensor` for the GPU, `[f32]` for the
/// reference): `gamma` and `beta` are `[C]`.
pub struct GroupNorm<'a, T: ?Sized = Tensor> {
    pub groups: usize,
    pub gamma: &'a T,
    pub beta: &'a T,
    pub eps: f32,
}

/// A batch norm layer's per-channel parameters and running statistics, as `nn.BatchNorm*d`
/// holds them (`T` is `Tensor` for the GPU, `[f32]` for the reference).
pub struct BatchNorm<'a, T: ?Sized = Tensor> {
    pub running_mean: &'a T,
    pub running_var: &'a T,
    pub gamma: &'a T,
    pub beta: &'a T,
    pub eps: f32,
}

/// `nn.LayerNorm` over the last dimension of `x` `[.., D]`: `(x - mean) / sqrt(var + eps) * gamma
/// + beta`, with the biased variance; `gamma` and `beta` are `[D]`, `out` has the shape of `x`.
pub fn layer_norm(
    gpu: &Gpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    out: &Tensor,
) -> Result<()> {
    row_norm(gpu, x, gamma, Some(beta), eps, out)
}

/// `nn.RMSNorm` over the last dimension of `x` `[.., D]`: `x / sqrt(mean(x^2) + eps) * gamma`;
/// `gamma` is `[D]`, `out` has the shape of `x`.
pub fn rms_norm(gpu: &Gpu, x: &Tensor, gamma: &Tensor, eps: f32, out: &Tensor) -> Result<()> {
    row_norm(gpu, x, gamma, None, eps, out)
}

/// Layer norm when `beta` is given, RMS norm when not: the kernel differs only in centring.
fn row_norm(
    gpu: &Gpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: Option<&Tensor>,
    eps: f32,
    out: &Tensor,
) -> Result<()> {
    let what = if beta.is_some() { "layer norm" } else { "RMS norm" };
    check_eps(what, eps)?;
    // A tensor's shape is never empty.
    let d = x.shape().last().copied().unwrap_or(1);
    expect_shape(&format!("{what} gamma"), gamma, &[d])?;
    if let Some(beta) = beta {
        expect_shape("layer norm beta", beta, &[d])?;
    }
    expect_output(&format!("{what} output"), out, x.shape(), [x, gamma].into_iter().chain(beta))?;
    if gpu.is_reference() {
        let (x, gamma) = (x.host()?, gamma.host()?);
        return out.set_host(match beta {
            Some(beta) => layer_norm_ref(&x, d, &gamma, &beta.host()?, eps),
            None => rms_norm_ref(&x, d, &gamma, eps),
        });
    }
    let rows = x.numel() / d;
    // The shader indexes every element with a u32.
    to_u32(&format!("{what} element count"), x.numel())?;
    let params = Params {
        rows: to_u32(&format!("{what} rows"), rows)?,
        d: to_u32(&format!("{what} row length"), d)?,
        channels: 0,
        center: beta.is_some() as u32,
        eps,
        spatial: 0,
        act: 0,
        alpha: 0.0,
    };
    let beta = gpu.optional(beta)?;
    let groups = Workgroups::linear(gpu, rows, 1)?;
    gpu.dispatch(
        &ROW_NORM,
        &params,
        &[x.buffer()?, gamma.buffer()?, beta, out.buffer()?],
        groups,
        out,
    )
}

/// `nn.GroupNorm` on `x` `[N, C, ..spatial]`: each sample's channels split into `gn.groups`
/// groups, each group normalised by its own mean and biased variance, then scaled and shifted
/// per channel; `then`, when given, is applied to the result (GroupNorm + SiLU in one pass).
/// `out` has the shape of `x`.
pub fn group_norm(
    gpu: &Gpu,
    gn: &GroupNorm,
    then: Option<Activation>,
    x: &Tensor,
    out: &Tensor,
) -> Result<()> {
    check_eps("group norm", gn.eps)?;
    let shape = x.shape();
    if shape.len() < 2 {
        invalid!("group norm needs x of shape [N, C, ..]; got {shape:?}");
    }
    let c = shape[1];
    if gn.groups == 0 || !c.is_multiple_of(gn.groups) {
        invalid!("group norm: {c} channels do not split into {} groups", gn.groups);
    }
    expect_shape("group norm gamma", gn.gamma, &[c])?;
    expect_shape("group norm beta", gn.beta, &[c])?;
    expect_output("group norm output", out, shape, [x, gn.gamma, gn.beta])?;
    let (act, alpha) = match then {
        Some(a) => {
            let (code, alpha) = a.code();
            (code + 1, alpha)
        }
        None => (0, 0.0),
    };
    if !alpha.is_finite() {
        invalid!("LeakyReLU slope must be finite; got {alpha}");
    }
    let spatial: usize = shape[2..].iter().product();
    if gpu.is_reference() {
        let (gamma, beta) = (gn.gamma.host()?, gn.beta.host()?);
        let host =
            GroupNorm { groups: gn.groups, gamma: gamma.as_slice(), beta: &beta, eps: gn.eps };
        return out.set_host(group_norm_ref(&host, then, &x.host()?, spatial));
    }
    to_u32("group norm element count", x.numel())?;
    let rows = shape[0] * gn.groups;
    let params = Params {
        rows: to_u32("group norm rows", rows)?,
        d: to_u32("group norm group size", c / gn.groups * spatial)?,
        channels: to_u32("group norm channels", c)?,
        center: 1,
        eps: gn.eps,
        spatial: to_u32("group norm plane size", spatial)?,
        act,
        alpha,
    };
    let groups = Workgroups::linear(gpu, rows, 1)?;
    let buffers = [x.buffer()?, gn.gamma.buffer()?, gn.beta.buffer()?, out.buffer()?];
    gpu.dispatch(&GROUP_NORM, &params, &buffers, groups, out)
}

/// `nn.BatchNorm1d/2d/3d` in eval mode on `x` `[N, C, ..spatial]`: per channel,
/// `(x - running_mean) / sqrt(running_var + eps) * gamma + beta`; `out` has the shape of `x`.
pub fn batch_norm(gpu: &Gpu, bn: &BatchNorm, x: &Tensor, out: &Tensor) -> Result<()> {
    check_eps("batch norm", bn.eps)?;
    let shape = x.shape();
    if shape.len() < 2 {
        invalid!("batch norm needs x of shape [N, C, ..]; got {shape:?}");
    }
    let c = shape[1];
    for (name, t) in [
        ("running mean", bn.running_mean),
        ("running var", bn.running_var),
        ("gamma", bn.gamma),
        ("beta", bn.beta),
    ] {
        expect_shape(&format!("batch norm {name}"), t, &[c])?;
    }
    expect_output(
        "batch norm output",
        out,
        shape,
        [x, bn.running_mean, bn.running_var, bn.gamma, bn.beta],
    )?;
    let spatial: usize = shape[2..].iter().product();
    if gpu.is_reference() {
        let (running_mean, running_var) = (bn.running_mean.host()?, bn.running_var.host()?);
        let (gamma, beta) = (bn.gamma.host()?, bn.beta.host()?);
        let host = BatchNorm {
            running_mean: running_mean.as_slice(),
            running_var: running_var.as_slice(),
            gamma: gamma.as_slice(),
            beta: beta.as_slice(),
            eps: bn.eps,
        };
        return out.set_host(batch_norm_ref(&host, &x.host()?, spatial));
    }
    // The shader indexes every element with a u32.
    to_u32("batch norm element count", x.numel())?;
    let params = Params {
        rows: to_u32("batch norm planes", shape[0] * c)?,
        d: to_u32("batch norm plane size", spatial)?,
        channels: to_u32("batch norm channels", c)?,
        center: 0,
        eps: bn.eps,
        spatial: 0,
        act: 0,
        alpha: 0.0,
    };
    let groups = Workgroups::linear(gpu, x.numel(), ELEMENT_THREADS)?;
    let buffers = [
        x.buffer()?,
        bn.gamma.buffer()?,
        bn.beta.buffer()?,
        out.buffer()?,
        bn.running_mean.buffer()?,
        bn.running_var.buffer()?,
    ];
    gpu.dispatch(&BATCH_NORM, &params, &buffers, groups, out)
}

pub(crate) fn check_eps(what: &str, eps: f32) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        invalid!("{what} eps must be finite and non-negative; got {eps}");
    }
    Ok(())
}

/// Reference layer norm of rows of length `d`, two-pass in f64.
pub fn layer_norm_ref(x: &[f32], d: usize, gamma: &[f32], beta: &[f32], eps: f32) -> Vec<f32> {
    row_norm_ref(x, d, gamma, Some(beta), eps)
}

/// Reference RMS norm of rows of length `d`, in f64.
pub fn rms_norm_ref(x: &[f32], d: usize, gamma: &[f32], eps: f32) -> Vec<f32> {
    row_norm_ref(x, d, gamma, None, eps)
}

fn row_norm_ref(x: &[f32], d: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> Vec<f32> {
    x.chunks(d)
        .flat_map(|row| {
            let mean = if beta.is_some() {
                row.iter().map(|&v| v as f64).sum::<f64>() / d as f64
            } else {
                0.0
            };
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let inv_std = 1.0 / (var + eps as f64).sqrt();
            row.iter().enumerate().map(move |(i, &v)| {
                let y = (v as f64 - mean) * inv_std * gamma[i] as f64;
                (y + beta.map_or(0.0, |b| b[i] as f64)) as f32
            })
        })
        .collect()
}

/// Reference group norm of `x` laid out as `[N, C, spatial]` with `C` = `gn.gamma.len()`, in
/// f64, then `then` on the f32 result.
pub fn group_norm_ref(
    gn: &GroupNorm<[f32]>,
    then: Option<Activation>,
    x: &[f32],
    spatial: usize,
) -> Vec<f32> {
    let channels = gn.gamma.len();
    let d = channels / gn.groups * spatial;
    let normed: Vec<f32> = x
        .chunks(d)
        .enumerate()
        .flat_map(|(row, values)| {
            let mean = values.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let inv_std = 1.0 / (var + gn.eps as f64).sqrt();
            let first = (row % gn.groups) * (channels / gn.groups);
            values.iter().enumerate().map(move |(i, &v)| {
                let c = first + i / spatial;
                ((v as f64 - mean) * inv_std * gn.gamma[c] as f64 + gn.beta[c] as f64) as f32
            })
        })
        .collect();
    match then {
        Some(act) => activation_ref(act, &normed),
        None => normed,
    }
}

/// Reference batch norm of `x` laid out as `[N, C, spatial]` with `C` = `bn.gamma.len()`.
pub fn batch_norm_ref(bn: &BatchNorm<[f32]>, x: &[f32], spatial: usize) -> Vec<f32> {
    let channels = bn.gamma.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / spatial) % channels;
            let inv_std = 1.0 / (bn.running_var[c] as f64 + bn.eps as f64).sqrt();
            ((v as f64 - bn.running_mean[c] as f64) * inv_std * bn.gamma[c] as f64
                + bn.beta[c] as f64) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    const EPS: f32 = 1e-5;

    /// Layer norm when `center`, RMS norm when not, on random rows shifted by `offset`.
    async fn check(gpu: &Gpu, center: bool, seed: u64, shape: &[usize], offset: f32) {
        let mut rng = Rng::new(seed);
        let d = *shape.last().unwrap();
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v + offset).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let (gamma, gamma_host) = random(gpu, &mut rng, &[d]);
        let (beta, beta_host) = random(gpu, &mut rng, &[d]);
        let out = poisoned(gpu, shape);
        let want = if center {
            layer_norm(gpu, &x, &gamma, &beta, EPS, &out).unwrap();
            layer_norm_ref(&host, d, &gamma_host, &beta_host, EPS)
        } else {
            rms_norm(gpu, &x, &gamma, EPS, &out).unwrap();
            rms_norm_ref(&host, d, &gamma_host, EPS)
        };
        // Outputs stay below 3 (ulp 2.4e-7); the row sums round to about 1e-7 relative and
        // inverseSqrt is allowed 2 ulps. The worst seen on lavapipe is 5e-7, with the offset too.
        let what = format!("center {center} {shape:?} offset {offset}");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-6, 1e-6);
    }

    async fn check_batch_norm(gpu: &Gpu, seed: u64, shape: &[usize]) {
        let mut rng = Rng::new(seed);
        let c = shape[1];
        let (x, x_host) = random(gpu, &mut rng, shape);
        let (mean, mean_host) = random(gpu, &mut rng, &[c]);
        // Variances must be positive: (0.5, 2.5].
        let var_host: Vec<f32> = rng.vec(c).iter().map(|v| v + 1.5).collect();
        let var = Tensor::from_slice(gpu, &[c], &var_host).unwrap();
        let (gamma, gamma_host) = random(gpu, &mut rng, &[c]);
        let (beta, beta_host) = random(gpu, &mut rng, &[c]);
        let out = poisoned(gpu, shape);
        let bn = BatchNorm {
            running_mean: &mean,
            running_var: &var,
            gamma: &gamma,
            beta: &beta,
            eps: EPS,
        };
        batch_norm(gpu, &bn, &x, &out).unwrap();
        let bn_host = BatchNorm {
            running_mean: mean_host.as_slice(),
            running_var: &var_host,
            gamma: &gamma_host,
            beta: &beta_host,
            eps: EPS,
        };
        let want = batch_norm_ref(&bn_host, &x_host, shape[2..].iter().product());
        // Four roundings and inverseSqrt's 2 ulps on values below 3; the worst seen is 2e-7.
        let what = format!("batch norm {shape:?}");
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, 1e-6, 1e-6);
    }

    async fn check_group_norm(gpu: &Gpu, seed: u64, shape: &[usize], groups: usize, offset: f32) {
        let mut rng = Rng::new(seed);
        let c = shape[1];
        let host: Vec<f32> = rng.vec(shape.iter().product()).iter().map(|v| v + offset).collect();
        let x = Tensor::from_slice(gpu, shape, &host).unwrap();
        let (gamma, gamma_host) = random(gpu, &mut rng, &[c]);
        let (beta, beta_host) = random(gpu, &mut rng, &[c]);
        let spatial = shape[2..].iter().product();
        for then in [None, Some(Activation::Silu)] {
            let out = poisoned(gpu, shape);
            let gn = GroupNorm { groups, gamma: &gamma, beta: &beta, eps: EPS };
            group_norm(gpu, &gn, then, &x, &out).unwrap();
            let gn_host =
                GroupNorm { groups, gamma: gamma_host.as_slice(), beta: &beta_host, eps: EPS };
            let want = group_norm_ref(&gn_host, then, &host, spatial);
            // As layer norm: values below 3, sums of up to 3,000 terms; the worst seen is 6e-7.
            let what = format!("group norm {shape:?} / {groups} {then:?} offset {offset}");
            assert_close(&what, &out.read(gpu).await.unwrap(), &want, 2e-6, 1e-6);
        }
    }

    gpu_tests! {
        async fn layer_norm_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, &rows) in [1, 7, 65].iter().enumerate() {
                for (j, &d) in AWKWARD.iter().enumerate() {
                    check(gpu, true, (i * 5 + j) as u64, &[rows, d], 0.0).await;
                }
            }
            check(gpu, true, 20, &[2, 3, 33], 0.0).await;
        }

        async fn rms_norm_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, &rows) in [1, 7, 65].iter().enumerate() {
                for (j, &d) in AWKWARD.iter().enumerate() {
                    check(gpu, false, (i * 5 + j) as u64, &[rows, d], 0.0).await;
                }
            }
            check(gpu, false, 21, &[2, 3, 33], 0.0).await;
        }

        async fn layer_norm_is_stable_far_from_zero() {
            let gpu = gpu().await;
            // Values 1000 + x: a one-pass E[x^2] - E[x]^2 would cancel to noise here.
            for (i, &d) in AWKWARD.iter().enumerate() {
                check(gpu, true, 30 + i as u64, &[7, d], 1000.0).await;
            }
        }

        async fn rows_past_one_grid_dimension() {
            let gpu = gpu().await;
            // 65 537 rows, one workgroup each: the grid wraps into y.
            check(gpu, true, 40, &[65537, 3], 0.0).await;
        }

        async fn group_norm_on_awkward_sizes() {
            let gpu = gpu().await;
            check_group_norm(gpu, 60, &[1, 1, 1], 1, 0.0).await;
            check_group_norm(gpu, 61, &[3, 6, 7, 5], 3, 0.0).await;
            check_group_norm(gpu, 62, &[2, 32, 28, 28], 8, 0.0).await;
            check_group_norm(gpu, 63, &[5, 65, 3], 13, 0.0).await;
            check_group_norm(gpu, 64, &[2, 8, 33], 1, 0.0).await;
            // Far from zero, as for layer norm.
            check_group_norm(gpu, 65, &[2, 6, 7, 7], 2, 1000.0).await;
        }

        async fn batch_norm_matches_reference() {
            let gpu = gpu().await;
            check_batch_norm(gpu, 50, &[7, 33]).await;
            check_batch_norm(gpu, 51, &[2, 3, 7, 7]).await;
            check_batch_norm(gpu, 52, &[1, 65, 257]).await;
            check_batch_norm(gpu, 53, &[3, 7, 1, 33]).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let x = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let out = Tensor::zeros(gpu, &[4, 5]).unwrap();
            let five = Tensor::zeros(gpu, &[5]).unwrap();
            let four = Tensor::zeros(gpu, &[4]).unwrap();
            let invalid = |r: Result<()>| matches!(r, Err(Error::Invalid(_)));
            assert!(invalid(layer_norm(gpu, &x, &four, &five, EPS, &out)));
            assert!(invalid(layer_norm(gpu, &x, &five, &four, EPS, &out)));
            assert!(invalid(layer_norm(gpu, &x, &five, &five, -1.0, &out)));
            assert!(invalid(rms_norm(gpu, &x, &five, f32::NAN, &out)));
            let wrong_out = Tensor::zeros(gpu, &[5, 4]).unwrap();
            assert!(invalid(rms_norm(gpu, &x, &five, EPS, &wrong_out)));
            let planes = Tensor::zeros(gpu, &[2, 4, 3]).unwrap();
            let planes_out = Tensor::zeros(gpu, &[2, 4, 3]).unwrap();
            let (mean, var, gamma, beta) = (&five, &five, &five, &five);
            let bn = BatchNorm { running_mean: mean, running_var: var, gamma, beta, eps: EPS };
            assert!(invalid(batch_norm(gpu, &bn, &planes, &planes_out)));
            assert!(invalid(batch_norm(gpu, &bn, &five, &five)));
            let (mean, var, gamma) = (&four, &four, &four);
            let bn = BatchNorm { running_mean: mean, running_var: var, gamma, beta, eps: EPS };
            assert!(invalid(batch_norm(gpu, &bn, &planes, &planes_out)));
            let bn = BatchNorm { eps: f32::INFINITY, beta: &four, ..bn };
            assert!(invalid(batch_norm(gpu, &bn, &planes, &planes_out)));
            assert!(invalid(batch_norm(gpu, &BatchNorm { eps: EPS, ..bn }, &planes, &out)));
            let (gamma, beta) = (&four, &four);
            let gn = GroupNorm { groups: 3, gamma, beta, eps: EPS };
            assert!(invalid(group_norm(gpu, &gn, None, &planes, &planes_out)));
            let gn = GroupNorm { groups: 0, ..gn };
            assert!(invalid(group_norm(gpu, &gn, None, &planes, &planes_out)));
            let gn = GroupNorm { groups: 2, gamma: &five, ..gn };
            assert!(invalid(group_norm(gpu, &gn, None, &planes, &planes_out)));
            let gn = GroupNorm { groups: 2, gamma: &four, eps: f32::NAN, ..gn };
            assert!(invalid(group_norm(gpu, &gn, None, &planes, &planes_out)));
            let gn = GroupNorm { eps: EPS, ..gn };
            assert!(invalid(group_norm(gpu, &gn, None, &planes, &planes)));
            let leaky = Some(Activation::LeakyRelu(f32::NAN));
            assert!(invalid(group_norm(gpu, &gn, leaky, &planes, &planes_out)));
            group_norm(gpu, &gn, None, &planes, &planes_out).unwrap();
            gpu.check().unwrap();
        }
    }
}
