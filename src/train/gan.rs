//! The GAN's training step, as `training/train_gan.py` takes it: the discriminator learns to
//! tell a real batch from a generated one, then the generator learns to fool it (the
//! non-saturating loss), each network with its own Adam.

use super::adam::{Adam, AdamSettings};
use crate::models::gan::{check_labels, Discriminator, Generator, IMAGE};
use crate::models::scratch::Scratch;
use crate::ops::loss::{bce_with_logits, Reduction};
use crate::ops::Gradient;
use crate::{Error, Gpu, Result, Tensor};

/// `train_gan.py`'s Adam settings: lr 2e-4, betas (0.5, 0.999), for both networks.
pub const DCGAN_ADAM: AdamSettings = AdamSettings { lr: 2e-4, betas: (0.5, 0.999), eps: 1e-8 };

/// One step's losses and the discriminator's mean probabilities, read back from the GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GanLosses {
    /// The discriminator's loss on the real batch (target 1) and on the generated one (target 0):
    /// PyTorch's `d_loss` is their sum.
    pub d_real: f32,
    pub d_fake: f32,
    /// The generator's non-saturating loss, -log D(G(z)).
    pub g: f32,
    /// D(x) on the real batch and D(G(z)) on the generated one, before the discriminator's step.
    pub d_of_real: f32,
    pub d_of_fake: f32,
}

/// A generator and a discriminator in training mode, with their optimizers.
pub struct GanTraining {
    pub generator: Generator,
    pub discriminator: Discriminator,
    opt_g: Adam,
    opt_d: Adam,
    batches: Scratch<Batch>,
    /// The batch size of the last complete step.
    last_batch: Option<usize>,
    /// The last discriminator step's generated images and their classes, which the generator's
    /// step learns from.
    fake_batch: Option<(Tensor, Vec<u32>)>,
}

/// What a step of one batch size keeps on the GPU: the targets, the logits' gradient and the
/// three losses (each `[loss, mean probability]`).
struct Batch {
    real_target: Tensor,
    fake_target: Tensor,
    d_logits: Tensor,
    losses: [Tensor; 3],
}

impl Batch {
    fn new(gpu: &Gpu, n: usize) -> Result<Batch> {
        let loss = || Tensor::zeros(gpu, &[2]);
        Ok(Batch {
            real_target: Tensor::full(gpu, &[n, 1], 1.0)?,
            fake_target: Tensor::zeros(gpu, &[n, 1])?,
            d_logits: Tensor::zeros(gpu, &[n, 1])?,
            losses: [loss()?, loss()?, loss()?],
        })
    }
}

impl GanTraining {
    /// Puts both networks in training mode (`.train()`), with an Adam for each.
    pub fn new(
        gpu: &Gpu,
        mut generator: Generator,
        mut discriminator: Discriminator,
        g_settings: AdamSettings,
        d_settings: AdamSettings,
    ) -> Result<GanTraining> {
        generator.set_training(gpu, true)?;
        discriminator.set_training(gpu, true)?;
        let opt_g =
            Adam::for_params(gpu, g_settings, generator.parameters().into_iter().map(|(_, p)| p))?;
        let opt_d = Adam::for_params(
            gpu,
            d_settings,
            discriminator.parameters().into_iter().map(|(_, p)| p),
        )?;
        let batches = Scratch::new();
        Ok(GanTraining {
            generator,
            discriminator,
            opt_g,
            opt_d,
            batches,
            last_batch: None,
            fake_batch: None,
        })
    }

    /// One step on a batch of real images `[n, 1, 28, 28]` in [-1, 1] with their classes, and
    /// the generator's noise (`n` rows of `latent`) and classes for the fake batch: the
    /// discriminator's step, then the generator's on the same fake batch. Nothing is read back:
    /// `losses` reads this step's.
    pub fn step(
        &mut self,
        gpu: &Gpu,
        real: &Tensor,
        real_labels: &[u32],
        z: &[f32],
        fake_labels: &[u32],
    ) -> Result<()> {
        self.discriminator_step(gpu, real, real_labels, z, fake_labels)?;
        self.generator_step(gpu)
    }

    /// The discriminator's half of `step`. Taken more than once before a `generator_step`, it
    /// trains the discriminator harder (the generator then learns from the last fake batch).
    pub fn discriminator_step(
        &mut self,
        gpu: &Gpu,
        real: &Tensor,
        real_labels: &[u32],
        z: &[f32],
        fake_labels: &[u32],
    ) -> Result<()> {
        // Everything checked before anything runs, so a bad batch leaves no half-taken step.
        let n = real_labels.len();
        check_labels(real_labels)?;
        check_labels(fake_labels)?;
        let latent = self.generator.latent();
        if real.shape() != [n, 1, IMAGE, IMAGE] || fake_labels.len() != n || z.len() != n * latent {
            return Err(Error::Invalid(format!(
                "a batch of {n} is real images [{n}, 1, 28, 28], {n} generated classes and {n} x \
                 {latent} noise; got {:?}, {} and {}",
                real.shape(),
                fake_labels.len(),
                z.len()
            )));
        }
        (self.last_batch, self.fake_batch) = (None, None);
        let b = self.batches.get(n, || Batch::new(gpu, n))?;
        let [real_loss, fake_loss, _] = &b.losses;
        let fake = self.generator.forward(gpu, z, fake_labels)?.view(&[n, 1, IMAGE, IMAGE])?;

        // d_loss = bce(D(real), 1) + bce(D(fake.detach()), 0); d_loss.backward(); opt_d.step()
        let logits = self.discriminator.forward(gpu, real, real_labels)?;
        bce_with_logits(gpu, logits, &b.real_target, Reduction::Mean, &b.d_logits, real_loss)?;
        self.discriminator.backward(gpu, &b.d_logits, Some(Gradient::Write), false)?;
        let logits = self.discriminator.forward(gpu, &fake, fake_labels)?;
        bce_with_logits(gpu, logits, &b.fake_target, Reduction::Mean, &b.d_logits, fake_loss)?;
        self.discriminator.backward(gpu, &b.d_logits, Some(Gradient::Add), false)?;
        self.opt_d.step_params(gpu, self.discriminator.parameters().into_iter().map(|(_, p)| p))?;
        self.fake_batch = Some((fake, fake_labels.to_vec()));
        Ok(())
    }

    /// The generator's half of `step`, on the fake batch of the last `discriminator_step`.
    pub fn generator_step(&mut self, gpu: &Gpu) -> Result<()> {
        let (fake, fake_labels) = self.fake_batch.take().ok_or_else(|| {
            Error::Invalid("the generator's step needs a discriminator step first".into())
        })?;
        let n = fake_labels.len();
        let b = self.batches.made(n)?;
        // g_loss = bce(D(fake), 1); g_loss.backward(); opt_g.step(). The discriminator's own
        // gradients are not needed here (its next step writes them anew), only the images'.
        let logits = self.discriminator.forward(gpu, &fake, &fake_labels)?;
        bce_with_logits(gpu, logits, &b.real_target, Reduction::Mean, &b.d_logits, &b.losses[2])?;
        let d_fake = self.discriminator.backward(gpu, &b.d_logits, None, true)?;
        let d_fake = d_fake.ok_or_else(|| Error::Invalid("no image gradient".into()))?;
        self.generator.backward(gpu, d_fake)?;
        self.opt_g.step_params(gpu, self.generator.parameters().into_iter().map(|(_, p)| p))?;
        self.last_batch = Some(n);
        Ok(())
    }

    /// Sets both optimizers' settings for the steps to come.
    pub fn set_settings(&mut self, g: AdamSettings, d: AdamSettings) -> Result<()> {
        g.check()?;
        d.check()?;
        self.opt_g.set_settings(g)?;
        self.opt_d.set_settings(d)
    }

    /// Copies the last step's six numbers (`[loss, mean probability]` of the real batch, the
    /// fake batch and the generator's pass) into `out` from element `offset`, on the GPU: to
    /// read many steps' losses at once.
    pub fn copy_losses(&mut self, gpu: &Gpu, out: &Tensor, offset: usize) -> Result<()> {
        let n = self.last_batch.ok_or_else(|| Error::Invalid("no step taken yet".into()))?;
        for (i, loss) in self.batches.made(n)?.losses.iter().enumerate() {
            out.copy_range(gpu, loss, 0..2, offset + 2 * i)?;
        }
        Ok(())
    }

    /// The last step's losses.
    pub async fn losses(&mut self, gpu: &Gpu) -> Result<GanLosses> {
        let n = self.last_batch.ok_or_else(|| Error::Invalid("no step taken yet".into()))?;
        let [real, fake, g] = &self.batches.made(n)?.losses;
        let (real, fake, g) = (real.read(gpu).await?, fake.read(gpu).await?, g.read(gpu).await?);
        Ok(GanLosses {
            d_real: real[0],
            d_fake: fake[0],
            g: g[0],
            d_of_real: real[1],
            d_of_fake: fake[1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::safetensors::SafeTensors;
    use crate::testing::*;

    const GENERATOR: (&str, &[u8]) = (
        include_str!("../../www/models/gan_generator_mnist.json"),
        include_bytes!("../../www/models/gan_generator_mnist.safetensors"),
    );
    const DISCRIMINATOR: (&str, &[u8]) = (
        include_str!("../../www/models/gan_discriminator_mnist.json"),
        include_bytes!("../../www/models/gan_discriminator_mnist.safetensors"),
    );
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/gan_training_mnist.safetensors");
    const N: usize = 8;
    const LATENT: usize = 64;

    fn training(gpu: &Gpu) -> GanTraining {
        let g = Generator::load(gpu, GENERATOR.0, GENERATOR.1).unwrap();
        let d = Discriminator::load(gpu, DISCRIMINATOR.0, DISCRIMINATOR.1).unwrap();
        GanTraining::new(gpu, g, d, DCGAN_ADAM, DCGAN_ADAM).unwrap()
    }

    fn labels(f: &SafeTensors, name: &str, shape: &[usize]) -> Vec<u32> {
        f.i64(name, shape).unwrap().iter().map(|&c| c as u32).collect()
    }

    /// Fails unless every element of `got` is within `share` of the largest magnitude of `want`.
    fn assert_within_share(what: &str, got: &[f32], want: &[f32], share: f32) {
        let largest = want.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        assert_close(what, got, want, share * largest, 0.0);
    }

    /// How far apart the two runs' changes to a tensor may end, as a share of PyTorch's change.
    /// The runs do not stay together to rounding: a pre-activation within rounding of zero takes
    /// the other slope of a (leaky) ReLU in one of them, and batch norm spreads that difference
    /// over its whole channel. In the fixture's run one does, at step 5 in the discriminator's
    /// channel 77 (the generator's gradients then differ by 5%), and the changes end at most 9%
    /// apart (the generator's first weight). A wrong step (Adam without its bias correction, a
    /// LeakyReLU slope halved in the backward pass) fails already at the first step's checks.
    const UPDATE_SHARE: f64 = 0.25;

    /// `steps` steps of train_gan.py's loop from the committed MNIST weights, against PyTorch's
    /// (float32 on the CPU): every parameter's gradient in the first step, each step's losses,
    /// and after the fixture's 20 steps how every parameter and running statistic moved.
    async fn matches_pytorch(gpu: &Gpu, steps: usize) {
        let f = SafeTensors::parse(FIXTURE).unwrap();
        let mut t = training(gpu);
        let real = f.f32("real", &[N, 1, IMAGE, IMAGE]).unwrap();
        let real = Tensor::from_slice(gpu, &[N, 1, IMAGE, IMAGE], &real).unwrap();
        let real_labels = labels(&f, "real_labels", &[N]);
        let z = f.f32("z", &[20, N, LATENT]).unwrap();
        let fake_labels = labels(&f, "fake_labels", &[20, N]);
        let want_losses = f.f32("losses", &[20, 3]).unwrap();
        for step in 0..steps {
            let z = &z[step * N * LATENT..(step + 1) * N * LATENT];
            t.step(gpu, &real, &real_labels, z, &fake_labels[step * N..(step + 1) * N]).unwrap();
            let l = t.losses(gpu).await.unwrap();
            // The first step's losses to rounding; later ones as far as the runs drift apart
            // (see UPDATE_SHARE): at most 4.8e-3 in the fixture's run, from step 7 on.
            let want = &want_losses[step * 3..step * 3 + 3];
            let atol = if step == 0 { 1e-5 } else { 1e-2 };
            assert_close(
                &format!("step {step} losses"),
                &[l.d_real, l.d_fake, l.g],
                want,
                atol,
                0.0,
            );
            if step > 0 {
                continue;
            }
            // Every gradient within 1e-4 of its tensor's largest.
            for (net, params) in [
                ("generator", t.generator.parameters()),
                ("discriminator", t.discriminator.parameters()),
            ] {
                for (name, p) in params {
                    let key = format!("grad.{net}.{name}");
                    let want = f.f32(&key, p.value.shape()).unwrap();
                    let got = p.grad().unwrap().read(gpu).await.unwrap();
                    assert_within_share(&key, &got, &want, 1e-4);
                }
            }
        }
        if steps < 20 {
            return;
        }
        // What moved: each tensor's change over the 20 steps against PyTorch's change.
        let start = training(gpu);
        let nets = [
            (
                "generator",
                t.generator.parameters(),
                t.generator.running_statistics().to_vec(),
                start.generator.parameters(),
                start.generator.running_statistics().to_vec(),
            ),
            (
                "discriminator",
                t.discriminator.parameters(),
                t.discriminator.running_statistics().to_vec(),
                start.discriminator.parameters(),
                start.discriminator.running_statistics().to_vec(),
            ),
        ];
        for (net, params, stats, start_params, start_stats) in nets {
            let now = params.iter().map(|(n, p)| (*n, &p.value)).chain(stats);
            let then = start_params
                .iter()
                .map(|(_, p)| &p.value)
                .chain(start_stats.iter().map(|(_, t)| *t));
            for ((name, value), start) in now.zip(then) {
                let key = format!("final.{net}.{name}");
                let want = f.f32(&key, value.shape()).unwrap();
                let (got, start) = (value.read(gpu).await.unwrap(), start.read(gpu).await.unwrap());
                let moved = |v: &[f32]| {
                    v.iter().zip(&start).map(|(a, b)| (a - b) as f64).collect::<Vec<_>>()
                };
                let (ours, theirs) = (moved(&got), moved(&want));
                let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
                let apart: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a - b).collect();
                let share = norm(&apart) / norm(&theirs);
                println!("{key}: moved {:.2e}, apart {share:.2e} of that", norm(&theirs));
                assert!(
                    share < UPDATE_SHARE,
                    "{key}: our change is {share:.3} of PyTorch's away from it"
                );
            }
        }
    }

    gpu_tests! {
        async fn twenty_gan_steps_match_pytorch() {
            matches_pytorch(gpu().await, 20).await;
        }

        async fn the_reference_device_matches_pytorch() {
            // One step: the gradients and the losses. On the reference device a step runs with
            // no pause for the browser, and two held the page past the test driver's timeout.
            matches_pytorch(&Gpu::reference(), 1).await;
        }

        async fn a_second_step_makes_nothing() {
            // A device of its own, so that only this test's work is counted.
            let gpu = &Gpu::new().await.unwrap();
            let mut t = training(gpu);
            let mut rng = Rng::new(8);
            let (real, _) = random(gpu, &mut rng, &[5, 1, IMAGE, IMAGE]);
            let classes: Vec<u32> = (0..5).map(|i| (i * 3) % 10).collect();
            for step in 0..3 {
                let before = gpu.stats();
                t.step(gpu, &real, &classes, &rng.vec(5 * LATENT), &classes).unwrap();
                let losses = t.losses(gpu).await.unwrap();
                assert!(losses.d_real.is_finite() && losses.g.is_finite(), "{losses:?}");
                if step == 2 {
                    let spent = gpu.stats() - before;
                    assert_made_nothing("a GAN training step", spent);
                    // One submission per loss read, the first carrying the step.
                    assert_eq!((spent.submissions, spent.read_backs), (3, 3), "{spent:?}");
                }
            }
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let mut t = training(gpu);
            let invalid = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            let real = Tensor::zeros(gpu, &[2, 1, IMAGE, IMAGE]).unwrap();
            invalid(t.step(gpu, &real, &[1, 2], &[0.0; 2 * LATENT], &[1]));
            invalid(t.step(gpu, &real, &[1, 2, 3], &[0.0; 3 * LATENT], &[1, 2, 3]));
            invalid(t.step(gpu, &real, &[1, 2], &[0.0; LATENT], &[1, 2]));
            invalid(t.step(gpu, &real, &[1, 12], &[0.0; 2 * LATENT], &[1, 2]));
            let bad = AdamSettings { lr: -1.0, ..DCGAN_ADAM };
            let (g, d) = (Generator::load(gpu, GENERATOR.0, GENERATOR.1).unwrap(), Discriminator::load(gpu, DISCRIMINATOR.0, DISCRIMINATOR.1).unwrap());
            invalid(GanTraining::new(gpu, g, d, DCGAN_ADAM, bad).map(drop));
            // A backward pass needs training mode and a forward pass first.
            let mut g = Generator::load(gpu, GENERATOR.0, GENERATOR.1).unwrap();
            invalid(g.backward(gpu, &real));
            g.forward(gpu, &[0.0; 2 * LATENT], &[1, 2]).unwrap();
            invalid(g.backward(gpu, &real));
            gpu.check().unwrap();
        }
    }
}
