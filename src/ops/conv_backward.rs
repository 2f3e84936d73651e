//! The backward pass of `conv.rs`'s convolutions. The gradient with respect to the input is the
//! other convolution with the same weight (conv2d's is a transposed convolution, and the
//! transposed convolution's is a conv2d), so it runs on the forward kernels; the weight and bias
//! gradients have kernels of their own in `conv_backward.wgsl`.

use super::conv::{conv2d, conv_transpose2d, Conv2dDims, Conv2dGeometry};
use super::{expect_output, expect_shape, to_u32, Gradient};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const WEIGHT_GRAD: Kernel<Params> =
    kernel!("conv_backward.wgsl", "weight_grad", uses "reduce.wgsl");
pub(super) const BIAS_GRAD: Kernel<Params> =
    kernel!("conv_backward.wgsl", "bias_grad", uses "reduce.wgsl");
const WORKGROUP_SIZE: u32 = 256;

params! {
    pub(super) struct Params {
        total: u32,
        batch: u32,
        in_channels: u32,
        out_channels: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        kernel_h: u32,
        kernel_w: u32,
        stride_h: u32,
        stride_w: u32,
        pad_h: u32,
        pad_w: u32,
        accumulate: u32,
    }
}

/// The gradient `dx` of `conv2d(x, weight)` from its output's `dy`; `dx` has the input's shape.
/// It is `conv_transpose2d(dy, weight)` with the output padding that restores the input size.
pub fn conv2d_input_grad(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    geometry: Conv2dGeometry,
    dx: &Tensor,
) -> Result<()> {
    let d = Conv2dDims::new(dx.shape(), weight.shape(), geometry, false)?;
    expect_shape("conv2d output gradient", dy, &d.out_shape())?;
    // The rows and columns conv2d's stride skipped at the bottom and right: fewer than the stride.
    let left = |axis: usize| {
        let g = &geometry;
        d.in_size[axis] + 2 * g.padding[axis]
            - d.kernel[axis]
            - (d.out_size[axis] - 1) * g.stride[axis]
    };
    let transposed = Conv2dGeometry { output_padding: [left(0), left(1)], ..geometry };
    conv_transpose2d(gpu, dy, weight, None, transposed, dx)
}

/// The gradient `dx` of `conv_transpose2d(x, weight)` from its output's `dy`: `conv2d(dy,
/// weight)`, whose weight layout is the transposed convolution's read the other way round.
pub fn conv_transpose2d_input_grad(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    geometry: Conv2dGeometry,
    dx: &Tensor,
) -> Result<()> {
    let d = Conv2dDims::new(dx.shape(), weight.shape(), geometry, true)?;
    expect_shape("conv_transpose2d output gradient", dy, &d.out_shape())?;
    let direct = Conv2dGeometry { output_padding: [0, 0], ..geometry };
    conv2d(gpu, dy, weight, None, direct, dx)
}

/// The gradient `dw` `[out_channels, in_channels, kh, kw]` of `conv2d(x, w)`'s weight, from the
/// forward's input `x` and its output's gradient `dy`.
pub fn conv2d_weight_grad(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    geometry: Conv2dGeometry,
    mode: Gradient,
    dw: &Tensor,
) -> Result<()> {
    let d = Conv2dDims::new(x.shape(), dw.shape(), geometry, false)?;
    expect_shape("conv2d output gradient", dy, &d.out_shape())?;
    expect_output("conv2d weight gradient", dw, dw.shape(), [x, dy])?;
    if gpu.is_reference() {
        return mode.store_host(dw, conv_weight_grad_ref(&d, &x.host()?, &dy.host()?));
    }
    weight_grad(gpu, &d, x, dy, mode, dw)
}

/// The gradient `dw` `[in_channels, out_channels, kh, kw]` of `conv_transpose2d(x, w)`'s weight.
/// Every product `x * w` it sums is one that conv2d of `dy` (the larger image) with output `x`
/// sums, so it is conv2d's weight gradient with `x` and `dy` swapped.
pub fn conv_transpose2d_weight_grad(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    geometry: Conv2dGeometry,
    mode: Gradient,
    dw: &Tensor,
) -> Result<()> {
    let d = Conv2dDims::new(x.shape(), dw.shape(), geometry, true)?;
    expect_shape("conv_transpose2d output gradient", dy, &d.out_shape())?;
    expect_output("conv_transpose2d weight gradient", dw, dw.shape(), [x, dy])?;
    if gpu.is_reference() {
        return mode.store_host(dw, conv_weight_grad_ref(&d, &x.host()?, &dy.host()?));
    }
    let direct = Conv2dGeometry { output_padding: [0, 0], ..geometry };
    let swapped = Conv2dDims::new(dy.shape(), dw.shape(), direct, false)?;
    weight_grad(gpu, &swapped, dy, x, mode, dw)
}

fn weight_grad(
    gpu: &Gpu,
    d: &Conv2dDims,
    x: &Tensor,
    dy: &Tensor,
    mode: Gradient,
    dw: &Tensor,
) -> Result<()> {
    to_u32("conv weight gradient input elements", x.numel())?;
    to_u32("conv weight gradient output elements", dy.numel())?;
    let params = conv_params(d, to_u32("conv weight gradient elements", dw.numel())?, mode)?;
    let groups = Workgroups::linear(gpu, dw.numel(), WORKGROUP_SIZE)?;
    // Kept with dy's bindings: dw outlives every batch, and would keep each one's buffers alive.
    gpu.dispatch(&WEIGHT_GRAD, &params, &[dy.buffer()?, dw.buffer()?, x.buffer()?], groups, dy)
}

fn conv_params(d: &Conv2dDims, total: u32, mode: Gradient) -> Result<Params> {
    let g = d.geometry;
    Ok(Params {
        total,
        batch: to_u32("batch", d.batch)?,
        in_channels: to_u32("in_channels", d.in_channels)?,
        out_channels: to_u32("out_channels", d.out_channels)?,
        in_h: to_u32("input height", d.in_size[0])?,
        in_w: to_u32("input width", d.in_size[1])?,
        out_h: to_u32("output height", d.out_size[0])?,
        out_w: to_u32("output width", d.out_size[1])?,
        kernel_h: to_u32("kernel height", d.kernel[0])?,
        kernel_w: to_u32("kernel width", d.kernel[1])?,
        stride_h: to_u32("stride height", g.stride[0])?,
        stride_w: to_u32("stride width", g.stride[1])?,
        pad_h: to_u32("padding height", g.padding[0])?,
        pad_w: to_u32("padding width", g.padding[1])?,
        accumulate: (mode == Gradient::Add) as u32,
    })
}

/// The gradient `db` `[C]` of a bias added per channel to an output `[N, C, ..]` (a convolution's
/// or, for `[N, C]`, a linear layer's): the sum of `dy` over everything but the channel.
pub fn bias_grad(gpu: &Gpu, dy: &Tensor, mode: Gradient, db: &Tensor) -> Result<()> {
    let shape = dy.shape();
    if shape.len() < 2 {
        invalid!("a bias gradient needs a gradient [N, C, ..]; got {shape:?}");
    }
    let (batch, channels) = (shape[0], shape[1]);
    let plane: usize = shape[2..].iter().product();
    expect_output("bias gradient", db, &[channels], [dy])?;
    if gpu.is_reference() {
        return mode.store_host(db, bias_grad_ref(&dy.host()?, channels, plane));
    }
    to_u32("bias gradient elements", dy.numel())?;
    let params = Params {
        total: to_u32("channels", channels)?,
        batch: to_u32("batch", batch)?,
        out_channels: to_u32("channels", channels)?,
        out_h: 1,
        out_w: to_u32("plane size", plane)?,
        ..Params::zeroed_with(mode)
    };
    let groups = Workgroups::linear(gpu, channels, 1)?;
    gpu.dispatch(&BIAS_GRAD, &params, &[dy.buffer()?, db.buffer()?], groups, dy)
}

impl Params {
    fn zeroed_with(mode: Gradient) -> Params {
        Params { accumulate: (mode == Gradient::Add) as u32, ..bytemuck::Zeroable::zeroed() }
    }
}

/// Calls `f(x_index, w_index, y_index)` for every product `x * w` that the forward convolution
/// (conv2d, or transposed by `d.transposed`) adds into `y`, by PyTorch's definitions: conv2d
/// gathers `x` under the kernel, and the transposed convolution scatters each input pixel's
/// kernel into the output.
fn for_each_product(d: &Conv2dDims, mut f: impl FnMut(usize, usize, usize)) {
    let [batch, out_c, out_h, out_w] = d.out_shape();
    let (in_c, [h, w], [kh, kw]) = (d.in_channels, d.in_size, d.kernel);
    let Conv2dGeometry { stride: [sy, sx], padding: [py, px], .. } = d.geometry;
    for b in 0..batch {
        for ci in 0..in_c {
            for co in 0..out_c {
                let w_base = if d.transposed { ci * out_c + co } else { co * in_c + ci } * kh * kw;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wi = w_base + ky * kw + kx;
                        // (small, large) = (y, x) for conv2d, (x, y) transposed: the small
                        // image's pixel (sy_, sx_) meets the large one's at s * i + k - p.
                        let (small_h, small_w) = if d.transposed { (h, w) } else { (out_h, out_w) };
                        let (large_h, large_w) = if d.transposed { (out_h, out_w) } else { (h, w) };
                        for i in 0..small_h {
                            let Some(li) = (i * sy + ky).checked_sub(py).filter(|&l| l < large_h)
                            else {
                                continue;
                            };
                            for j in 0..small_w {
                                let Some(lj) =
                                    (j * sx + kx).checked_sub(px).filter(|&l| l < large_w)
                                else {
                                    continue;
                                };
                                let (xi, yi) = if d.transposed {
                                    (
                                        ((b * in_c + ci) * h + i) * w + j,
                                        ((b * out_c + co) * out_h + li) * out_w + lj,
                                    )
                                } else {
                                    (
                                        ((b * in_c + ci) * h + li) * w + lj,
                                        ((b * out_c + co) * out_h + i) * out_w + j,
                                    )
                                };
                                f(xi, wi, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reference gradient of the convolution's input: every product `x * w` sends `dy * w` back to
/// its `x`, summed in f64.
pub fn conv_input_grad_ref(d: &Conv2dDims, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f64; d.batch * d.in_channels * d.in_size[0] * d.in_size[1]];
    for_each_product(d, |xi, wi, yi| dx[xi] += dy[yi] as f64 * weight[wi] as f64);
    dx.into_iter().map(|v| v as f32).collect()
}

/// Reference gradient of the convolution's weight: every product sends `dy * x` to its `w`.
pub fn conv_weight_grad_ref(d: &Conv2dDims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dw = vec![0.0f64; d.in_channels * d.out_channels * d.kernel[0] * d.kernel[1]];
    for_each_product(d, |xi, wi, yi| dw[wi] += dy[yi] as f64 * x[xi] as f64);
    dw.into_iter().map(|v| v as f32).collect()
}

/// Reference bias gradient of `dy` laid out as `[N, channels, plane]`.
pub fn bias_grad_ref(dy: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let mut db = vec![0.0f64; channels];
    for (i, &v) in dy.iter().enumerate() {
        db[i / plane % channels] += v as f64;
    }
    db.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::super::conv::awkward_cases;
    use super::*;
    use crate::testing::*;
    use crate::Error;

    /// Each gradient sums products of values in [-1, 1) in f32: the input's over the taps that
    /// meet a pixel, the weight's over every output pixel of the batch, the bias's over the batch
    /// and the plane. Rounding grows with the number of terms.
    fn tolerance(terms: usize) -> f32 {
        2e-6 * terms as f32 + 1e-6
    }

    /// The input, weight and bias gradients of one convolution on random data against the
    /// references; then the weight and bias gradients again, added to the first.
    async fn check(
        gpu: &Gpu,
        seed: u64,
        input: [usize; 4],
        weight: [usize; 4],
        g: Conv2dGeometry,
        transposed: bool,
    ) {
        let mut rng = Rng::new(seed);
        let d = Conv2dDims::new(&input, &weight, g, transposed).unwrap();
        let (x, x_host) = random(gpu, &mut rng, &input);
        let (w, w_host) = random(gpu, &mut rng, &weight);
        let (dy, dy_host) = random(gpu, &mut rng, &d.out_shape());
        let (dx, dw, db) =
            (poisoned(gpu, &input), poisoned(gpu, &weight), poisoned(gpu, &[d.out_channels]));
        let what = format!("transposed {transposed} {input:?} * {weight:?} {g:?}");
        if transposed {
            conv_transpose2d_input_grad(gpu, &dy, &w, g, &dx).unwrap();
            conv_transpose2d_weight_grad(gpu, &x, &dy, g, Gradient::Write, &dw).unwrap();
        } else {
            conv2d_input_grad(gpu, &dy, &w, g, &dx).unwrap();
            conv2d_weight_grad(gpu, &x, &dy, g, Gradient::Write, &dw).unwrap();
        }
        bias_grad(gpu, &dy, Gradient::Write, &db).unwrap();
        let [_, out_c, out_h, out_w] = d.out_shape();
        let plane = out_h * out_w;
        let want_dx = conv_input_grad_ref(&d, &w_host, &dy_host);
        let want_dw = conv_weight_grad_ref(&d, &x_host, &dy_host);
        let want_db = bias_grad_ref(&dy_host, out_c, plane);
        let taps = out_c * d.kernel[0] * d.kernel[1];
        assert_close(
            &format!("{what}: dx"),
            &dx.read(gpu).await.unwrap(),
            &want_dx,
            tolerance(taps),
            1e-5,
        );
        let sums = d.batch * plane;
        assert_close(
            &format!("{what}: dw"),
            &dw.read(gpu).await.unwrap(),
            &want_dw,
            tolerance(sums),
            1e-5,
        );
        assert_close(
            &format!("{what}: db"),
            &db.read(gpu).await.unwrap(),
            &want_db,
            tolerance(sums),
            1e-5,
        );

        if transposed {
            conv_transpose2d_weight_grad(gpu, &x, &dy, g, Gradient::Add, &dw).unwrap();
        } else {
            conv2d_weight_grad(gpu, &x, &dy, g, Gradient::Add, &dw).unwrap();
        }
        bias_grad(gpu, &dy, Gradient::Add, &db).unwrap();
        let twice = |v: &[f32]| v.iter().map(|v| 2.0 * v).collect::<Vec<_>>();
        let tol = 2.0 * tolerance(sums);
        assert_close(
            &format!("{what}: dw added"),
            &dw.read(gpu).await.unwrap(),
            &twice(&want_dw),
            tol,
            1e-5,
        );
        assert_close(
            &format!("{what}: db added"),
            &db.read(gpu).await.unwrap(),
            &twice(&want_db),
            tol,
            1e-5,
        );
    }

    /// `for_each_product`, which both gradient references walk, visits exactly the products of
    /// the forward references: summed into `y`, they give `conv2d_ref` and `conv_transpose2d_ref`.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_products_are_the_forward_ones() {
        use super::super::conv::{conv2d_ref, conv_transpose2d_ref};
        let mut rng = Rng::new(900);
        for (i, (size, k, g)) in awkward_cases().into_iter().enumerate() {
            let transposed = i % 2 == 1;
            let weight = if transposed { [3, 4, k, k] } else { [4, 3, k, k] };
            let d = Conv2dDims::new(&[2, 3, size, size], &weight, g, transposed).unwrap();
            let x = rng.vec(2 * 3 * size * size);
            let w = rng.vec(weight.iter().product());
            let mut y = vec![0.0f64; d.out_shape().iter().product()];
            for_each_product(&d, |xi, wi, yi| y[yi] += x[xi] as f64 * w[wi] as f64);
            let y: Vec<f32> = y.into_iter().map(|v| v as f32).collect();
            let want = if transposed { conv_transpose2d_ref } else { conv2d_ref }(&d, &x, &w, None);
            assert_close(&format!("{d:?}"), &y, &want, 1e-6, 1e-6);
        }
    }

    gpu_tests! {
        async fn conv2d_gradients_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, (size, k, g)) in awkward_cases().into_iter().enumerate() {
                check(gpu, 600 + i as u64, [2, 3, size, size], [5, 3, k, k], g, false).await;
            }
        }

        async fn conv_transpose2d_gradients_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, (size, k, g)) in awkward_cases().into_iter().enumerate() {
                let g = Conv2dGeometry { output_padding: [(size + k) % g.stride[0]; 2], ..g };
                check(gpu, 700 + i as u64, [2, 3, size, size], [3, 5, k, k], g, true).await;
            }
        }

        async fn the_gan_and_vae_layers() {
            // The generator's 1 -> 7 (k7 s1 p0) and 7 -> 14 -> 28 (k4 s2 p1), the discriminator's
            // and the encoder's 28 -> 14 -> 7, a rectangular case, and a linear layer as a 1x1
            // convolution.
            let gpu = gpu().await;
            let (first, half) = (Conv2dGeometry::new(1, 0), Conv2dGeometry::new(2, 1));
            let rect = Conv2dGeometry { stride: [2, 3], padding: [1, 2], output_padding: [1, 0] };
            check(gpu, 800, [3, 21, 1, 1], [21, 9, 7, 7], first, true).await;
            check(gpu, 801, [3, 9, 7, 7], [9, 6, 4, 4], half, true).await;
            check(gpu, 802, [3, 6, 14, 14], [6, 1, 4, 4], half, true).await;
            check(gpu, 803, [3, 11, 28, 28], [8, 11, 4, 4], half, false).await;
            check(gpu, 804, [3, 8, 14, 14], [16, 8, 4, 4], half, false).await;
            check(gpu, 805, [2, 3, 7, 33], [3, 5, 3, 5], rect, true).await;
            let rect = Conv2dGeometry { output_padding: [0, 0], ..rect };
            check(gpu, 806, [2, 3, 8, 34], [5, 3, 3, 5], rect, false).await;
            check(gpu, 807, [7, 65, 1, 1], [33, 65, 1, 1], Conv2dGeometry::new(1, 0), false).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let t = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let g = Conv2dGeometry::new(2, 1);
            let (x, dy, w, wt) = (t(&[2, 3, 8, 8]), t(&[2, 5, 4, 4]), t(&[5, 3, 4, 4]), t(&[3, 5, 4, 4]));
            let (dy_up, dx) = (t(&[2, 5, 16, 16]), t(&[2, 3, 8, 8]));
            // The good calls pass, so each failure below is down to its one change.
            conv2d_input_grad(gpu, &dy, &w, g, &dx).unwrap();
            conv2d_weight_grad(gpu, &x, &dy, g, Gradient::Write, &w).unwrap();
            conv_transpose2d_input_grad(gpu, &dy_up, &wt, g, &dx).unwrap();
            conv_transpose2d_weight_grad(gpu, &x, &dy_up, g, Gradient::Add, &wt).unwrap();
            bias_grad(gpu, &dy, Gradient::Write, &t(&[5])).unwrap();
            // An output gradient of the wrong size, a weight of the other layout.
            invalid(conv2d_input_grad(gpu, &dy_up, &w, g, &dx));
            invalid(conv2d_weight_grad(gpu, &x, &dy_up, g, Gradient::Write, &w));
            invalid(conv2d_weight_grad(gpu, &x, &dy, g, Gradient::Write, &wt));
            invalid(conv_transpose2d_input_grad(gpu, &dy, &wt, g, &dx));
            invalid(conv_transpose2d_weight_grad(gpu, &x, &dy_up, g, Gradient::Write, &w));
            // In place; a bias gradient of the wrong length or from a 1-D gradient.
            let shared = t(&[5, 3, 4, 4]);
            let (x_view, dy_small) = (shared.view(&[1, 3, 8, 10]).unwrap(), t(&[1, 5, 4, 5]));
            conv2d_weight_grad(gpu, &x_view, &dy_small, g, Gradient::Write, &w).unwrap();
            invalid(conv2d_weight_grad(gpu, &x_view, &dy_small, g, Gradient::Write, &shared));
            invalid(bias_grad(gpu, &dy, Gradient::Write, &t(&[4])));
            invalid(bias_grad(gpu, &t(&[5]), Gradient::Write, &t(&[5])));
            gpu.check().unwrap();
        }
    }
}
