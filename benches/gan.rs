//! Generator and discriminator speed at batch 64 on whatever adapter is present, after checking
//! the generator against PyTorch's fixture.
//!
//! cargo bench --bench gan [-- mnist|fashion]

mod common;

use common::{check, millis, read, read_text};
use genai_lab::formats::SafeTensors;
use genai_lab::models::gan::{Discriminator, Generator};
use genai_lab::{Gpu, Result};

const BATCH: usize = 64;

fn main() -> Result<()> {
    let data = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or("mnist".into());
    let file = |part: &str, ext: &str| format!("www/models/gan_{part}_{data}.{ext}");
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.device_type);
    let (g_card, d_card) =
        (read_text(&file("generator", "json"))?, read_text(&file("discriminator", "json"))?);
    let mut generator = Generator::load(&gpu, &g_card, &read(&file("generator", "safetensors"))?)?;
    let mut discriminator =
        Discriminator::load(&gpu, &d_card, &read(&file("discriminator", "safetensors"))?)?;

    let fixture_bytes = read(&format!("tests/fixtures/gan_{data}.safetensors"))?;
    let fixture = SafeTensors::parse(&fixture_bytes)?;
    let z = fixture.f32("z", &[8, generator.latent()])?;
    let labels: Vec<u32> = fixture.i64("labels", &[8])?.iter().map(|&c| c as u32).collect();
    let got = pollster::block_on(generator.forward(&gpu, &z, &labels)?.read(&gpu))?;
    check("generator", &got, &fixture.f32("images", &[8, 1, 28, 28])?, 1e-4)?;

    let z: Vec<f32> = (0..BATCH * generator.latent())
        .map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0)
        .collect();
    let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 10).collect();
    let g_ms = millis(&gpu, || generator.forward(&gpu, &z, &labels).map(drop))?;
    let images = generator.forward(&gpu, &z, &labels)?.view(&[BATCH, 1, 28, 28])?;
    let d_ms = millis(&gpu, || discriminator.forward(&gpu, &images, &labels).map(drop))?;
    let per_second = |ms: f64| BATCH as f64 / ms * 1e3;
    println!(
        "batch {BATCH} ({data}): generator {g_ms:.2} ms ({:.0} images/s), \
         discriminator {d_ms:.2} ms ({:.0} images/s)",
        per_second(g_ms),
        per_second(d_ms)
    );
    Ok(())
}
