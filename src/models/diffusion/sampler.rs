//! The noise schedule and the sampler of `training/diffusion.py`: a cosine schedule over `T`
//! steps, v prediction, and DDIM (deterministic) or ancestral updates with classifier-free
//! guidance, each step a U-Net pass and one update kernel, nothing read back.

use super::{UNet, IMAGE, NO_CLASS, PIXELS};
use crate::error::invalid;
use crate::ops::denoise::{denoise_step, Update};
use crate::rng::Rng;
use crate::{Gpu, Result, Tensor};

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

/// What a sampling run asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// One class per image (0..9, or `NO_CLASS` for none).
    pub labels: Vec<u32>,
    pub steps: usize,
    /// The classifier-free guidance scale w: 0 ignores the class, 1 uses the class alone (one
    /// pass per step), above 1 pushes further towards it (two passes per step, as one batch;
    /// one where no image has a class).
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
pub struct SamplingRun {
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

impl SamplingRun {
    /// A run from pure noise drawn from `options.seed`.
    pub fn new(gpu: &Gpu, options: SampleOptions) -> Result<SamplingRun> {
        let mut rng = Rng::new(options.seed);
        let noise = normal(&mut rng, options.labels.len() * PIXELS);
        SamplingRun::start(gpu, options, T - 1, noise, rng)
    }

    /// A run from the given starting noise, `n` times 784 values (one image per label).
    pub fn from_noise(gpu: &Gpu, options: SampleOptions, noise: &[f32]) -> Result<SamplingRun> {
        check_images("starting noise", noise, options.labels.len())?;
        let rng = Rng::new(options.seed);
        SamplingRun::start(gpu, options, T - 1, noise.to_vec(), rng)
    }

    /// A run from images (`n` times 784 values in [0, 1], one per label) noised to step `t`
    /// with noise from `options.seed`: a small `t` gives about the same images back, a large
    /// one new images of the class.
    pub fn from_images(
        gpu: &Gpu,
        options: SampleOptions,
        images: &[f32],
        t: usize,
    ) -> Result<SamplingRun> {
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
        SamplingRun::start(gpu, options, t, x_t, rng)
    }

    fn start(
        gpu: &Gpu,
        options: SampleOptions,
        t: usize,
        mut x_t: Vec<f32>,
        rng: Rng,
    ) -> Result<SamplingRun> {
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
        // Guidance mixes the passes with and without the class: nothing to mix at w = 1, or when
        // no image has a class.
        let guided = w != 1.0 && options.labels.iter().any(|&c| c != NO_CLASS);
        let mut labels = options.labels.clone();
        if guided {
            labels.extend(std::iter::repeat_n(NO_CLASS, n));
            x_t.extend_from_within(..);
        }
        let shape = [labels.len(), 1, IMAGE, IMAGE];
        let x = Tensor::from_slice(gpu, &shape, &x_t)?;
        Ok(SamplingRun {
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

    /// How many steps have run.
    pub fn steps_done(&self) -> usize {
        self.done
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
        invalid!(
            "{} values of {what} are not {n} images of 28 x 28 pixels (one per label)",
            values.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::checkpoints::{ids, images, Checkpoint, CHECKPOINTS};
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;
    use crate::Error;

    /// A 10-step guided DDIM run of the fixture's first `n` images (of 4) from PyTorch's starting
    /// noise: every step's x_t and predicted x0, and the images it ends with.
    async fn runs_match_pytorch_on(gpu: &Gpu, checkpoints: &[Checkpoint], n: usize) {
        let fixed = 4 * PIXELS;
        for c in checkpoints {
            let f = SafeTensors::parse(c.fixture).unwrap();
            let mut unet = UNet::load(gpu, c.card, c.weights).unwrap();
            let options = SampleOptions {
                labels: ids(&f, "run_labels", 4)[..n].to_vec(),
                steps: 10,
                guidance: 1.5,
                sampler: Sampler::Ddim,
                seed: 0,
            };
            let noise = f.f32("noise", &images(4)).unwrap();
            let mut run = SamplingRun::from_noise(gpu, options, &noise[..n * PIXELS]).unwrap();
            let want_t = ids(&f, "run_t", 10);
            assert_eq!(run.timesteps(), want_t.iter().map(|&t| t as usize).collect::<Vec<_>>());
            let want_x = f.f32("run_x", &[10, 4, 1, IMAGE, IMAGE]).unwrap();
            let want_x0 = f.f32("run_x0", &[10, 4, 1, IMAGE, IMAGE]).unwrap();
            let ours = n * PIXELS;
            let want = |all: &[f32], i: usize| all[i * fixed..i * fixed + ours].to_vec();
            for (i, &t) in want_t.iter().enumerate().take(10) {
                let step = run.step(gpu, &mut unet).unwrap().unwrap();
                assert_eq!(step.t, t as usize);
                let x = step.x.read_range(gpu, 0..ours).await.unwrap();
                let x0 = step.x0.read(gpu).await.unwrap();
                // The run's errors compound over its steps; the largest seen is below 1e-5.
                assert_close(&format!("x_t at step {i}"), &x, &want(&want_x, i), 1e-4, 1e-4);
                assert_close(&format!("x0 at step {i}"), &x0, &want(&want_x0, i), 1e-4, 1e-4);
            }
            assert!(run.step(gpu, &mut unet).unwrap().is_none() && run.is_done());
            let last = run.images().read_range(gpu, 0..ours).await.unwrap();
            let final_images = f.f32("run_final", &images(4)).unwrap();
            assert_close("final images", &last, &final_images[..ours], 1e-4, 1e-4);
        }
    }

    gpu_tests! {
        async fn every_run_matches_pytorch() {
            runs_match_pytorch_on(gpu().await, &CHECKPOINTS, 4).await;
        }

        async fn a_run_matches_pytorch_on_the_reference_device() {
            // One checkpoint and two images: the rest runs the same code, and plain-Rust
            // convolutions take a minute for the whole fixture in a browser.
            runs_match_pytorch_on(&Gpu::reference(), &CHECKPOINTS[1..], 2).await;
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
            let mut run = SamplingRun::new(gpu, options).unwrap();
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
                let mut run = SamplingRun::new(gpu, options).unwrap();
                while run.step(gpu, unet).unwrap().is_some() {}
                run
            };
            let images = |run: SamplingRun| async move {
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
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
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
                invalid(SamplingRun::new(gpu, bad).map(drop));
            }
            let image = vec![0.5; IMAGE * IMAGE];
            invalid(SamplingRun::from_images(gpu, good.clone(), &image, 1000).map(drop));
            invalid(SamplingRun::from_images(gpu, good.clone(), &image[1..], 10).map(drop));
            invalid(SamplingRun::from_images(gpu, good.clone(), &vec![1.5; IMAGE * IMAGE], 10).map(drop));
            // From step 3, at most 4 steps.
            invalid(SamplingRun::from_images(gpu, good.clone(), &image, 3).map(drop));
            invalid(SamplingRun::from_noise(gpu, good.clone(), &image[1..]).map(drop));
            SamplingRun::from_images(gpu, SampleOptions { steps: 4, ..good }, &image, 3).unwrap();
            gpu.check().unwrap();
        }
    }
}
