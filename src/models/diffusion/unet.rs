//! `UNet` of `training/models.py`: 28 -> 14 -> 7 -> 14 -> 28, a residual block per level each
//! way and two in the middle, skips added, every block shifted by the step's embedding (time and
//! class). Weights are uploaded once; buffers are made once per batch size and reused.

use super::{CLASSES, IMAGE, NO_CLASS, T};
use crate::error::invalid;
use crate::formats::json::Json;
use crate::models::scratch::Scratch;
use crate::models::weights::Weights;
use crate::ops::activation::{activation, Activation};
use crate::ops::binary::{binary, BinaryOp};
use crate::ops::conv::{conv2d, conv_transpose2d, Conv2dGeometry};
use crate::ops::embedding::embedding;
use crate::ops::matmul::{matmul, matmul_fused, Fused};
use crate::ops::norm::{group_norm, GroupNorm};
use crate::{Gpu, Result, Tensor};

const GROUPS: usize = 8;
const EPS: f32 = 1e-5;

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

struct Conv {
    weight: Tensor,
    bias: Tensor,
    geometry: Conv2dGeometry,
}

struct Norm {
    gamma: Tensor,
    beta: Tensor,
}

impl Norm {
    fn layer(&self) -> GroupNorm<'_> {
        GroupNorm { groups: GROUPS, gamma: &self.gamma, beta: &self.beta, eps: EPS }
    }
}

/// The checkpoint, read by PyTorch names.
struct Loader<'a, 'g>(Weights<'a, 'g>);

impl Loader<'_, '_> {
    fn linear(&self, name: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.0.tensor(&format!("{name}.weight"), &[outputs, inputs])?,
            bias: self.0.tensor(&format!("{name}.bias"), &[outputs])?,
        })
    }

    /// `nn.Conv2d(inputs, outputs, k, stride, padding)`, or with `transposed`
    /// `nn.ConvTranspose2d`, whose weight is `[inputs, outputs, k, k]` instead.
    fn conv(
        &self,
        name: &str,
        [inputs, outputs, k]: [usize; 3],
        stride: usize,
        padding: usize,
        transposed: bool,
    ) -> Result<Conv> {
        let shape = if transposed { [inputs, outputs, k, k] } else { [outputs, inputs, k, k] };
        Ok(Conv {
            weight: self.0.tensor(&format!("{name}.weight"), &shape)?,
            bias: self.0.tensor(&format!("{name}.bias"), &[outputs])?,
            geometry: Conv2dGeometry::new(stride, padding),
        })
    }

    fn norm(&self, name: &str, channels: usize) -> Result<Norm> {
        Ok(Norm {
            gamma: self.0.tensor(&format!("{name}.weight"), &[channels])?,
            beta: self.0.tensor(&format!("{name}.bias"), &[channels])?,
        })
    }

    fn block(&self, name: &str, channels: usize, emb: usize) -> Result<ResBlock> {
        let same = [channels, channels, 3];
        Ok(ResBlock {
            norm1: self.norm(&format!("{name}.norm1"), channels)?,
            conv1: self.conv(&format!("{name}.conv1"), same, 1, 1, false)?,
            emb: self.linear(&format!("{name}.emb"), emb, channels)?,
            norm2: self.norm(&format!("{name}.norm2"), channels)?,
            conv2: self.conv(&format!("{name}.conv2"), same, 1, 1, false)?,
        })
    }
}

/// `ResBlock(channels, emb)`: `x + conv2(silu(norm2(conv1(silu(norm1(x))) + emb(e))))`.
struct ResBlock {
    norm1: Norm,
    conv1: Conv,
    emb: Linear,
    norm2: Norm,
    conv2: Conv,
}

/// One resolution's scratch, shared by its blocks (they run one after another).
struct LevelBuffers {
    normed: Tensor,
    h: Tensor,
    shifted: Tensor,
    /// `emb(e)` `[n, C]`, and the same seen as `[n, C, 1, 1]` to broadcast over the image.
    shift: Tensor,
    shift_planes: Tensor,
}

impl LevelBuffers {
    fn new(gpu: &Gpu, shape: [usize; 4]) -> Result<LevelBuffers> {
        let [n, c, _, _] = shape;
        let shift = Tensor::zeros(gpu, &[n, c])?;
        Ok(LevelBuffers {
            normed: Tensor::zeros(gpu, &shape)?,
            h: Tensor::zeros(gpu, &shape)?,
            shifted: Tensor::zeros(gpu, &shape)?,
            shift_planes: shift.view(&[n, c, 1, 1])?,
            shift,
        })
    }
}

impl ResBlock {
    fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        e: &Tensor,
        s: &LevelBuffers,
        out: &Tensor,
    ) -> Result<()> {
        let silu = Some(Activation::Silu);
        group_norm(gpu, &self.norm1.layer(), silu, x, &s.normed)?;
        conv(gpu, &self.conv1, &s.normed, &s.h)?;
        matmul(gpu, e, &self.emb.weight, Some(&self.emb.bias), true, &s.shift)?;
        binary(gpu, BinaryOp::Add, &s.h, &s.shift_planes, &s.shifted)?;
        group_norm(gpu, &self.norm2.layer(), silu, &s.shifted, &s.normed)?;
        conv(gpu, &self.conv2, &s.normed, &s.h)?;
        binary(gpu, BinaryOp::Add, x, &s.h, out)
    }
}

fn conv(gpu: &Gpu, c: &Conv, x: &Tensor, out: &Tensor) -> Result<()> {
    conv2d(gpu, x, &c.weight, Some(&c.bias), c.geometry, out)
}

fn up(gpu: &Gpu, c: &Conv, x: &Tensor, out: &Tensor) -> Result<()> {
    conv_transpose2d(gpu, x, &c.weight, Some(&c.bias), c.geometry, out)
}

/// `UNet` of `training/models.py`, read from `diffusion_<data>.safetensors`.
pub struct UNet {
    channels: [usize; 3],
    time_freqs: Vec<f32>,
    time_mlp_0: Linear,
    time_mlp_2: Linear,
    class_emb: Tensor,
    conv_in: Conv,
    down0: ResBlock,
    downsample0: Conv,
    down1: ResBlock,
    downsample1: Conv,
    mid1: ResBlock,
    mid2: ResBlock,
    upsample1: Conv,
    up1: ResBlock,
    upsample0: Conv,
    up0: ResBlock,
    norm_out: Norm,
    conv_out: Conv,
    buffers: Scratch<Buffers>,
}

struct Buffers {
    time: Tensor,
    hidden: Tensor,
    class: Tensor,
    emb: Tensor,
    e: Tensor,
    /// Each level's block outputs: [input, after the first block, ...].
    level0: [Tensor; 4],
    level1: [Tensor; 4],
    level2: [Tensor; 3],
    scratch: [LevelBuffers; 3],
    v: Tensor,
}

impl Buffers {
    fn new(
        gpu: &Gpu,
        n: usize,
        [c0, c1, c2]: [usize; 3],
        emb: usize,
        time: usize,
    ) -> Result<Buffers> {
        let z = |shape: &[usize]| Tensor::zeros(gpu, shape);
        let shapes = [[n, c0, 28, 28], [n, c1, 14, 14], [n, c2, 7, 7]];
        let [s0, s1, s2] = shapes;
        Ok(Buffers {
            time: z(&[n, time])?,
            hidden: z(&[n, emb])?,
            class: z(&[n, emb])?,
            emb: z(&[n, emb])?,
            e: z(&[n, emb])?,
            level0: [z(&s0)?, z(&s0)?, z(&s0)?, z(&s0)?],
            level1: [z(&s1)?, z(&s1)?, z(&s1)?, z(&s1)?],
            level2: [z(&s2)?, z(&s2)?, z(&s2)?],
            scratch: [
                LevelBuffers::new(gpu, s0)?,
                LevelBuffers::new(gpu, s1)?,
                LevelBuffers::new(gpu, s2)?,
            ],
            v: z(&[n, 1, IMAGE, IMAGE])?,
        })
    }
}

impl UNet {
    /// Loads `diffusion_<data>.safetensors`, checked against its card.
    pub fn load(gpu: &Gpu, card: &str, safetensors: &[u8]) -> Result<UNet> {
        let card = Json::parse(card)?;
        let arch = card.get("architecture");
        let number = |key: &str| arch.and_then(|a| a.get(key)).and_then(Json::as_usize);
        let channels = arch
            .and_then(|a| a.get("channels"))
            .and_then(Json::as_array)
            .map(|c| c.iter().filter_map(Json::as_usize).collect::<Vec<_>>());
        let (Some(&[c0, c1, c2]), Some(emb), Some(time)) =
            (channels.as_deref(), number("embedding"), number("time_embedding"))
        else {
            invalid!(
                "the diffusion card needs architecture.channels (3), embedding and time_embedding"
            );
        };
        let w = Loader(Weights::open(gpu, &card, safetensors)?);
        let time_freqs = w.0.values("time_freqs", &[time / 2])?;
        Ok(UNet {
            channels: [c0, c1, c2],
            time_freqs,
            time_mlp_0: w.linear("time_mlp.0", time, emb)?,
            time_mlp_2: w.linear("time_mlp.2", emb, emb)?,
            class_emb: w.0.tensor("class_emb.weight", &[CLASSES + 1, emb])?,
            conv_in: w.conv("conv_in", [1, c0, 3], 1, 1, false)?,
            down0: w.block("down0", c0, emb)?,
            downsample0: w.conv("downsample0", [c0, c1, 3], 2, 1, false)?,
            down1: w.block("down1", c1, emb)?,
            downsample1: w.conv("downsample1", [c1, c2, 3], 2, 1, false)?,
            mid1: w.block("mid1", c2, emb)?,
            mid2: w.block("mid2", c2, emb)?,
            upsample1: w.conv("upsample1", [c2, c1, 4], 2, 1, true)?,
            up1: w.block("up1", c1, emb)?,
            upsample0: w.conv("upsample0", [c1, c0, 4], 2, 1, true)?,
            up0: w.block("up0", c0, emb)?,
            norm_out: w.norm("norm_out", c0)?,
            conv_out: w.conv("conv_out", [c0, 1, 3], 1, 1, false)?,
            buffers: Scratch::new(),
        })
    }

    /// `[sin(t f), cos(t f)]` for every step of `steps`, row by row, as PyTorch computes it
    /// (the product in f32).
    fn time_embedding(&self, steps: &[u32]) -> Vec<f32> {
        steps
            .iter()
            .flat_map(|&t| {
                let args: Vec<f32> = self.time_freqs.iter().map(|&f| t as f32 * f).collect();
                let sin = args.iter().map(|&a| (a as f64).sin() as f32);
                let cos = args.iter().map(|&a| (a as f64).cos() as f32);
                sin.chain(cos).collect::<Vec<_>>()
            })
            .collect()
    }

    /// v `[n, 1, 28, 28]` for noisy images `x` (the same shape), one step `t` (0..T) and one
    /// label (0..9, or `NO_CLASS`) per image. The tensor is the U-Net's own and is overwritten by
    /// the next call of the same batch size.
    pub fn forward(
        &mut self,
        gpu: &Gpu,
        x: &Tensor,
        steps: &[u32],
        labels: &[u32],
    ) -> Result<&Tensor> {
        let n = labels.len();
        if n == 0 || steps.len() != n {
            invalid!(
                "the U-Net needs one step and one label per image; got {} and {n}",
                steps.len()
            );
        }
        if x.shape() != [n, 1, IMAGE, IMAGE] {
            invalid!("the U-Net takes [{n}, 1, 28, 28] images for {n} labels; got {:?}", x.shape());
        }
        if let Some(t) = steps.iter().find(|&&t| t as usize >= T) {
            invalid!("step {t} is outside the schedule's 0..{T}");
        }
        if let Some(c) = labels.iter().find(|&&c| c > NO_CLASS) {
            invalid!("class {c} is not one of 0..9 (or {NO_CLASS}, none)");
        }
        let time = self.time_embedding(steps);
        let (channels, emb) = (self.channels, self.class_emb.shape()[1]);
        let width = self.time_freqs.len() * 2;
        let b = self.buffers.get(n, || Buffers::new(gpu, n, channels, emb, width))?;
        b.time.write(gpu, &time)?;
        let silu = Some(Activation::Silu);
        // e = silu(time_mlp(time_embedding(t)) + class_emb(labels))
        let first =
            Fused { bias: Some(&self.time_mlp_0.bias), activation: silu, ..Fused::default() };
        matmul_fused(gpu, &b.time, &self.time_mlp_0.weight, true, &first, &b.hidden)?;
        embedding(gpu, &self.class_emb, labels, &b.class)?;
        let second = Fused {
            bias: Some(&self.time_mlp_2.bias),
            residual: Some(&b.class),
            ..Fused::default()
        };
        matmul_fused(gpu, &b.hidden, &self.time_mlp_2.weight, true, &second, &b.emb)?;
        activation(gpu, Activation::Silu, &b.emb, &b.e)?;
        let e = &b.e;

        let [s0, s1, s2] = &b.scratch;
        let [x0, h0, u0, o0] = &b.level0;
        let [d0, h1, u1, o1] = &b.level1;
        let [d1, m1, m2] = &b.level2;
        conv(gpu, &self.conv_in, x, x0)?;
        self.down0.forward(gpu, x0, e, s0, h0)?;
        conv(gpu, &self.downsample0, h0, d0)?;
        self.down1.forward(gpu, d0, e, s1, h1)?;
        conv(gpu, &self.downsample1, h1, d1)?;
        self.mid1.forward(gpu, d1, e, s2, m1)?;
        self.mid2.forward(gpu, m1, e, s2, m2)?;
        // up1(upsample1(h) + h1): the sum goes where the upsampled image was.
        up(gpu, &self.upsample1, m2, &s1.shifted)?;
        binary(gpu, BinaryOp::Add, &s1.shifted, h1, u1)?;
        self.up1.forward(gpu, u1, e, s1, o1)?;
        up(gpu, &self.upsample0, o1, &s0.shifted)?;
        binary(gpu, BinaryOp::Add, &s0.shifted, h0, u0)?;
        self.up0.forward(gpu, u0, e, s0, o0)?;
        group_norm(gpu, &self.norm_out.layer(), silu, o0, &s0.normed)?;
        conv(gpu, &self.conv_out, &s0.normed, &b.v)?;
        Ok(&b.v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::checkpoints::{ids, images, Checkpoint, CHECKPOINTS};
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;
    use crate::Error;

    /// The U-Net's v at eight (step, class) pairs, the no-class entry among them.
    async fn unets_match_pytorch_on(gpu: &Gpu, checkpoints: &[Checkpoint]) {
        for c in checkpoints {
            let f = SafeTensors::parse(c.fixture).unwrap();
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let x = Tensor::from_slice(gpu, &images(8), &f.f32("x", &images(8)).unwrap()).unwrap();
            let v = unet.forward(gpu, &x, &ids(&f, "t", 8), &ids(&f, "labels", 8)).unwrap();
            // Sums of 144 to 576 products through 16 layers, in another order than PyTorch's;
            // the largest error seen on lavapipe is below 1e-6.
            let want = f.f32("v", &images(8)).unwrap();
            assert_close("v", &v.read(gpu).await.unwrap(), &want, 1e-5, 1e-5);
        }
    }

    gpu_tests! {
        async fn every_unet_matches_pytorch() {
            unets_match_pytorch_on(gpu().await, &CHECKPOINTS).await;
        }

        async fn every_unet_matches_pytorch_on_the_reference_device() {
            unets_match_pytorch_on(&Gpu::reference(), &CHECKPOINTS).await;
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let c = &CHECKPOINTS[0];
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(UNet::load(gpu, c.card, &c.weights[..200]).map(drop));
            let renamed = CHECKPOINTS[1].card.replace("\"channels\"", "\"c\"");
            invalid(UNet::load(gpu, &renamed, c.weights).map(drop));
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let x = Tensor::zeros(gpu, &images(2)).unwrap();
            invalid(unet.forward(gpu, &x, &[0, 1], &[0]).map(drop));
            invalid(unet.forward(gpu, &x, &[0, 1000], &[0, 1]).map(drop));
            invalid(unet.forward(gpu, &x, &[0, 1], &[0, 11]).map(drop));
            let narrow = Tensor::zeros(gpu, &[2, 1, 27, 28]).unwrap();
            invalid(unet.forward(gpu, &narrow, &[0, 1], &[0, 1]).map(drop));
            gpu.check().unwrap();
        }
    }
}
