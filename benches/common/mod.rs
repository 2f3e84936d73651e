//! What `chat.rs` needs besides the library: reading a file and timing a call.

use std::time::Instant;

use genai_lab::{Error, Gpu, Result};

pub fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("{path}: {e}")))
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
