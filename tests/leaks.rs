//! Generating and training again and again must not grow memory: each small model generates
//! 400 times (100 cycles of four sizes) and the GAN and the VAE train 40 steps each (10 cycles,
//! as SmolLM2's test does): a leak of a step shows from the second cycle on (see
//! `common::stays_flat`).
#![cfg(not(target_arch = "wasm32"))]

use genai_lab::models::gan::{Discriminator, Generator};
use genai_lab::models::gpt::Gpt;
use genai_lab::models::vae::{standard_normal, Vae};
use genai_lab::models::Watch;
use genai_lab::text::generation::Generation;
use genai_lab::text::sampling::Sampling;
use genai_lab::Gpu;

mod common;
use common::stays_flat;

const GENERATIONS: usize = 400;

fn model(name: &str) -> (String, Vec<u8>) {
    let read = |ext: &str| std::fs::read(format!("www/models/{name}.{ext}")).unwrap();
    (String::from_utf8(read("json")).unwrap(), read("safetensors"))
}

fn gpu() -> Gpu {
    pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe natively)")
}

#[test]
fn the_gan_does_not_leak() {
    let gpu = gpu();
    let (card, weights) = model("gan_generator_mnist");
    let mut generator = Generator::load(&gpu, &card, &weights).unwrap();
    let (card, weights) = model("gan_discriminator_mnist");
    let mut discriminator = Discriminator::load(&gpu, &card, &weights).unwrap();
    let mut seed = 0;
    stays_flat("GAN", &gpu, GENERATIONS, |n| {
        seed += 1;
        let z = standard_normal(seed, n * generator.latent());
        let labels: Vec<u32> = (0..n as u32).map(|i| (i + seed as u32) % 10).collect();
        let images = generator.forward(&gpu, &z, &labels).unwrap();
        let scores =
            pollster::block_on(discriminator.probabilities(&gpu, images, &labels)).unwrap();
        let pixels = pollster::block_on(images.read(&gpu)).unwrap();
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)), "{scores:?}");
        assert!(pixels.iter().any(|&p| p != pixels[0]), "a blank image");
    });
}

#[test]
fn the_vae_does_not_leak() {
    let gpu = gpu();
    let (card, weights) = model("vae_mnist");
    let mut vae = Vae::load(&gpu, &card, &weights).unwrap();
    let mut seed = 0;
    stays_flat("VAE", &gpu, GENERATIONS, |n| {
        seed += 1;
        let z = standard_normal(seed, n * vae.latent());
        let pixels = vae.decode(&gpu, &z).unwrap();
        let pixels = pollster::block_on(pixels.read(&gpu)).unwrap();
        let (mean, _) = vae.encode(&gpu, &pixels).unwrap();
        let mean = pollster::block_on(mean.read(&gpu)).unwrap();
        assert!(mean.iter().all(|m| m.is_finite()) && mean.iter().any(|&m| m != 0.0));
    });
}

#[test]
fn the_gpt_does_not_leak() {
    let gpu = gpu();
    let (card, weights) = model("gpt_shakespeare");
    let mut gpt = Gpt::load(&gpu, &card, &weights).unwrap();
    let sampling = Sampling { temperature: 0.8, top_k: 0, top_p: 0.95 };
    let mut seed = 0;
    stays_flat("GPT", &gpu, GENERATIONS, |size| {
        seed += 1;
        // Prompt lengths 5, 15, 10 and 20: a new set of pass buffers for each.
        let prompt: Vec<u32> = (0..size * 5).map(|i| ((i * 31 + seed) % 60) as u32 + 1).collect();
        let mut generation = Generation::new(&gpt, &prompt, sampling, seed as u64, 2).unwrap();
        for _ in 0..2 {
            let watch = Watch { attention: true, lens: true };
            let step = pollster::block_on(generation.step(&gpu, &mut gpt, watch)).unwrap();
            assert!(!step.attention.is_empty() && step.probabilities.iter().any(|&p| p > 0.0));
            assert!(!step.lens.is_empty() && !step.changes.is_empty());
        }
    });
}

/// Training steps, cycling batch sizes as the generations do: the activations' gradients are
/// made per batch size and kept or dropped with the buffers; Adam's moments and the parameters'
/// gradients once per model.
const TRAINING_STEPS: usize = 40;

#[test]
fn training_does_not_leak() {
    use genai_lab::train::gan::{GanTraining, DCGAN_ADAM};
    use genai_lab::train::vae::{VaeTraining, VAE_ADAM};
    use genai_lab::Tensor;
    let gpu = gpu();
    let images = |n: usize, seed: u64| {
        let pixels: Vec<f32> = standard_normal(seed, n * 784).iter().map(|v| v.tanh()).collect();
        Tensor::from_slice(&gpu, &[n, 1, 28, 28], &pixels).unwrap()
    };
    let (card, weights) = model("gan_generator_mnist");
    let generator = Generator::load(&gpu, &card, &weights).unwrap();
    let (card, weights) = model("gan_discriminator_mnist");
    let discriminator = Discriminator::load(&gpu, &card, &weights).unwrap();
    let latent = generator.latent();
    let mut gan = GanTraining::new(&gpu, generator, discriminator, DCGAN_ADAM, DCGAN_ADAM).unwrap();
    let mut seed = 0;
    stays_flat("GAN training", &gpu, TRAINING_STEPS, |n| {
        seed += 1;
        let labels: Vec<u32> = (0..n as u32).map(|i| (i + seed as u32) % 10).collect();
        let z = standard_normal(seed, n * latent);
        gan.step(&gpu, &images(n, seed), &labels, &z, &labels).unwrap();
        let losses = pollster::block_on(gan.losses(&gpu)).unwrap();
        assert!(losses.d_real.is_finite() && losses.g.is_finite(), "{losses:?}");
    });
    let (card, weights) = model("vae2d_mnist");
    let vae = Vae::load(&gpu, &card, &weights).unwrap();
    let latent = vae.latent();
    let mut vae = VaeTraining::new(&gpu, vae, VAE_ADAM, 1.0).unwrap();
    stays_flat("VAE training", &gpu, TRAINING_STEPS, |n| {
        seed += 1;
        let x: Vec<f32> =
            standard_normal(seed, n * 784).iter().map(|v| 0.5 + 0.5 * v.tanh()).collect();
        let x = Tensor::from_slice(&gpu, &[n, 1, 28, 28], &x).unwrap();
        vae.step(&gpu, &x, &standard_normal(seed + 1, n * latent)).unwrap();
        let losses = pollster::block_on(vae.losses(&gpu)).unwrap();
        assert!(losses.reconstruction.is_finite() && losses.kl.is_finite(), "{losses:?}");
    });
}
