//! VAE encoder and decoder speed at batch 64 on whatever adapter is present, after checking
//! both against PyTorch's fixture.
//!
//! cargo bench --bench vae [-- vae_mnist|vae_fashion|vae2d_mnist|vae2d_fashion]

mod common;

use common::{check, millis, read, read_text};
use genai_lab::formats::SafeTensors;
use genai_lab::models::vae::Vae;
use genai_lab::{Gpu, Result};

const BATCH: usize = 64;

fn main() -> Result<()> {
    let name = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or("vae_mnist".into());
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.device_type);
    let card = read_text(&format!("www/models/{name}.json"))?;
    let mut vae = Vae::load(&gpu, &card, &read(&format!("www/models/{name}.safetensors"))?)?;
    let latent = vae.latent();

    let fixture_bytes = read(&format!("tests/fixtures/{name}.safetensors"))?;
    let fixture = SafeTensors::parse(&fixture_bytes)?;
    let images = fixture.f32("images", &[8, 1, 28, 28])?;
    let mean = pollster::block_on(vae.encode(&gpu, &images)?.0.read(&gpu))?;
    check("encoder mean", &mean, &fixture.f32("mean", &[8, latent])?, 1e-4)?;
    let z = fixture.f32("z_prior", &[8, latent])?;
    let decoded = pollster::block_on(vae.decode(&gpu, &z)?.read(&gpu))?;
    check("decoder", &decoded, &fixture.f32("prior_samples", &[8, 1, 28, 28])?, 1e-4)?;

    let batch: Vec<f32> =
        (0..BATCH).flat_map(|i| images[(i % 8) * 784..(i % 8 + 1) * 784].to_vec()).collect();
    let z: Vec<f32> =
        (0..BATCH * latent).map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0).collect();
    let e_ms = millis(&gpu, || vae.encode(&gpu, &batch).map(drop))?;
    let d_ms = millis(&gpu, || vae.decode(&gpu, &z).map(drop))?;
    let per_second = |ms: f64| BATCH as f64 / ms * 1e3;
    println!(
        "batch {BATCH} ({name}): encoder {e_ms:.2} ms ({:.0} images/s), decoder {d_ms:.2} ms \
         ({:.0} images/s)",
        per_second(e_ms),
        per_second(d_ms)
    );
    Ok(())
}
