//! The trained models as the page runs them, each output checked against PyTorch's fixture
//! (repeated to fill a batch) or, past what the fixture holds, against another path through
//! our kernels that is itself checked against it.

use super::{check, now_ms, Bench, Case, Files, Record};
use crate::formats::SafeTensors;
use crate::models::diffusion::{SampleOptions, Sampler, SamplingRun, UNet};
use crate::models::gan::{Discriminator, Generator};
use crate::models::gpt::Gpt;
use crate::models::image_gpt::{ImageGpt, CODES_PER_IMAGE};
use crate::models::vae::Vae;
use crate::models::{LanguageModel, Watch};
use crate::text::generation::Generation;
use crate::text::sampling::Sampling;
use crate::train::gan::{GanTraining, DCGAN_ADAM};
use crate::train::vae::{VaeTraining, VAE_ADAM};
use crate::{Error, Result, Tensor};

/// PyTorch's fixtures against our float32 forward passes (within 2e-5 when last measured).
const TOLERANCE: f64 = 1e-4;

/// `n` rows cycled from `rows`, each `width` long.
fn repeat<T: Copy>(rows: &[T], width: usize, n: usize) -> Vec<T> {
    rows.chunks(width).cycle().take(n).flatten().copied().collect()
}

fn ids(fixture: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<u32>> {
    Ok(fixture.i64(name, shape)?.iter().map(|&i| i as u32).collect())
}

/// The MNIST generator at batch 1 and 64 and the discriminator at 64.
pub(super) async fn gan(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    if !b.options.wants_group("gan.") {
        return Ok(());
    }
    let gpu = b.gpu;
    let file = |part: &str, ext: &str| format!("www/models/gan_{part}_mnist.{ext}");
    let card = files.text(&file("generator", "json"))?;
    let mut generator =
        Generator::load(gpu, &card, files.bytes(&file("generator", "safetensors"))?)?;
    let card = files.text(&file("discriminator", "json"))?;
    let weights = files.bytes(&file("discriminator", "safetensors"))?;
    let mut discriminator = Discriminator::load(gpu, &card, weights)?;
    let fixture = SafeTensors::parse(files.bytes("tests/fixtures/gan_mnist.safetensors")?)?;
    let latent = generator.latent();
    let (z, labels) = (fixture.f32("z", &[8, latent])?, ids(&fixture, "labels", &[8])?);
    let images = fixture.f32("images", &[8, 1, 28, 28])?;
    for n in [1, 64] {
        let name = format!("gan.generator/{n}");
        if !b.wants(&name) {
            continue;
        }
        let (z, labels) = (repeat(&z, latent, n), repeat(&labels, 1, n));
        let got = generator.forward(gpu, &z, &labels)?.read(gpu).await?;
        let checked = check(&name, &got, &repeat(&images, 784, n), TOLERANCE, 0.0)?;
        let generator = &mut generator;
        b.time(Case {
            name,
            what: format!("batch {n}: z of {latent} and a class to 28x28"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || generator.forward(gpu, &z, &labels).map(drop)),
        })
        .await?;
    }
    let name = "gan.discriminator/64".to_string();
    if b.wants(&name) {
        let input = Tensor::from_slice(gpu, &[64, 1, 28, 28], &repeat(&images, 784, 64))?;
        let labels = repeat(&labels, 1, 64);
        let got = discriminator.forward(gpu, &input, &labels)?.read(gpu).await?;
        let want = repeat(&fixture.f32("d_logits_fake", &[8])?, 1, 64);
        let checked = check(&name, &got, &want, TOLERANCE, 0.0)?;
        b.time(Case {
            name,
            what: "batch 64: 28x28 and a class to a logit".into(),
            work: 64.0,
            unit: "images/s",
            checked,
            run: Box::new(|| discriminator.forward(gpu, &input, &labels).map(drop)),
        })
        .await?;
    }
    Ok(())
}

/// The MNIST VAE (16-d latent) at batch 64: encoder and decoder.
pub(super) async fn vae(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    if !b.options.wants_group("vae.") {
        return Ok(());
    }
    let gpu = b.gpu;
    let card = files.text("www/models/vae_mnist.json")?;
    let mut vae = Vae::load(gpu, &card, files.bytes("www/models/vae_mnist.safetensors")?)?;
    let fixture = SafeTensors::parse(files.bytes("tests/fixtures/vae_mnist.safetensors")?)?;
    let latent = vae.latent();
    let n = 64;
    let name = format!("vae.encoder/{n}");
    if b.wants(&name) {
        let images = repeat(&fixture.f32("images", &[8, 1, 28, 28])?, 784, n);
        let (mean, logvar) = vae.encode(gpu, &images)?;
        let mean = mean.read(gpu).await?;
        let logvar = logvar.read(gpu).await?;
        let got: Vec<f32> = mean.into_iter().chain(logvar).collect();
        let mut want = repeat(&fixture.f32("mean", &[8, latent])?, latent, n);
        want.extend(repeat(&fixture.f32("logvar", &[8, latent])?, latent, n));
        let checked = check(&name, &got, &want, TOLERANCE, 0.0)?;
        let vae = &mut vae;
        b.time(Case {
            name,
            what: format!("batch {n}: 28x28 to a mean and log-variance of {latent}"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || vae.encode(gpu, &images).map(drop)),
        })
        .await?;
    }
    let name = format!("vae.decoder/{n}");
    if b.wants(&name) {
        let z = repeat(&fixture.f32("z_prior", &[8, latent])?, latent, n);
        let got = vae.decode(gpu, &z)?.read(gpu).await?;
        let want = repeat(&fixture.f32("prior_samples", &[8, 1, 28, 28])?, 784, n);
        let checked = check(&name, &got, &want, TOLERANCE, 0.0)?;
        b.time(Case {
            name,
            what: format!("batch {n}: z of {latent} to 28x28"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(|| vae.decode(gpu, &z).map(drop)),
        })
        .await?;
    }
    Ok(())
}

/// One training step of the MNIST GAN (the discriminator on a real and a fake batch, then the
/// generator) and of the 2-D MNIST VAE, at batch 64 from the committed weights. The batch is
/// the fixture's 8 images (and noise) eight times over, which leaves batch statistics, mean
/// losses and so gradients as they are: the first step's losses are checked against PyTorch's.
pub(super) async fn training(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    if !b.options.wants_group("train.") {
        return Ok(());
    }
    let gpu = b.gpu;
    let n = 64;
    let name = format!("train.gan/{n}");
    if b.wants(&name) {
        let file = |part: &str, ext: &str| format!("www/models/gan_{part}_mnist.{ext}");
        let card = files.text(&file("generator", "json"))?;
        let generator =
            Generator::load(gpu, &card, files.bytes(&file("generator", "safetensors"))?)?;
        let card = files.text(&file("discriminator", "json"))?;
        let weights = files.bytes(&file("discriminator", "safetensors"))?;
        let discriminator = Discriminator::load(gpu, &card, weights)?;
        let latent = generator.latent();
        let mut t = GanTraining::new(gpu, generator, discriminator, DCGAN_ADAM, DCGAN_ADAM)?;
        let f = SafeTensors::parse(files.bytes("tests/fixtures/gan_training_mnist.safetensors")?)?;
        let real = repeat(&f.f32("real", &[8, 1, 28, 28])?, 784, n);
        let real = Tensor::from_slice(gpu, &[n, 1, 28, 28], &real)?;
        let real_labels = repeat(&ids(&f, "real_labels", &[8])?, 1, n);
        let z = repeat(&f.f32("z", &[20, 8, latent])?[..8 * latent], latent, n);
        let fake_labels = repeat(&ids(&f, "fake_labels", &[20, 8])?[..8], 1, n);
        t.step(gpu, &real, &real_labels, &z, &fake_labels)?;
        let l = t.losses(gpu).await?;
        let want = &f.f32("losses", &[20, 3])?[..3];
        let checked = check(&name, &[l.d_real, l.d_fake, l.g], want, TOLERANCE, 0.0)?;
        b.time(Case {
            name,
            what: format!("batch {n}: discriminator on real and fake, then generator, Adam"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || t.step(gpu, &real, &real_labels, &z, &fake_labels)),
        })
        .await?;
    }
    let name = format!("train.vae/{n}");
    if b.wants(&name) {
        let card = files.text("www/models/vae2d_mnist.json")?;
        let vae = Vae::load(gpu, &card, files.bytes("www/models/vae2d_mnist.safetensors")?)?;
        let latent = vae.latent();
        let mut t = VaeTraining::new(gpu, vae, VAE_ADAM, 1.0)?;
        let f =
            SafeTensors::parse(files.bytes("tests/fixtures/vae2d_mnist_training.safetensors")?)?;
        let x = Tensor::from_slice(
            gpu,
            &[n, 1, 28, 28],
            &repeat(&f.f32("x", &[8, 1, 28, 28])?, 784, n),
        )?;
        let eps = repeat(&f.f32("eps", &[20, 8, latent])?[..8 * latent], latent, n);
        t.step(gpu, &x, &eps)?;
        let l = t.losses(gpu).await?;
        // Terms of order 100 nats per image.
        let checked =
            check(&name, &[l.reconstruction, l.kl], &f.f32("losses", &[20, 2])?[..2], 1e-3, 1e-5)?;
        b.time(Case {
            name,
            what: format!("batch {n}: encode, sample, decode, backward, Adam"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || t.step(gpu, &x, &eps)),
        })
        .await?;
    }
    Ok(())
}

/// The MNIST diffusion U-Net at batch 16 and 64 (checked against PyTorch's v), and a guided
/// 20-step DDIM run of 16 images as the page samples them (its 10-step run from PyTorch's
/// starting noise checked against PyTorch's images first).
pub(super) async fn diffusion(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    if !b.options.wants_group("diffusion.") {
        return Ok(());
    }
    let gpu = b.gpu;
    let card = files.text("www/models/diffusion_mnist.json")?;
    let mut unet = UNet::load(gpu, &card, files.bytes("www/models/diffusion_mnist.safetensors")?)?;
    let fixture = SafeTensors::parse(files.bytes("tests/fixtures/diffusion_mnist.safetensors")?)?;
    let pixels = 28 * 28;
    let x = fixture.f32("x", &[8, 1, 28, 28])?;
    let (steps, labels) = (ids(&fixture, "t", &[8])?, ids(&fixture, "labels", &[8])?);
    let v = fixture.f32("v", &[8, 1, 28, 28])?;
    for n in [16, 64] {
        let name = format!("diffusion.unet/{n}");
        if !b.wants(&name) {
            continue;
        }
        let input = Tensor::from_slice(gpu, &[n, 1, 28, 28], &repeat(&x, pixels, n))?;
        let (steps, labels) = (repeat(&steps, 1, n), repeat(&labels, 1, n));
        let got = unet.forward(gpu, &input, &steps, &labels)?.read(gpu).await?;
        let checked = check(&name, &got, &repeat(&v, pixels, n), TOLERANCE, 0.0)?;
        let unet = &mut unet;
        b.time(Case {
            name,
            what: format!("batch {n}: a noisy 28x28, its step and class to v"),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || unet.forward(gpu, &input, &steps, &labels).map(drop)),
        })
        .await?;
    }
    let name = "diffusion.sample/16x20".to_string();
    if b.wants(&name) {
        let n = 16;
        let noise = repeat(&fixture.f32("noise", &[4, 1, 28, 28])?, pixels, n);
        let labels = repeat(&ids(&fixture, "run_labels", &[4])?, 1, n);
        let options = |steps| SampleOptions {
            labels: labels.clone(),
            steps,
            guidance: 1.5,
            sampler: Sampler::Ddim,
            seed: 0,
        };
        let mut checked_run = SamplingRun::from_noise(gpu, options(10), &noise)?;
        while checked_run.step(gpu, &mut unet)?.is_some() {}
        let got = checked_run.images().read_range(gpu, 0..n * pixels).await?;
        let want = repeat(&fixture.f32("run_final", &[4, 1, 28, 28])?, pixels, n);
        let checked = check(&name, &got, &want, TOLERANCE, 0.0)?;
        let unet = &mut unet;
        b.time(Case {
            name,
            what: format!("{n} images, 20 DDIM steps, guidance 1.5 (batch {} per step)", 2 * n),
            work: n as f64,
            unit: "images/s",
            checked,
            run: Box::new(move || {
                let mut run = SamplingRun::from_noise(gpu, options(20), &noise)?;
                while run.step(gpu, unet)?.is_some() {}
                Ok(())
            }),
        })
        .await?;
    }
    Ok(())
}

/// The character GPT: prefill of 64 and 256 tokens (checked against PyTorch's logits for the
/// 97 positions the fixture holds), single decode steps (checked against the 256-token
/// prefill's rows), and greedy generation as the page runs it (each token read back).
pub(super) async fn gpt(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    if !b.options.wants_group("gpt.") {
        return Ok(());
    }
    let gpu = b.gpu;
    let card = files.text("www/models/gpt_shakespeare.json")?;
    let mut gpt = Gpt::load(gpu, &card, files.bytes("www/models/gpt_shakespeare.safetensors")?)?;
    let fixture = SafeTensors::parse(files.bytes("tests/fixtures/gpt_shakespeare.safetensors")?)?;
    let (vocab, context) = (gpt.vocab_size(), gpt.context());
    let fixed = ids(&fixture, "ids", &[1, 97])?;
    let want = fixture.f32("logits", &[1, 97, vocab])?;
    let prompt = repeat(&fixed, 1, context);
    // Every position's logits for the whole context: the reference for the decode steps.
    let full = gpt.forward(gpu, &prompt, 0, Watch::NOTHING)?.logits.read(gpu).await?;
    let full_check = check("gpt.prefill", &full[..97 * vocab], &want, TOLERANCE, 0.0)?;
    for t in [64, context] {
        let name = format!("gpt.prefill/{t}");
        if !b.wants(&name) {
            continue;
        }
        let got = gpt.forward(gpu, &prompt[..t], 0, Watch::NOTHING)?.logits.read(gpu).await?;
        let rows = t.min(97) * vocab;
        let checked = check(&name, &got[..rows], &want[..rows], TOLERANCE, 0.0)?;
        let (gpt, prompt) = (&mut gpt, &prompt);
        b.time(Case {
            name,
            what: format!("{t} tokens in one pass"),
            work: t as f64,
            unit: "tokens/s",
            checked,
            run: Box::new(move || gpt.forward(gpu, &prompt[..t], 0, Watch::NOTHING).map(drop)),
        })
        .await?;
    }
    // The caches hold the whole prompt: a step at `p` rewrites row `p` with the same values.
    for p in [0, context / 2, context - 1] {
        let name = format!("gpt.decode/{p}");
        if !b.wants(&name) {
            continue;
        }
        let got = gpt.forward(gpu, &prompt[p..p + 1], p, Watch::NOTHING)?.logits.read(gpu).await?;
        let checked = check(&name, &got, &full[p * vocab..(p + 1) * vocab], TOLERANCE, 0.0)?;
        let (gpt, prompt) = (&mut gpt, &prompt);
        b.time(Case {
            name,
            what: format!("1 token at position {p} over the KV caches"),
            work: 1.0,
            unit: "tokens/s",
            checked: (checked.0.max(full_check.0), checked.1),
            run: Box::new(move || gpt.forward(gpu, &prompt[p..p + 1], p, Watch::NOTHING).map(drop)),
        })
        .await?;
    }
    let name = "gpt.generate/64+192".to_string();
    if b.wants(&name) {
        generate(b, &mut gpt, &prompt[..64], name).await?;
    }
    Ok(())
}

/// Greedy generation from `prompt` to a full context, timed by the wall clock after the
/// prompt's pass; each token must be a largest logit of a prefill over the finished text.
async fn generate(b: &mut Bench<'_>, gpt: &mut Gpt, prompt: &[u32], name: String) -> Result<()> {
    let gpu = b.gpu;
    let (vocab, steps) = (gpt.vocab_size(), gpt.context() - prompt.len());
    let greedy = Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 };
    let mut generation = Generation::new(gpt, prompt, greedy, 0, steps + 1)?;
    let mut text = prompt.to_vec();
    text.push(generation.step(gpu, gpt, Watch::NOTHING).await?.id);
    let (start, counted) = (now_ms(), gpu.stats());
    for _ in 0..steps {
        text.push(generation.step(gpu, gpt, Watch::NOTHING).await?.id);
    }
    let wall_ms = (now_ms() - start) / steps as f64;
    let stats = gpu.stats() - counted;
    let logits =
        gpt.forward(gpu, &text[..text.len() - 1], 0, Watch::NOTHING)?.logits.read(gpu).await?;
    let mut worst = 0.0f64;
    for (i, &id) in text.iter().enumerate().skip(prompt.len()) {
        let row = &logits[(i - 1) * vocab..i * vocab];
        let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let gap = f64::from(top - row[id as usize]);
        if gap.is_nan() || gap > TOLERANCE {
            return Err(Error::Gpu(format!("{name}: token {i} is {gap} below the largest logit")));
        }
        worst = worst.max(gap);
    }
    b.push(Record {
        name,
        what: format!("{} greedy tokens after {}, each read back", steps, prompt.len()),
        runs: steps,
        gpu_ms: None,
        wall_ms,
        work: 1.0,
        unit: "tokens/s",
        max_error: worst,
        tolerance: TOLERANCE,
        stats,
    });
    Ok(())
}

/// The MNIST image GPT writing 16 images as the page does: one at a time, each code drawn
/// (greedily, for the check) and read back, and the picture so far decoded and read back after
/// it. Every code must be a largest logit of a one-pass forward over its finished image.
pub(super) async fn image_gpt(b: &mut Bench<'_>, files: &Files) -> Result<()> {
    let name = "imagegpt.generate/16".to_string();
    if !b.wants(&name) {
        return Ok(());
    }
    let gpu = b.gpu;
    let (gpt_card, gpt_weights) = (
        files.text("www/models/imagegpt_mnist.json")?,
        files.bytes("www/models/imagegpt_mnist.safetensors")?,
    );
    let vq = (
        files.text("www/models/vqvae_mnist.json")?,
        files.bytes("www/models/vqvae_mnist.safetensors")?,
    );
    let mut model = ImageGpt::load(gpu, (&gpt_card, gpt_weights), (&vq.0, vq.1))?;
    let greedy = Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 };
    let (n, classes) = (16, model.classes().len());
    write_image(b, &mut model, 0, greedy).await?; // the warm-up: pipelines made outside the timing
    let (start, counted) = (now_ms(), gpu.stats());
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        images.push(write_image(b, &mut model, i % classes, greedy).await?);
    }
    let wall_ms = (now_ms() - start) / n as f64;
    let stats = gpu.stats() - counted;
    let mut reference = Gpt::load(gpu, &gpt_card, gpt_weights)?;
    let outputs = reference.vocab_size();
    let mut worst = 0.0f64;
    for (i, codes) in images.iter().enumerate() {
        let mut tokens = vec![(outputs + i % classes) as u32];
        tokens.extend_from_slice(&codes[..CODES_PER_IMAGE - 1]);
        let logits = reference.forward(gpu, &tokens, 0, Watch::NOTHING)?.logits.read(gpu).await?;
        for (row, &code) in logits.chunks(outputs).zip(codes) {
            let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let gap = f64::from(top - row[code as usize]);
            if gap.is_nan() || gap > TOLERANCE {
                return Err(Error::Gpu(format!(
                    "{name}: image {i}'s code is {gap} below the largest logit"
                )));
            }
            worst = worst.max(gap);
        }
    }
    b.push(Record {
        name,
        what: format!(
            "{n} images of {CODES_PER_IMAGE} greedy codes, each code and picture read back"
        ),
        runs: n,
        gpu_ms: None,
        wall_ms,
        work: 1.0,
        unit: "images/s",
        max_error: worst,
        tolerance: TOLERANCE,
        stats,
    });
    Ok(())
}

/// One image's codes of `class`, each step followed by the picture so far, as the page draws it.
async fn write_image(
    b: &Bench<'_>,
    model: &mut ImageGpt,
    class: usize,
    sampling: Sampling,
) -> Result<Vec<u32>> {
    let mut generation = model.start(class, sampling, 0)?;
    let mut codes = Vec::with_capacity(CODES_PER_IMAGE);
    for _ in 0..CODES_PER_IMAGE {
        codes.push(model.step(b.gpu, &mut generation).await?.id);
        model.draw(b.gpu, &codes).await?;
    }
    Ok(codes)
}
