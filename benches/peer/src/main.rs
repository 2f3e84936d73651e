//! candle's quantized Llama (CPU) on SmolLM2's GGUF: load, prefill and decode tokens/s, for the
//! same prompt ids benches/chat.rs uses, greedy.
//!
//! cargo run --release --manifest-path benches/peer/Cargo.toml -- GGUF PROMPT_IDS DECODE_STEPS

use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("www/models/SmolLM2-135M-Instruct.Q4_1.gguf", String::as_str);
    let prompt: Vec<u32> =
        args.get(2).map_or("1", String::as_str).split(',').filter_map(|t| t.parse().ok()).collect();
    let steps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let device = Device::Cpu;
    let start = Instant::now();
    let mut file = std::fs::File::open(path)?;
    let content = gguf_file::Content::read(&mut file)?;
    let mut model = ModelWeights::from_gguf(content, &mut file, &device)?;
    let (ms, threads) =
        (start.elapsed().as_secs_f64() * 1e3, candle_core::utils::get_num_threads());
    println!("candle (CPU, {threads} threads): load {ms:.0} ms");
    let argmax = |logits: &Tensor| -> candle_core::Result<u32> {
        logits.squeeze(0)?.argmax(0)?.to_scalar::<u32>()
    };
    let start = Instant::now();
    let logits = model.forward(&Tensor::new(prompt.as_slice(), &device)?.unsqueeze(0)?, 0)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "prefill {:>3} tokens: {:8.1} ms, {:6.1} tokens/s",
        prompt.len(),
        secs * 1e3,
        prompt.len() as f64 / secs
    );
    let mut next = argmax(&logits)?;
    let mut ids = vec![next];
    let start = Instant::now();
    for i in 0..steps {
        let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
        next = argmax(&model.forward(&input, prompt.len() + i)?)?;
        ids.push(next);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("decode: {steps} tokens in {secs:.2} s, {:.1} tokens/s", steps as f64 / secs);
    // Printed so that a reader can compare them with the reference's (benches/chat.rs checks ours).
    println!("its first greedy tokens: {:?}", &ids[..ids.len().min(8)]);
    Ok(())
}
