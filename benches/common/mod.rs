//! What the model benchmarks share: reading the committed files, checking a result against
//! PyTorch's fixture, and timing.

// Each benchmark uses some of these.
#![allow(dead_code)]

use std::time::Instant;

use genai_lab::{Error, Gpu, Result};

pub fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("{path}: {e}")))
}

pub fn read_text(path: &str) -> Result<String> {
    read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Fails unless `got` is within `tolerance` of `want` everywhere (an unwritten NaN fails too);
/// returns the largest difference.
pub fn check(what: &str, got: &[f32], want: &[f32], tolerance: f32) -> Result<f32> {
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0f32, |m, e| {
        if e.is_nan() {
            f32::INFINITY
        } else {
            m.max(e)
        }
    });
    if got.len() != want.len() || worst >= tolerance {
        return Err(Error::Gpu(format!("{what} differs from PyTorch by {worst}")));
    }
    println!("check: {what} within {worst:.1e} of PyTorch on the fixture");
    Ok(worst)
}

/// Milliseconds per call of `f`, each call submitted and waited for, from enough calls to fill
/// half a second, after one warm-up call.
pub fn millis(gpu: &Gpu, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
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
