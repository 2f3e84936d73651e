//! Generator and discriminator speed at batch 64 on whatever adapter is present, after checking
//! the generator against PyTorch's fixture.
//!
//! cargo bench --bench gan [-- mnist|fashion]

use std::time::Instant;

use genai_lab::formats::SafeTensors;
use genai_lab::models::gan::{Discriminator, Generator};
use genai_lab::{Error, Gpu, Result};

const BATCH: usize = 64;

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("{path}: {e}")))
}

/// Milliseconds per call of `f`, from enough calls to fill half a second, after one warm-up.
fn millis(gpu: &Gpu, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    pollster::block_on(gpu.finish())?;
    let (start, mut runs) = (Instant::now(), 0);
    while runs < 5 || start.elapsed().as_secs_f64() < 0.5 {
        f()?;
        pollster::block_on(gpu.finish())?;
        runs += 1;
    }
    Ok(start.elapsed().as_secs_f64() * 1e3 / runs as f64)
}

fn main() -> Result<()> {
    let data = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or("mnist".into());
    let model = |part: &str, ext: &str| format!("www/models/gan_{part}_{data}.{ext}");
    let card =
        |part: &str| read(&model(part, "json")).map(|b| String::from_utf8_lossy(&b).into_owned());
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.device_type);
    let mut generator =
        Generator::load(&gpu, &card("generator")?, &read(&model("generator", "safetensors"))?)?;
    let mut discriminator = Discriminator::load(
        &gpu,
        &card("discriminator")?,
        &read(&model("discriminator", "safetensors"))?,
    )?;

    let fixture_bytes = read(&format!("tests/fixtures/gan_{data}.safetensors"))?;
    let fixture = SafeTensors::parse(&fixture_bytes)?;
    let z = fixture.f32("z", &[8, generator.latent()])?;
    let labels: Vec<u32> = fixture.i64("labels", &[8])?.iter().map(|&c| c as u32).collect();
    let got = pollster::block_on(generator.forward(&gpu, &z, &labels)?.read(&gpu))?;
    let want = fixture.f32("images", &[8, 1, 28, 28])?;
    // An unwritten (NaN) pixel must not hide behind max().
    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0f32, |m, e| {
        if e.is_nan() {
            f32::INFINITY
        } else {
            m.max(e)
        }
    });
    if worst >= 1e-4 {
        return Err(Error::Gpu(format!("generator differs from PyTorch by {worst}")));
    }
    println!("check: generator within {worst:.1e} of PyTorch on the fixture");

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
