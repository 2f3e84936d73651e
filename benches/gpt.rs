//! The character GPT's speed on whatever adapter is present, after checking its logits against
//! PyTorch's fixture: prefill (a whole prompt in one pass) and decode (one token per pass
//! through the KV caches, read back and sampled as the page does) in tokens per second.
//!
//! cargo bench --bench gpt

mod common;

use std::time::Instant;

use common::{check, millis, read, read_text};
use genai_lab::formats::SafeTensors;
use genai_lab::models::gpt::Gpt;
use genai_lab::models::LanguageModel;
use genai_lab::text::generation::Generation;
use genai_lab::text::sampling::Sampling;
use genai_lab::{Gpu, Result};

fn main() -> Result<()> {
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.device_type);
    let card = read_text("www/models/gpt_shakespeare.json")?;
    let mut gpt = Gpt::load(&gpu, &card, &read("www/models/gpt_shakespeare.safetensors")?)?;
    let fixture_bytes = read("tests/fixtures/gpt_shakespeare.safetensors")?;
    let fixture = SafeTensors::parse(&fixture_bytes)?;
    let ids: Vec<u32> = fixture.i64("ids", &[1, 97])?.iter().map(|&i| i as u32).collect();
    let want = fixture.f32("logits", &[1, 97, gpt.vocab().len()])?;
    let got = pollster::block_on(gpt.forward(&gpu, &ids, 0, false)?.logits.read(&gpu))?;
    check("logits", &got, &want, 1e-4)?;

    let block = gpt.context();
    let prompt: Vec<u32> = (0..block).map(|i| ids[i % ids.len()]).collect();
    for t in [64, block] {
        let ms = millis(&gpu, || gpt.forward(&gpu, &prompt[..t], 0, false).map(drop))?;
        println!("prefill {t:>3} tokens: {ms:7.2} ms, {:7.0} tokens/s", t as f64 / ms * 1e3);
    }
    for past in [0, block / 2, block - 1] {
        let ms =
            millis(&gpu, || gpt.forward(&gpu, &prompt[past..past + 1], past, false).map(drop))?;
        println!(
            "decode step at position {past:>3}: {ms:6.2} ms, {:5.0} tokens/s (GPU pass only)",
            1e3 / ms
        );
    }

    // As the page writes: each token's logits read back and sampled before the next pass, the
    // window sliding past the context, attention weights not watched.
    let sampling = Sampling { temperature: 0.8, top_k: 0, top_p: 0.95 };
    let length = 2 * block;
    let mut generation = Generation::new(&gpt, &ids[..1], sampling, 1, length)?;
    let start = Instant::now();
    while generation.remaining() > 0 {
        pollster::block_on(generation.step(&gpu, &mut gpt, false))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "generation of {length} tokens (sampled, read back, window sliding): {:.0} tokens/s",
        length as f64 / seconds
    );
    Ok(())
}
