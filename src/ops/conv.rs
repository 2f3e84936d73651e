//! 2-D convolution and transposed convolution, batched NCHW, with PyTorch's semantics (no
//! groups, no dilation): the layers of a DCGAN generator and of a VAE's encoder and decoder.
//! Both kernels gather, each thread a few output channels of one pixel, so no two threads write
//! one element.

use super::{expect_output, expect_shape, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Error, Gpu, Result, Tensor};

/// Each kernel computing 4 output channels a thread, and 1 (for layers of fewer than 4).
pub(super) const DIRECT: [Kernel<Params>; 2] = [
    kernel!("conv.wgsl", "conv2d", uses "conv_block4.wgsl"),
    kernel!("conv.wgsl", "conv2d", uses "conv_block1.wgsl"),
];
pub(super) const TRANSPOSED: [Kernel<Params>; 2] = [
    kernel!("conv.wgsl", "conv_transpose2d", uses "conv_block4.wgsl"),
    kernel!("conv.wgsl", "conv_transpose2d", uses "conv_block1.wgsl"),
];
const WORKGROUP_SIZE: u32 = 256;
/// Output channels per thread: `CO_BLOCK` in conv_block4.wgsl, and where a layer has fewer, in
/// conv_block1.wgsl. Blocks of 4 (in a vec4) took the GAN's and the VAE's batch of 64 1.4-2.1x
/// faster than one channel a thread on lavapipe and SwiftShader, but a 1-channel layer 2-3x
/// slower (BENCH.md).
const CO_BLOCKS: [usize; 2] = [4, 1];

/// How the kernel slides, as `[along height, along width]`, like PyTorch's arguments of the same
/// names. `output_padding` belongs to the transposed convolution only (it adds rows and columns
/// at the bottom and right of its output) and must be zero for `conv2d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dGeometry {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
}

impl Conv2dGeometry {
    /// The same stride and padding along both axes, no output padding.
    pub fn new(stride: usize, padding: usize) -> Conv2dGeometry {
        Conv2dGeometry { stride: [stride; 2], padding: [padding; 2], output_padding: [0; 2] }
    }
}

/// The problem size, worked out and checked from the operands' shapes and the geometry.
///
/// The input is `[batch, in_channels, h, w]`. The weight is `[out_channels, in_channels, kh, kw]`
/// for `conv2d` and `[in_channels, out_channels, kh, kw]` for the transposed convolution
/// (PyTorch's `ConvTranspose2d` layout). The output is `out_shape()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dDims {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub in_size: [usize; 2],
    pub kernel: [usize; 2],
    pub out_size: [usize; 2],
    pub geometry: Conv2dGeometry,
    pub transposed: bool,
}

impl Conv2dDims {
    /// Checks the shapes and geometry of `conv2d` (`transposed` false) or `conv_transpose2d`.
    pub fn new(
        input: &[usize],
        weight: &[usize],
        geometry: Conv2dGeometry,
        transposed: bool,
    ) -> Result<Conv2dDims> {
        let op = op_name(transposed);
        let (&[batch, in_channels, h, w], &[w0, w1, kh, kw]) = (input, weight) else {
            invalid!("{op} needs a 4-D input and weight; got shapes {input:?} and {weight:?}");
        };
        if input.contains(&0) || weight.contains(&0) {
            invalid!("{op} got an empty input {input:?} or weight {weight:?}");
        }
        let (weight_in, out_channels) = if transposed { (w0, w1) } else { (w1, w0) };
        if weight_in != in_channels {
            invalid!(
                "{op}: the input {input:?} has {in_channels} channels; the weight {weight:?} \
                 expects {weight_in}"
            );
        }
        let g = geometry;
        if g.stride.contains(&0) {
            invalid!("{op}: stride {:?} must be positive", g.stride);
        }
        if transposed {
            if g.output_padding[0] >= g.stride[0] || g.output_padding[1] >= g.stride[1] {
                invalid!(
                    "{op}: output_padding {:?} must be smaller than the stride {:?}",
                    g.output_padding,
                    g.stride
                );
            }
        } else if g.output_padding != [0, 0] {
            invalid!("{op} takes no output_padding; got {:?}", g.output_padding);
        }
        let out_size =
            [out_len(op, &g, 0, h, kh, transposed)?, out_len(op, &g, 1, w, kw, transposed)?];
        Ok(Conv2dDims {
            batch,
            in_channels,
            out_channels,
            in_size: [h, w],
            kernel: [kh, kw],
            out_size,
            geometry,
            transposed,
        })
    }

    pub fn out_shape(&self) -> [usize; 4] {
        [self.batch, self.out_channels, self.out_size[0], self.out_size[1]]
    }
}

fn op_name(transposed: bool) -> &'static str {
    if transposed {
        "conv_transpose2d"
    } else {
        "conv2d"
    }
}

/// The output length along `axis` (0: height, 1: width):
/// `(input + 2 padding - kernel) / stride + 1` for conv2d and
/// `(input - 1) stride - 2 padding + kernel + output_padding` transposed. Also checks that the
/// largest coordinate the shader forms along the axis fits its u32 arithmetic: the padded input
/// for conv2d; for the transposed kernel, output + padding and a tap index plus the stride.
fn out_len(
    op: &str,
    g: &Conv2dGeometry,
    axis: usize,
    input: usize,
    kernel: usize,
    transposed: bool,
) -> Result<usize> {
    let name = ["height", "width"][axis];
    let checked = |what: &str, v: usize| to_u32(&format!("{op} {what} ({name})"), v).map(u64::from);
    // Below 2^32 each, so the u64 sums and products below cannot overflow.
    let input = checked("input size", input)?;
    let kernel = checked("kernel size", kernel)?;
    let stride = checked("stride", g.stride[axis])?;
    let pad = checked("padding", g.padding[axis])?;
    let out_pad = checked("output_padding", g.output_padding[axis])?;
    let (reach, len) = if transposed {
        let len = ((input - 1) * stride + kernel + out_pad).saturating_sub(2 * pad);
        ((len + pad).max(kernel + stride), len)
    } else {
        let padded = input + 2 * pad;
        (padded, padded.checked_sub(kernel).map_or(0, |room| room / stride + 1))
    };
    if len == 0 {
        invalid!(
            "{op}: input {name} {input}, kernel {kernel}, stride {stride}, padding {pad} \
             leave no output {name}"
        );
    }
    if reach > u64::from(u32::MAX) {
        return Err(Error::TooLarge(format!(
            "{op}: the coordinates along the {name} reach {reach}, past 32-bit indexing"
        )));
    }
    // At most `reach`, so it fits a usize on every target.
    Ok(len as usize)
}

params! {
    pub(super) struct Params {
        total: u32,
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
        has_bias: u32,
    }
}

/// `out = conv2d(input, weight) (+ bias)`; see `Conv2dDims` for the shapes.
pub fn conv2d(
    gpu: &Gpu,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: Conv2dGeometry,
    out: &Tensor,
) -> Result<()> {
    run(gpu, input, weight, bias, geometry, false, out)
}

/// `out = conv_transpose2d(input, weight) (+ bias)`; see `Conv2dDims` for the shapes.
pub fn conv_transpose2d(
    gpu: &Gpu,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: Conv2dGeometry,
    out: &Tensor,
) -> Result<()> {
    run(gpu, input, weight, bias, geometry, true, out)
}

fn run(
    gpu: &Gpu,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: Conv2dGeometry,
    transposed: bool,
    out: &Tensor,
) -> Result<()> {
    let d = Conv2dDims::new(input.shape(), weight.shape(), geometry, transposed)?;
    let op = op_name(transposed);
    let block = usize::from(d.out_channels < CO_BLOCKS[0]);
    let kernel = if transposed { &TRANSPOSED[block] } else { &DIRECT[block] };
    expect_output(
        &format!("{op} output"),
        out,
        &d.out_shape(),
        [input, weight].into_iter().chain(bias),
    )?;
    if let Some(bias) = bias {
        expect_shape(&format!("{op} bias"), bias, &[d.out_channels])?;
    }
    if gpu.is_reference() {
        let bias = bias.map(Tensor::host).transpose()?;
        let bias = bias.as_deref().map(Vec::as_slice);
        let reference = if transposed { conv_transpose2d_ref } else { conv2d_ref };
        return out.set_host(reference(&d, &input.host()?, &weight.host()?, bias));
    }
    // Every flat index the shader forms is below one of these element counts.
    to_u32(&format!("{op} input elements"), input.numel())?;
    to_u32(&format!("{op} weight elements"), weight.numel())?;
    to_u32(&format!("{op} output elements"), out.numel())?;
    let [batch, _, out_h, out_w] = d.out_shape();
    let threads = batch * d.out_channels.div_ceil(CO_BLOCKS[block]) * out_h * out_w;
    let params = Params {
        total: to_u32(&format!("{op} threads"), threads)?,
        in_channels: to_u32("in_channels", d.in_channels)?,
        out_channels: to_u32("out_channels", d.out_channels)?,
        in_h: to_u32("input height", d.in_size[0])?,
        in_w: to_u32("input width", d.in_size[1])?,
        out_h: to_u32("output height", d.out_size[0])?,
        out_w: to_u32("output width", d.out_size[1])?,
        kernel_h: to_u32("kernel height", d.kernel[0])?,
        kernel_w: to_u32("kernel width", d.kernel[1])?,
        stride_h: to_u32("stride height", geometry.stride[0])?,
        stride_w: to_u32("stride width", geometry.stride[1])?,
        pad_h: to_u32("padding height", geometry.padding[0])?,
        pad_w: to_u32("padding width", geometry.padding[1])?,
        has_bias: bias.is_some() as u32,
    };
    let groups = Workgroups::linear(gpu, threads, WORKGROUP_SIZE)?;
    let bias = gpu.optional(bias)?;
    gpu.dispatch(
        kernel,
        &params,
        &[input.buffer()?, weight.buffer()?, bias, out.buffer()?],
        groups,
        out,
    )
}

/// Reference conv2d on the CPU: the sum over taps for each output element, in f64, with the
/// padding read as zeros.
pub fn conv2d_ref(d: &Conv2dDims, input: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let [batch, out_c, out_h, out_w] = d.out_shape();
    let (in_c, [h, w], [kh, kw]) = (d.in_channels, d.in_size, d.kernel);
    let Conv2dGeometry { stride: [sy, sx], padding: [py, px], .. } = d.geometry;
    let mut out = Vec::with_capacity(batch * out_c * out_h * out_w);
    for b in 0..batch {
        for co in 0..out_c {
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let mut acc = bias.map_or(0.0, |bias| bias[co] as f64);
                    for ci in 0..in_c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sy + ky).checked_sub(py).filter(|&iy| iy < h);
                                let ix = (ox * sx + kx).checked_sub(px).filter(|&ix| ix < w);
                                let (Some(iy), Some(ix)) = (iy, ix) else {
                                    continue;
                                };
                                let x = input[((b * in_c + ci) * h + iy) * w + ix] as f64;
                                acc += x * weight[((co * in_c + ci) * kh + ky) * kw + kx] as f64;
                            }
                        }
                    }
                    out.push(acc as f32);
                }
            }
        }
    }
    out
}

/// Reference conv_transpose2d on the CPU, in f64, written the way PyTorch defines it: every input
/// pixel adds the kernel, scaled by its value, into the output at
/// `(iy * stride - padding + ky, ix * stride - padding + kx)`, cropped to the output. The shader
/// gathers instead, so each formulation checks the other.
pub fn conv_transpose2d_ref(
    d: &Conv2dDims,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let [batch, out_c, out_h, out_w] = d.out_shape();
    let (in_c, [h, w], [kh, kw]) = (d.in_channels, d.in_size, d.kernel);
    let Conv2dGeometry { stride: [sy, sx], padding: [py, px], .. } = d.geometry;
    let mut acc = vec![0.0f64; batch * out_c * out_h * out_w];
    for b in 0..batch {
        for ci in 0..in_c {
            for iy in 0..h {
                for ix in 0..w {
                    let x = input[((b * in_c + ci) * h + iy) * w + ix] as f64;
                    for co in 0..out_c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy = (iy * sy + ky).checked_sub(py).filter(|&oy| oy < out_h);
                                let ox = (ix * sx + kx).checked_sub(px).filter(|&ox| ox < out_w);
                                let (Some(oy), Some(ox)) = (oy, ox) else {
                                    continue;
                                };
                                let wv = weight[((ci * out_c + co) * kh + ky) * kw + kx] as f64;
                                acc[((b * out_c + co) * out_h + oy) * out_w + ox] += x * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    let plane = out_h * out_w;
    acc.iter()
        .enumerate()
        .map(|(i, &a)| (a + bias.map_or(0.0, |bias| bias[i / plane % out_c] as f64)) as f32)
        .collect()
}

/// Test cases: kernel 3, 4, 5 against stride 1, 2, 3 on 7x7 and 33x33 images, with the padding
/// (0, 1, 2) cycling so each value meets several of the others.
#[cfg(test)]
pub(super) fn awkward_cases() -> Vec<(usize, usize, Conv2dGeometry)> {
    let mut cases = Vec::new();
    for size in [7, 33] {
        for kernel in [3, 4, 5] {
            for stride in [1, 2, 3] {
                cases.push((
                    size,
                    kernel,
                    Conv2dGeometry::new(stride, (size + kernel + stride) % 3),
                ));
            }
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    /// Sums of products of values in [-1, 1), accumulated in f32 with fma, plus a bias: rounding
    /// grows with the number of terms, as for matmul.
    fn tolerance(d: &Conv2dDims) -> f32 {
        // conv2d sums every tap. A transposed output element only takes the taps congruent to
        // it modulo the stride: at most ceil(k / s) per axis.
        let taps = |axis: usize| {
            let k = d.kernel[axis];
            if d.transposed {
                k.div_ceil(d.geometry.stride[axis])
            } else {
                k
            }
        };
        2e-6 * (d.in_channels * taps(0) * taps(1)) as f32 + 1e-6
    }

    /// Runs one op on random data against its reference; returns the output shape.
    async fn check(
        gpu: &Gpu,
        seed: u64,
        transposed: bool,
        input_shape: [usize; 4],
        weight_shape: [usize; 4],
        geometry: Conv2dGeometry,
        bias: bool,
    ) -> [usize; 4] {
        let mut rng = Rng::new(seed);
        let d = Conv2dDims::new(&input_shape, &weight_shape, geometry, transposed).unwrap();
        let (input, input_host) = random(gpu, &mut rng, &input_shape);
        let (weight, weight_host) = random(gpu, &mut rng, &weight_shape);
        let (bias_t, bias_host) = random(gpu, &mut rng, &[d.out_channels]);
        let bias_host = bias.then_some(&bias_host[..]);
        let out = poisoned(gpu, &d.out_shape());
        let (f, reference) = if transposed {
            (conv_transpose2d as ConvFn, conv_transpose2d_ref as RefFn)
        } else {
            (conv2d as ConvFn, conv2d_ref as RefFn)
        };
        f(gpu, &input, &weight, bias.then_some(&bias_t), geometry, &out).unwrap();
        let want = reference(&d, &input_host, &weight_host, bias_host);
        let what = format!(
            "transposed {transposed} {input_shape:?} * {weight_shape:?} {geometry:?} bias {bias}"
        );
        assert_close(&what, &out.read(gpu).await.unwrap(), &want, tolerance(&d), 1e-5);
        d.out_shape()
    }

    type ConvFn =
        fn(&Gpu, &Tensor, &Tensor, Option<&Tensor>, Conv2dGeometry, &Tensor) -> Result<()>;
    type RefFn = fn(&Conv2dDims, &[f32], &[f32], Option<&[f32]>) -> Vec<f32>;

    gpu_tests! {
        async fn conv2d_matches_reference_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, (size, k, g)) in awkward_cases().into_iter().enumerate() {
                let (input, weight) = ([2, 3, size, size], [7, 3, k, k]);
                check(gpu, i as u64, false, input, weight, g, i % 2 == 0).await;
            }
        }

        async fn conv_transpose2d_matches_reference_on_awkward_sizes() {
            let gpu = gpu().await;
            for (i, (size, k, g)) in awkward_cases().into_iter().enumerate() {
                // Output padding 0, 1 or 2 where the stride allows it.
                let g = Conv2dGeometry { output_padding: [(size + k) % g.stride[0]; 2], ..g };
                let (input, weight) = ([2, 3, size, size], [3, 7, k, k]);
                check(gpu, i as u64, true, input, weight, g, i % 2 == 1).await;
            }
        }

        async fn rectangular_geometry() {
            let gpu = gpu().await;
            let g = Conv2dGeometry { stride: [2, 3], padding: [1, 2], output_padding: [0, 0] };
            let shape = check(gpu, 30, false, [2, 3, 7, 33], [7, 3, 3, 5], g, true).await;
            assert_eq!(shape, [2, 7, 4, 11]);
            let g = Conv2dGeometry { output_padding: [1, 2], ..g };
            let shape = check(gpu, 31, true, [2, 3, 7, 33], [3, 7, 3, 5], g, true).await;
            assert_eq!(shape, [2, 7, 14, 99]);
        }

        async fn known_small_cases() {
            // A 2x2 mean filter with stride 2 is average pooling; its transpose with a kernel of
            // ones is nearest-neighbour upsampling.
            let gpu = gpu().await;
            let g = Conv2dGeometry::new(2, 0);
            let image: Vec<f32> = (0..16).map(|v| v as f32).collect();
            let input = Tensor::from_slice(gpu, &[1, 1, 4, 4], &image).unwrap();
            let mean = Tensor::full(gpu, &[1, 1, 2, 2], 0.25).unwrap();
            let pooled = poisoned(gpu, &[1, 1, 2, 2]);
            conv2d(gpu, &input, &mean, None, g, &pooled).unwrap();
            assert_eq!(pooled.read(gpu).await.unwrap(), [2.5, 4.5, 10.5, 12.5]);
            let ones = Tensor::full(gpu, &[1, 1, 2, 2], 1.0).unwrap();
            let upsampled = poisoned(gpu, &[1, 1, 4, 4]);
            conv_transpose2d(gpu, &pooled, &ones, None, g, &upsampled).unwrap();
            let want = [
                2.5, 2.5, 4.5, 4.5, 2.5, 2.5, 4.5, 4.5,
                10.5, 10.5, 12.5, 12.5, 10.5, 10.5, 12.5, 12.5,
            ];
            assert_eq!(upsampled.read(gpu).await.unwrap(), want);
            let d = Conv2dDims::new(&[1, 1, 2, 2], &[1, 1, 2, 2], g, true).unwrap();
            assert_eq!(conv_transpose2d_ref(&d, &[2.5, 4.5, 10.5, 12.5], &[1.0; 4], None), want);
        }

        async fn dcgan_generator_shapes() {
            // Latent [N, 32, 1, 1] -> 7x7 (k7 s1 p0) -> 14x14 -> 28x28 (k4 s2 p1).
            let gpu = gpu().await;
            let (first, up) = (Conv2dGeometry::new(1, 0), Conv2dGeometry::new(2, 1));
            let layers = [
                ([3, 32, 1, 1], [32, 16, 7, 7], first, true, [3, 16, 7, 7]),
                ([3, 32, 1, 1], [32, 16, 7, 7], first, false, [3, 16, 7, 7]),
                ([3, 16, 7, 7], [16, 8, 4, 4], up, true, [3, 8, 14, 14]),
                ([3, 8, 14, 14], [8, 1, 4, 4], up, false, [3, 1, 28, 28]),
            ];
            for (i, (input, weight, g, bias, want)) in layers.into_iter().enumerate() {
                assert_eq!(check(gpu, 40 + i as u64, true, input, weight, g, bias).await, want);
            }
        }

        async fn vae_encoder_shapes() {
            // 28x28 -> 14x14 -> 7x7, each k4 s2 p1.
            let gpu = gpu().await;
            let down = Conv2dGeometry::new(2, 1);
            let layers = [
                ([3, 1, 28, 28], [8, 1, 4, 4], true, [3, 8, 14, 14]),
                ([3, 8, 14, 14], [16, 8, 4, 4], false, [3, 16, 7, 7]),
                ([3, 8, 14, 14], [16, 8, 4, 4], true, [3, 16, 7, 7]),
            ];
            for (i, (input, weight, bias, want)) in layers.into_iter().enumerate() {
                let shape = check(gpu, 50 + i as u64, false, input, weight, down, bias).await;
                assert_eq!(shape, want);
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let t = |shape: &[usize]| Tensor::zeros(gpu, shape).unwrap();
            let invalid = |r: Result<()>| matches!(r, Err(Error::Invalid(_)));
            let g = Conv2dGeometry::new(2, 1);
            // x [2, 3, 8, 8] goes to out [2, 5, 4, 4] through w, and to up_out [2, 5, 16, 16]
            // through the transposed layout wt.
            let (x, out, up_out) = (t(&[2, 3, 8, 8]), t(&[2, 5, 4, 4]), t(&[2, 5, 16, 16]));
            let (w, wt) = (t(&[5, 3, 4, 4]), t(&[3, 5, 4, 4]));
            // The good calls pass, so each failure below is down to its one change.
            conv2d(gpu, &x, &w, Some(&t(&[5])), g, &out).unwrap();
            conv_transpose2d(gpu, &x, &wt, Some(&t(&[5])), g, &up_out).unwrap();
            // Channel mismatch, for both weight layouts.
            assert!(invalid(conv2d(gpu, &x, &t(&[5, 4, 4, 4]), None, g, &out)));
            assert!(invalid(conv_transpose2d(gpu, &x, &w, None, g, &up_out)));
            // Wrong output or bias shape; not 4-D.
            assert!(invalid(conv2d(gpu, &x, &w, None, g, &t(&[2, 5, 5, 5]))));
            assert!(invalid(conv_transpose2d(gpu, &x, &wt, None, g, &out)));
            assert!(invalid(conv2d(gpu, &x, &w, Some(&t(&[3])), g, &out)));
            assert!(invalid(conv2d(gpu, &t(&[3, 8, 8]), &w, None, g, &out)));
            // output_padding must be below the stride, and conv2d takes none.
            let op = Conv2dGeometry { output_padding: [0, 2], ..g };
            assert!(invalid(conv_transpose2d(gpu, &x, &wt, None, op, &t(&[2, 5, 16, 18]))));
            let op = Conv2dGeometry { output_padding: [1, 1], ..g };
            assert!(invalid(conv2d(gpu, &x, &w, None, op, &out)));
            // Zero stride.
            let zero = Conv2dGeometry { stride: [1, 0], ..g };
            assert!(invalid(conv2d(gpu, &x, &w, None, zero, &out)));
            assert!(invalid(conv_transpose2d(gpu, &x, &wt, None, zero, &up_out)));
            // No output left: a kernel larger than the padded input, and a transposed padding
            // that crops everything (1x1 input, kernel 1, padding 1).
            assert!(invalid(conv2d(gpu, &x, &t(&[5, 3, 11, 11]), None, g, &out)));
            let (one, w1) = (t(&[1, 3, 1, 1]), t(&[3, 5, 1, 1]));
            let crop = Conv2dGeometry::new(1, 1);
            assert!(invalid(conv_transpose2d(gpu, &one, &w1, None, crop, &out)));
            gpu.check().unwrap();
        }
    }
}
