//! How fast the GAN learns from scratch on our kernels: from the initial weights and on the
//! images `training/learn_gan.py --export` wrote, with train_gan.py's settings (its own draws of
//! batches, noise and classes), then the committed classifier's class agreement on 1,000
//! samples. `scripts/learn-gan.sh` runs both.
//!
//! cargo run --release --example learn_gan -- DIR [--steps N] [--batch B]

// Native only: it drives the GPU through pollster (the wasm build has an empty main).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::time::Instant;

    use genai_lab::formats::SafeTensors;
    use genai_lab::models::classifier::Classifier;
    use genai_lab::models::gan::{Discriminator, Generator};
    use genai_lab::rng::Rng;
    use genai_lab::train::gan::{GanTraining, DCGAN_ADAM};
    use genai_lab::{Gpu, Result, Tensor};

    const SAMPLES: usize = 1000;
    const PIXELS: usize = 28 * 28;

    pub fn main() -> Result<()> {
        let mut args = std::env::args().skip(1);
        let folder = args.next().expect("the folder learn_gan.py --export wrote");
        let (mut steps, mut batch) = (1000, 64);
        while let Some(arg) = args.next() {
            let value = args.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
            match arg.as_str() {
                "--steps" => steps = value,
                "--batch" => batch = value,
                other => panic!("unknown argument {other}"),
            }
        }
        let read = |name: &str| {
            std::fs::read(format!("{folder}/{name}")).expect("learn_gan.py --export first")
        };
        let text = |name: &str| String::from_utf8(read(name)).expect("a JSON card");
        let gpu = pollster::block_on(Gpu::new())?;
        let generator =
            Generator::load(&gpu, &text("generator.json"), &read("generator.safetensors"))?;
        let latent = generator.latent();
        let discriminator = Discriminator::load(
            &gpu,
            &text("discriminator.json"),
            &read("discriminator.safetensors"),
        )?;
        let mut t = GanTraining::new(&gpu, generator, discriminator, DCGAN_ADAM, DCGAN_ADAM)?;
        let data = read("data.safetensors");
        let data = SafeTensors::parse(&data)?;
        let count = data.shape("labels")?[0];
        let images = data.f32("images", &[count, 1, 28, 28])?;
        let labels: Vec<u32> = data.i64("labels", &[count])?.iter().map(|&c| c as u32).collect();

        let mut rng = Rng::new(1);
        let real = Tensor::zeros(&gpu, &[batch, 1, 28, 28])?;
        let (mut pixels, mut real_labels) = (vec![0.0; batch * PIXELS], vec![0; batch]);
        let start = Instant::now();
        for step in 0..steps {
            for i in 0..batch {
                let pick = (rng.next_u64() % count as u64) as usize;
                pixels[i * PIXELS..(i + 1) * PIXELS]
                    .copy_from_slice(&images[pick * PIXELS..(pick + 1) * PIXELS]);
                real_labels[i] = labels[pick];
            }
            real.write(&gpu, &pixels)?;
            let fake_labels: Vec<u32> = (0..batch).map(|_| (rng.next_u64() % 10) as u32).collect();
            let z: Vec<f32> = (0..batch * latent).map(|_| rng.normal() as f32).collect();
            t.step(&gpu, &real, &real_labels, &z, &fake_labels)?;
            if (step + 1) % 100 == 0 {
                let l = pollster::block_on(t.losses(&gpu))?;
                println!("step {}: d_loss {:.3}, g_loss {:.3}", step + 1, l.d_real + l.d_fake, l.g);
            }
        }
        pollster::block_on(gpu.finish())?;
        let seconds = start.elapsed().as_secs_f64();

        // Samples in eval mode, as the model cards score them, mapped to [0, 1] for the classifier.
        let mut generator = t.generator;
        generator.set_training(&gpu, false)?;
        let mut classifier = Classifier::load(
            &gpu,
            &std::fs::read_to_string("www/models/classifier_mnist.json")
                .expect("run from the repository root"),
            &std::fs::read("www/models/classifier_mnist.safetensors")
                .expect("the committed classifier"),
        )?;
        let mut agreed = 0;
        for part in 0..SAMPLES / 100 {
            let asked: Vec<u32> =
                (0..100).map(|i| ((part * 100 + i) / (SAMPLES / 10)) as u32).collect();
            let z: Vec<f32> = (0..100 * latent).map(|_| rng.normal() as f32).collect();
            let samples = pollster::block_on(generator.forward(&gpu, &z, &asked)?.read(&gpu))?;
            let samples: Vec<f32> = samples.iter().map(|v| (v + 1.0) / 2.0).collect();
            let samples = Tensor::from_slice(&gpu, &[100, 1, 28, 28], &samples)?;
            let classes = pollster::block_on(classifier.classes(&gpu, &samples))?;
            agreed += classes.iter().zip(&asked).filter(|(a, b)| a == b).count();
        }
        println!(
            "ours ({}): {steps} steps of batch {batch} in {seconds:.1} s ({:.2} steps/s); class agreement {:.3} on {SAMPLES} samples",
            gpu.adapter().name,
            steps as f64 / seconds,
            agreed as f64 / SAMPLES as f64
        );
        Ok(())
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    if let Err(e) = native::main() {
        eprintln!("learn_gan: {e}");
        std::process::exit(1);
    }
}
