//! SmolLM2-135M-Instruct (Q4_1 GGUF) on whatever adapter is present: load time, prefill
//! tokens/s (a prompt in one pass) and decode tokens/s (one token per pass through the caches,
//! read back and chosen as the page does), after checking the greedy answer against the
//! reference's. Needs `scripts/fetch-smollm.sh` first.
//!
//! cargo bench --bench chat [-- DECODE_STEPS]

mod common;

use std::time::Instant;

use common::{millis, read};
use genai_lab::formats::SafeTensors;
use genai_lab::models::llama::Llama;
use genai_lab::models::{LanguageModel, Watch};
use genai_lab::text::generation::Generation;
use genai_lab::text::sampling::Sampling;
use genai_lab::{Error, Gpu, Result};

fn main() -> Result<()> {
    let steps: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(32);
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.device_type);
    let bytes = read("www/models/SmolLM2-135M-Instruct.Q4_1.gguf")?;
    let start = Instant::now();
    let mut model = Llama::load(&gpu, &bytes, 2048)?;
    pollster::block_on(gpu.finish())?;
    println!("load (parse, upload 98 MB): {:.0} ms", start.elapsed().as_secs_f64() * 1e3);

    let fixture_bytes = read("tests/fixtures/smollm2_logits.safetensors")?;
    let fixture = SafeTensors::parse(&fixture_bytes)?;
    let tokens = |name: &str| -> Result<Vec<u32>> {
        let n = fixture.shape(name)?[0];
        Ok(fixture.i64(name, &[n])?.iter().map(|&i| i as u32).collect())
    };
    let (prompt, want) = (tokens("greedy_prompt_ids")?, tokens("greedy_ids")?);
    let greedy = Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 };
    let mut generation = Generation::new(&model, &prompt, greedy, 0, 8)?;
    let mut got = Vec::new();
    while generation.remaining() > 0 {
        got.push(pollster::block_on(generation.step(&gpu, &mut model, Watch::NOTHING))?.id);
    }
    if got != want[..8] {
        return Err(Error::Gpu(format!("greedy tokens {got:?}, the reference's {:?}", &want[..8])));
    }
    println!("check: the first 8 greedy tokens equal the reference's");

    let long: Vec<u32> = prompt.iter().cycle().take(128).copied().collect();
    for t in [prompt.len(), long.len()] {
        let ms = millis(&gpu, || model.forward(&gpu, &long[..t], 0, Watch::NOTHING).map(drop))?;
        println!("prefill {t:>3} tokens: {ms:8.1} ms, {:6.1} tokens/s", t as f64 / ms * 1e3);
    }
    let sampling = Sampling { temperature: 0.7, top_k: 40, top_p: 0.9 };
    let mut generation = Generation::new(&model, &prompt, sampling, 1, steps + 1)?;
    pollster::block_on(generation.step(&gpu, &mut model, Watch::NOTHING))?;
    let start = Instant::now();
    while generation.remaining() > 0 {
        pollster::block_on(generation.step(&gpu, &mut model, Watch::NOTHING))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("decode: {steps} tokens in {seconds:.2} s, {:.1} tokens/s", steps as f64 / seconds);
    Ok(())
}
