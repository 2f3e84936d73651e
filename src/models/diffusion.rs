//! The class-conditional diffusion model of `training/models.py` (`UNet`) and its sampler
//! (`training/diffusion.py`): a U-Net predicts v from a noisy image, its step and its class, and
//! the sampler walks from pure noise to an image in a chosen number of steps, every step on the
//! GPU. Weights are uploaded once; buffers are made once per batch size and reused.

use super::scratch::Scratch;
use super::weights::Weights;
use crate::error::invalid;
use crate::formats::json::Json;
use crate::ops::activation::{activation, Activation};
use crate::ops::binary::{binary, BinaryOp};
use crate::ops::conv::{conv2d, conv_transpose2d, Conv2dGeometry};
use crate::ops::denoise::{denoise_step, Update};
use crate::ops::embedding::embedding;
use crate::ops::matmul::{matmul, matmul_fused, Fused};
use crate::ops::norm::{group_norm, GroupNorm};
use crate::rng::Rng;
use crate::{Gpu, Result, Tensor};

pub const CLASSES: usize = 10;
/// The class entry that means "no class": the unconditional half of a guided pass.
pub const NO_CLASS: u32 = CLASSES as u32;
pub const IMAGE: usize = 28;
const GROUPS: usize = 8;
const EPS: f32 = 1e-5;

/// The noise schedule: `T` steps, cosine (Nichol & Dhariwal), as `training/diffusion.py`.
pub const T: usize = 1000;
const COSINE_OFFSET: f64 = 0.008;
const MIN_ALPHA_BAR: f64 = 1e-5;

/// abar_t, the fraction of signal (as a variance) left at step t of 0..T.
pub fn alpha_bar(t: usize) -> f64 {
    let f = |u: f64| {
        ((u + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * std::f64::consts::FRAC_PI_2).cos().powi(2)
    };
    (f((t + 1) as f64 / T as f64) / f(0.0)).max(MIN_ALPHA_BAR)
}

/// The steps a sampler of `steps` steps visits, from `start` (T-1 for pure noise) down, evenly
/// spaced ("trailing"): `start - i (start + 1) / steps`.
pub fn timesteps(steps: usize, start: usize) -> Result<Vec<usize>> {
    if start >= T {
        invalid!("noise level {start} is outside the schedule's 0..{T}");
    }
    if !(1..=start + 1).contains(&steps) {
        invalid!("a sampler from step {start} takes 1 to {} steps; got {steps}", start + 1);
    }
    Ok((0..steps).map(|i| start - i * (start + 1) / steps).collect())
}

/// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps: images `x0` in [-1, 1] noised to step `t`.
pub fn noised(x0: &[f32], t: usize, eps: &[f32]) -> Vec<f32> {
    let ab = alpha_bar(t);
    let (a, s) = (ab.sqrt(), (1.0 - ab).sqrt());
    x0.iter().zip(eps).map(|(&x, &e)| (a * x as f64 + s * e as f64) as f32).collect()
}

/// The signal-to-noise ratio abar / (1 - abar) at step t.
pub fn signal_to_noise(t: usize) -> f64 {
    alpha_bar(t) / (1.0 - alpha_bar(t))
}

/// How a sampler goes from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// DDIM with eta 0: deterministic, the same noise always gives the same image.
    Ddim,
    /// DDIM with eta 1, the DDPM posterior: fresh noise at every step.
    Ancestral,
}

/// The update from step `t` to `prev` (`None`: the clean image), computed in f64.
pub fn update(t: usize, prev: Option<usize>, sampler: Sampler) -> Update {
    let ab = alpha_bar(t);
    let ab_prev = prev.map_or(1.0, alpha_bar);
    let eta = if sampler == Sampler::Ancestral { 1.0 } else { 0.0 };
    let sigma = eta * ((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev)).sqrt();
    Update {
        a: ab.sqrt() as f32,
        s: (1.0 - ab).sqrt() as f32,
        a_prev: ab_prev.sqrt() as f32,
        dir: (1.0 - ab_prev - sigma * sigma).max(0.0).sqrt() as f32,
        sigma: sigma as f32,
    }
}

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
    fn conv(&self, name: &str, [inputs, outputs, k]: [usize; 3], stride: usize, padding: usize,
            transposed: bool) -> Result<Conv> {
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
    fn forward(&self, gpu: &Gpu, x: &Tensor, e: &Tensor, s: &LevelBuffers, out: &Tensor) -> Result<()> {
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
    fn new(gpu: &Gpu, n: usize, [c0, c1, c2]: [usize; 3], emb: usize, time: usize) -> Result<Buffers> {
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
            invalid!("the diffusion card needs architecture.channels (3), embedding and time_embedding");
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
    pub fn forward(&mut self, gpu: &Gpu, x: &Tensor, steps: &[u32], labels: &[u32]) -> Result<&Tensor> {
        let n = labels.len();
        if n == 0 || steps.len() != n {
            invalid!("the U-Net needs one step and one label per image; got {} and {n}", steps.len());
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
        let first = Fused { bias: Some(&self.time_mlp_0.bias), activation: silu, ..Fused::default() };
        matmul_fused(gpu, &b.time, &self.time_mlp_0.weight, true, &first, &b.hidden)?;
        embedding(gpu, &self.class_emb, labels, &b.class)?;
        let second = Fused { bias: Some(&self.time_mlp_2.bias), residual: Some(&b.class), ..Fused::default() };
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

/// What a sampling run asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// One class per image (0..9, or `NO_CLASS` for none).
    pub labels: Vec<u32>,
    pub steps: usize,
    /// The classifier-free guidance scale w: 0 ignores the class, 1 uses the class alone (one
    /// pass per step), above 1 pushes further towards it (two passes per step, as one batch).
    pub guidance: f32,
    pub sampler: Sampler,
    /// Seeds the starting noise and the ancestral sampler's noise.
    pub seed: u64,
}

/// What one step of a run computed: the image it started from (x_t, `[n, 1, 28, 28]`, in the
/// first `n` images of `x`) and the model's guess of the clean image (`x0`), both in [-1, 1]-ish.
pub struct Step<'a> {
    pub t: usize,
    /// The step's input; with guidance the batch is held twice, so only its first `n` images
    /// are this run's.
    pub x: &'a Tensor,
    pub x0: &'a Tensor,
}

/// A sampling run in progress: from noise (or a noised image) to images, one `step` at a time.
pub struct Sampling {
    options: SampleOptions,
    /// The batch the U-Net sees: the labels, then as many `NO_CLASS` when guided.
    labels: Vec<u32>,
    guided: bool,
    steps: Vec<usize>,
    done: usize,
    rng: Rng,
    /// The current x_t and the next one, swapped after every step.
    x: [Tensor; 2],
    x0: Tensor,
    noise: Tensor,
}

const PIXELS: usize = IMAGE * IMAGE;

impl Sampling {
    /// A run from pure noise drawn from `options.seed`.
    pub fn new(gpu: &Gpu, options: SampleOptions) -> Result<Sampling> {
        let mut rng = Rng::new(options.seed);
        let noise = normal(&mut rng, options.labels.len() * PIXELS);
        Sampling::start(gpu, options, T - 1, noise, rng)
    }

    /// A run from the given starting noise, `n` times 784 values (one image per label).
    pub fn from_noise(gpu: &Gpu, options: SampleOptions, noise: &[f32]) -> Result<Sampling> {
        check_images("starting noise", noise, options.labels.len())?;
        let rng = Rng::new(options.seed);
        Sampling::start(gpu, options, T - 1, noise.to_vec(), rng)
    }

    /// A run from images (`n` times 784 values in [0, 1], one per label) noised to step `t`
    /// with noise from `options.seed`: a small `t` gives about the same images back, a large
    /// one new images of the class.
    pub fn from_images(gpu: &Gpu, options: SampleOptions, images: &[f32], t: usize) -> Result<Sampling> {
        check_images("images", images, options.labels.len())?;
        if let Some(v) = images.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            invalid!("pixel values must lie in [0, 1]; got {v}");
        }
        if t >= T {
            invalid!("noise level {t} is outside the schedule's 0..{T}");
        }
        let mut rng = Rng::new(options.seed);
        let scaled: Vec<f32> = images.iter().map(|v| v * 2.0 - 1.0).collect();
        let x_t = noised(&scaled, t, &normal(&mut rng, images.len()));
        Sampling::start(gpu, options, t, x_t, rng)
    }

    fn start(gpu: &Gpu, options: SampleOptions, t: usize, mut x_t: Vec<f32>, rng: Rng) -> Result<Sampling> {
        let n = options.labels.len();
        if n == 0 {
            invalid!("a sampling run needs at least one label");
        }
        if let Some(c) = options.labels.iter().find(|&&c| c > NO_CLASS) {
            invalid!("class {c} is not one of 0..9 (or {NO_CLASS}, none)");
        }
        let w = options.guidance;
        if !w.is_finite() || w < 0.0 {
            invalid!("the guidance scale must be finite and non-negative; got {w}");
        }
        let steps = timesteps(options.steps, t)?;
        let guided = w != 1.0;
        let mut labels = options.labels.clone();
        if guided {
            labels.extend(std::iter::repeat_n(NO_CLASS, n));
            x_t.extend_from_within(..);
        }
        let shape = [labels.len(), 1, IMAGE, IMAGE];
        let x = Tensor::from_slice(gpu, &shape, &x_t)?;
        Ok(Sampling {
            labels,
            guided,
            steps,
            done: 0,
            rng,
            x: [x, Tensor::zeros(gpu, &shape)?],
            x0: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            noise: Tensor::zeros(gpu, &[n, 1, IMAGE, IMAGE])?,
            options,
        })
    }

    pub fn options(&self) -> &SampleOptions {
        &self.options
    }

    /// The steps this run visits, from the noisiest.
    pub fn timesteps(&self) -> &[usize] {
        &self.steps
    }

    pub fn is_done(&self) -> bool {
        self.done == self.steps.len()
    }

    /// Runs the next step (a U-Net pass and an update) and returns what it computed, or `None`
    /// when the run is over. Nothing is read back.
    pub fn step(&mut self, gpu: &Gpu, unet: &mut UNet) -> Result<Option<Step<'_>>> {
        let Some(&t) = self.steps.get(self.done) else {
            return Ok(None);
        };
        let prev = self.steps.get(self.done + 1).copied();
        let update = update(t, prev, self.options.sampler);
        // Uploads first: each submits the commands before it, so the step stays one pass.
        if update.sigma > 0.0 {
            self.noise.write(gpu, &normal(&mut self.rng, self.noise.numel()))?;
        }
        let times = vec![t as u32; self.labels.len()];
        let v = unet.forward(gpu, &self.x[0], &times, &self.labels)?;
        let guidance = self.guided.then_some(self.options.guidance);
        let noise = (update.sigma > 0.0).then_some(&self.noise);
        denoise_step(gpu, v, &self.x[0], guidance, &update, noise, &self.x0, &self.x[1])?;
        self.x.swap(0, 1);
        self.done += 1;
        Ok(Some(Step { t, x: &self.x[1], x0: &self.x0 }))
    }

    /// The images so far (after the last step: the samples), `[m, 1, 28, 28]` in [-1, 1], the
    /// run's `n` first.
    pub fn images(&self) -> &Tensor {
        &self.x[0]
    }
}

fn normal(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32).collect()
}

fn check_images(what: &str, values: &[f32], n: usize) -> Result<()> {
    if values.len() != n * PIXELS {
        invalid!("{} values of {what} are not {n} images of 28 x 28 pixels (one per label)", values.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;
    use crate::Error;

    struct Checkpoint {
        card: &'static str,
        weights: &'static [u8],
        fixture: &'static [u8],
    }

    macro_rules! checkpoint {
        ($name:literal) => {
            Checkpoint {
                card: include_str!(concat!("../../www/models/", $name, ".json")),
                weights: include_bytes!(concat!("../../www/models/", $name, ".safetensors")),
                fixture: include_bytes!(concat!("../../tests/fixtures/", $name, ".safetensors")),
            }
        };
    }

    const CHECKPOINTS: [Checkpoint; 2] = [checkpoint!("diffusion_fashion"), checkpoint!("diffusion_mnist")];

    fn ids(f: &SafeTensors, name: &str, n: usize) -> Vec<u32> {
        f.i64(name, &[n]).unwrap().iter().map(|&v| v as u32).collect()
    }

    fn images(n: usize) -> [usize; 4] {
        [n, 1, IMAGE, IMAGE]
    }

    /// The U-Net's v at eight (step, class) pairs, and a 10-step guided DDIM run from fixed
    /// noise: every step's x_t and predicted x0, and the images it ends with.
    async fn unets_match_pytorch_on(gpu: &Gpu, checkpoints: &[Checkpoint]) {
        for c in checkpoints {
            let f = SafeTensors::parse(c.fixture).unwrap();
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let x = Tensor::from_slice(gpu, &images(8), &f.f32("x", &images(8)).unwrap()).unwrap();
            let v = unet.forward(gpu, &x, &ids(&f, "t", 8), &ids(&f, "labels", 8)).unwrap();
            // Sums of 144 to 576 products through 16 layers, in another order than PyTorch's;
            // the largest error seen on lavapipe is below 1e-6.
            assert_close("v", &v.read(gpu).await.unwrap(), &f.f32("v", &images(8)).unwrap(), 1e-5, 1e-5);

            let n = 4;
            let options = SampleOptions {
                labels: ids(&f, "run_labels", n),
                steps: 10,
                guidance: 1.5,
                sampler: Sampler::Ddim,
                seed: 0,
            };
            let mut run = Sampling::from_noise(gpu, options, &f.f32("noise", &images(n)).unwrap()).unwrap();
            let want_t = ids(&f, "run_t", 10);
            assert_eq!(run.timesteps(), want_t.iter().map(|&t| t as usize).collect::<Vec<_>>());
            let want_x = f.f32("run_x", &[10, n, 1, IMAGE, IMAGE]).unwrap();
            let want_x0 = f.f32("run_x0", &[10, n, 1, IMAGE, IMAGE]).unwrap();
            let per_step = n * IMAGE * IMAGE;
            for i in 0..10 {
                let step = run.step(gpu, &mut unet).unwrap().unwrap();
                assert_eq!(step.t, want_t[i] as usize);
                let x = step.x.read_range(gpu, 0..per_step).await.unwrap();
                let x0 = step.x0.read(gpu).await.unwrap();
                let want = |all: &[f32]| all[i * per_step..(i + 1) * per_step].to_vec();
                // The run's errors compound over its steps; the largest seen is below 1e-5.
                assert_close(&format!("x_t at step {i}"), &x, &want(&want_x), 1e-4, 1e-4);
                assert_close(&format!("x0 at step {i}"), &x0, &want(&want_x0), 1e-4, 1e-4);
            }
            assert!(run.step(gpu, &mut unet).unwrap().is_none() && run.is_done());
            let last = run.images().read_range(gpu, 0..per_step).await.unwrap();
            assert_close("final images", &last, &f.f32("run_final", &images(n)).unwrap(), 1e-4, 1e-4);
        }
    }

    gpu_tests! {
        async fn every_unet_matches_pytorch() {
            unets_match_pytorch_on(gpu().await, &CHECKPOINTS).await;
        }

        async fn a_unet_matches_pytorch_on_the_reference_device() {
            // One checkpoint: the other runs the same code, and each takes about half a minute
            // of plain-Rust convolutions here.
            unets_match_pytorch_on(&Gpu::reference(), &CHECKPOINTS[1..]).await;
        }

        async fn a_second_sampling_step_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let c = &CHECKPOINTS[0];
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let options = SampleOptions {
                labels: vec![1, 2, NO_CLASS],
                steps: 5,
                guidance: 2.0,
                sampler: Sampler::Ancestral,
                seed: 5,
            };
            let mut run = Sampling::new(gpu, options).unwrap();
            // Steps alternate between two input buffers: from the third on, each repeats the
            // bindings of the one two before (but the last, which adds no noise).
            for i in 0..4 {
                let before = gpu.stats();
                let step = run.step(gpu, &mut unet).unwrap().unwrap();
                let x0 = step.x0.read(gpu).await.unwrap();
                assert!(x0.iter().all(|v| (-1.0..=1.0).contains(v)));
                if i >= 2 {
                    let step = gpu.stats() - before;
                    assert_made_nothing("a guided ancestral sampling step", step);
                    let counts = (step.compute_passes, step.submissions, step.read_backs);
                    assert_eq!(counts, (1, 1, 1), "{step:?}");
                }
            }
        }

        async fn the_same_seed_gives_the_same_images() {
            let gpu = gpu().await;
            let c = &CHECKPOINTS[1];
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let run = |unet: &mut UNet, seed: u64, sampler: Sampler| {
                let options = SampleOptions { labels: vec![4, 8], steps: 4, guidance: 3.0, sampler, seed };
                let mut run = Sampling::new(gpu, options).unwrap();
                while run.step(gpu, unet).unwrap().is_some() {}
                run
            };
            let images = |run: Sampling| async move {
                run.images().read_range(gpu, 0..2 * IMAGE * IMAGE).await.unwrap()
            };
            for sampler in [Sampler::Ddim, Sampler::Ancestral] {
                let a = images(run(&mut unet, 11, sampler)).await;
                assert_eq!(a, images(run(&mut unet, 11, sampler)).await, "{sampler:?}");
                assert_ne!(a, images(run(&mut unet, 12, sampler)).await, "{sampler:?}");
            }
        }

        async fn the_schedule_is_pytorchs() {
            // training/diffusion.py: alpha_bar(0), (499), (999) and timesteps(10), (3, from 500).
            assert!((alpha_bar(0) - 0.999_958_7).abs() < 1e-6, "{}", alpha_bar(0));
            assert!((alpha_bar(499) - 0.493_843_6).abs() < 1e-6, "{}", alpha_bar(499));
            assert_eq!(alpha_bar(999), MIN_ALPHA_BAR);
            assert_eq!(timesteps(10, T - 1).unwrap(), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
            assert_eq!(timesteps(3, 500).unwrap(), [500, 333, 166]);
            assert_eq!(timesteps(T, T - 1).unwrap().last(), Some(&0));
            let last = update(99, None, Sampler::Ancestral);
            assert_eq!((last.a_prev, last.dir, last.sigma), (1.0, 0.0, 0.0));
            // A small t keeps most of the image, a large one almost none of it.
            assert!(signal_to_noise(10) > 1000.0 && signal_to_noise(990) < 1e-3);
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let c = &CHECKPOINTS[0];
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            invalid(UNet::load(gpu, c.card, &c.weights[..200]).map(drop));
            invalid(UNet::load(gpu, CHECKPOINTS[1].card.replace("\"channels\"", "\"c\"").as_str(), c.weights).map(drop));
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let x = Tensor::zeros(gpu, &images(2)).unwrap();
            invalid(unet.forward(gpu, &x, &[0, 1], &[0]).map(drop));
            invalid(unet.forward(gpu, &x, &[0, 1000], &[0, 1]).map(drop));
            invalid(unet.forward(gpu, &x, &[0, 1], &[0, 11]).map(drop));
            invalid(unet.forward(gpu, &Tensor::zeros(gpu, &[2, 1, 27, 28]).unwrap(), &[0, 1], &[0, 1]).map(drop));
            let good = SampleOptions { labels: vec![3], steps: 5, guidance: 2.0, sampler: Sampler::Ddim, seed: 1 };
            for bad in [
                SampleOptions { steps: 0, ..good.clone() },
                SampleOptions { steps: 1001, ..good.clone() },
                SampleOptions { guidance: -1.0, ..good.clone() },
                SampleOptions { guidance: f32::NAN, ..good.clone() },
                SampleOptions { guidance: f32::INFINITY, ..good.clone() },
                SampleOptions { labels: vec![], ..good.clone() },
                SampleOptions { labels: vec![12], ..good.clone() },
            ] {
                invalid(Sampling::new(gpu, bad).map(drop));
            }
            let image = vec![0.5; IMAGE * IMAGE];
            invalid(Sampling::from_images(gpu, good.clone(), &image, 1000).map(drop));
            invalid(Sampling::from_images(gpu, good.clone(), &image[1..], 10).map(drop));
            invalid(Sampling::from_images(gpu, good.clone(), &vec![1.5; IMAGE * IMAGE], 10).map(drop));
            // From step 3, at most 4 steps.
            invalid(Sampling::from_images(gpu, good.clone(), &image, 3).map(drop));
            invalid(Sampling::from_noise(gpu, good.clone(), &image[1..]).map(drop));
            Sampling::from_images(gpu, SampleOptions { steps: 4, ..good }, &image, 3).unwrap();
            gpu.check().unwrap();
        }
    }
}
