//! SmolLM2-135M-Instruct from its GGUF file against an independent reference: Hugging Face
//! transformers and tokenizers reading the same file (`training/smollm_fixtures.py`). Native
//! only: the 98 MB file is read from disk (`scripts/fetch-smollm.sh` puts it there; the test
//! command runs that first). The page test covers the browser.
#![cfg(not(target_arch = "wasm32"))]

use genai_lab::formats::gguf::Gguf;
use genai_lab::formats::{Json, SafeTensors};
use genai_lab::models::llama::Llama;
use genai_lab::models::{LanguageModel, Watch};
use genai_lab::text::bpe::BpeTokenizer;
use genai_lab::text::chat::{ChatTemplate, Message};
use genai_lab::text::generation::Generation;
use genai_lab::text::sampling::Sampling;
use genai_lab::Gpu;

mod common;

const GGUF: &str = "www/models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn gguf_bytes() -> Vec<u8> {
    std::fs::read(GGUF).unwrap_or_else(|e| panic!("{GGUF}: {e}; run scripts/fetch-smollm.sh"))
}

fn ids(json: &Json) -> Vec<u32> {
    let items = json.as_array().expect("an array of token ids");
    items.iter().map(|i| i.as_usize().expect("a token id") as u32).collect()
}

#[test]
fn tokenizer_matches_the_reference_on_every_case() {
    let bytes = gguf_bytes();
    let tok = BpeTokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    let text = std::fs::read_to_string("tests/fixtures/smollm2_tokens.json").unwrap();
    let fixture = Json::parse(&text).unwrap();
    let cases = fixture.get("cases").and_then(Json::as_array).unwrap();
    assert!(cases.len() >= 300, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let text = case.get("text").and_then(Json::as_str).unwrap();
        // `ids`: control tokens in the text parsed (as the chat template's text is); `ids_plain`,
        // where given, the same text with them tokenized as plain text.
        let want = ids(case.get("ids").unwrap());
        let got = tok.encode(text, true);
        if got != want {
            wrong.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
        if let Some(plain) = case.get("ids_plain") {
            if tok.encode(text, false) != ids(plain) {
                wrong.push(format!("{text:?} as plain text"));
            }
        }
        assert_eq!(tok.decode(&want).unwrap(), text, "decoding the reference's ids");
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn chat_template_renders_and_encodes_as_the_reference() {
    let bytes = gguf_bytes();
    let file = Gguf::parse(&bytes).unwrap();
    let tok = BpeTokenizer::from_gguf(&file).unwrap();
    let template = ChatTemplate::from_jinja(file.str("tokenizer.chat_template").unwrap()).unwrap();
    let text = std::fs::read_to_string("tests/fixtures/smollm2_tokens.json").unwrap();
    let fixture = Json::parse(&text).unwrap();
    let chat = fixture.get("chat").unwrap();
    let question = chat.get("question").unwrap();
    let asked =
        Message::parse_list(r#"[{"role":"user","content":"What is the capital of France?"}]"#);
    let asked = asked.unwrap();
    assert_eq!(Some(template.render(&asked).as_str()), question.get("text").and_then(Json::as_str));
    assert_eq!(template.encode(&tok, &asked).unwrap(), ids(question.get("ids").unwrap()));
    let two = chat.get("two_turns").unwrap();
    let messages: Vec<Message> = two
        .get("messages")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .map(|m| Message {
            role: m.get("role").and_then(Json::as_str).unwrap().into(),
            content: m.get("content").and_then(Json::as_str).unwrap().into(),
        })
        .collect();
    assert_eq!(Some(template.render(&messages).as_str()), two.get("text").and_then(Json::as_str));
    assert_eq!(template.encode(&tok, &messages).unwrap(), ids(two.get("ids").unwrap()));
}

/// |got - want| <= atol + rtol |want| everywhere; returns the largest difference.
fn close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(err <= atol + rtol * w.abs(), "{what}: element {i} is {g}, reference {w}");
        worst = worst.max(err);
    }
    println!("{what}: largest difference {worst:.2e}");
    worst
}

#[test]
fn logits_and_greedy_tokens_match_the_reference() {
    let bytes = gguf_bytes();
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    let mut model = Llama::load(&gpu, &bytes, 512).unwrap();
    let vocab = model.vocab_size();
    let fixture_bytes = std::fs::read("tests/fixtures/smollm2_logits.safetensors").unwrap();
    let fixture = SafeTensors::parse(&fixture_bytes).unwrap();
    let tokens = |name: &str| -> Vec<u32> {
        let n = fixture.shape(name).unwrap()[0];
        fixture.i64(name, &[n]).unwrap().iter().map(|&i| i as u32).collect()
    };
    // Logits of size ~20 after 30 blocks of sums over 576-1536 products, in another order than
    // PyTorch's (which multiplies the same weights, dequantized): 8.5e-5 at most on lavapipe.
    let (atol, rtol) = (4e-4, 1e-5);
    for n in 0..3 {
        let ids = tokens(&format!("ids_{n}"));
        let logits = model.forward(&gpu, &ids, 0, Watch::NOTHING).unwrap().logits;
        let got = pollster::block_on(logits.read(&gpu)).unwrap();
        let last = fixture.f32(&format!("last_logits_{n}"), &[vocab]).unwrap();
        close(&format!("prompt {n}, last position"), &got[got.len() - vocab..], &last, atol, rtol);
        if n == 0 {
            let all = fixture.f32("logits_0", &[ids.len(), vocab]).unwrap();
            close("prompt 0, every position", &got, &all, atol, rtol);
            // The head over the last position only.
            let last_only = model.forward_last(&gpu, &ids, 0, Watch::NOTHING).unwrap().logits;
            assert_eq!(last_only.shape(), [1, vocab]);
            let last_only = pollster::block_on(last_only.read(&gpu)).unwrap();
            close("prompt 0, the last position only", &last_only, &last, atol, rtol);
        }
    }

    // A pass over more than 64 tokens takes another path (each matrix dequantized, then the
    // tiled matmul): the same logits as two shorter passes through the caches, up to the
    // order of the sums (about 5e-4 at most on lavapipe, over 30 layers).
    let long: Vec<u32> = [tokens("ids_2"), tokens("ids_1")].concat();
    let one = model.forward(&gpu, &long, 0, Watch::NOTHING).unwrap().logits;
    let one = pollster::block_on(one.read(&gpu)).unwrap();
    model.forward(&gpu, &long[..51], 0, Watch::NOTHING).unwrap();
    let two = model.forward(&gpu, &long[51..], 51, Watch::NOTHING).unwrap().logits;
    let two = pollster::block_on(two.read(&gpu)).unwrap();
    close("88 tokens in one pass or two", &one[51 * vocab..], &two, 2e-3, 1e-4);

    // Greedy decoding through the cache, one token per pass: the same 32 tokens.
    let want = tokens("greedy_ids");
    let mut fresh = tokens("greedy_prompt_ids");
    let (mut past, mut got) = (0, Vec::new());
    while got.len() < want.len() {
        let logits = model.forward(&gpu, &fresh, past, Watch::NOTHING).unwrap().logits;
        let n = logits.numel();
        let last = pollster::block_on(logits.read_range(&gpu, n - vocab..n)).unwrap();
        let best = (0..vocab).max_by(|&a, &b| last[a].total_cmp(&last[b])).unwrap() as u32;
        past += fresh.len();
        fresh = vec![best];
        got.push(best);
    }
    assert_eq!(got, want, "greedy tokens");
}

/// `bytes` with the value of metadata `key` (a u32) replaced.
fn with_u32(bytes: &[u8], key: &str, value: u32) -> Vec<u8> {
    let at = bytes.windows(key.len()).position(|w| w == key.as_bytes()).unwrap() + key.len();
    assert_eq!(bytes[at..at + 4], 4u32.to_le_bytes(), "{key} is a u32");
    let mut out = bytes.to_vec();
    out[at + 4..at + 8].copy_from_slice(&value.to_le_bytes());
    out
}

#[test]
fn bad_files_are_errors() {
    let bytes = gguf_bytes();
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    let load = |b: &[u8]| Llama::load(&gpu, b, 64).map(drop).unwrap_err().to_string();
    assert!(
        load(&bytes[..bytes.len() / 2]).contains("runs past"),
        "{}",
        load(&bytes[..bytes.len() / 2])
    );
    // Absurd sizes: refused before anything that large is made.
    let layers = load(&with_u32(&bytes, "llama.block_count", u32::MAX));
    assert!(layers.contains("no tensor 'blk.30."), "{layers}");
    let heads = load(&with_u32(&bytes, "llama.attention.head_count", 7));
    assert!(heads.contains("do not fit together"), "{heads}");
    let width = load(&with_u32(&bytes, "llama.embedding_length", 9 << 26));
    assert!(width.contains("rotary embedding"), "{width}");
    let rope = load(&with_u32(&bytes, "llama.rope.dimension_count", 32));
    assert!(rope.contains("rotary embedding"), "{rope}");
    // A NaN scale in a quantized matrix, an infinity in a norm: named, not computed with.
    let file = Gguf::parse(&bytes).unwrap();
    let offset = |name: &str, shape: &[usize]| {
        let (_, data) = file.data(name, shape).unwrap();
        data.as_ptr() as usize - bytes.as_ptr() as usize
    };
    let mut nan = bytes.clone();
    let at = offset("blk.3.attn_q.weight", &[576, 576]) + 7 * 20;
    nan[at..at + 2].copy_from_slice(&0x7e00u16.to_le_bytes());
    let message = load(&nan);
    assert!(message.contains("block 7 of a Q4_1 matrix has the scale NaN"), "{message}");
    let mut inf = bytes.clone();
    let at = offset("blk.2.ffn_norm.weight", &[576]) + 4 * 11;
    inf[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let message = load(&inf);
    assert!(message.contains("'blk.2.ffn_norm.weight' holds inf at element 11"), "{message}");
    let mut other = bytes.clone();
    let at = other.windows(5).position(|w| w == b"llama").unwrap();
    other[at..at + 5].copy_from_slice(b"qwen2");
    assert!(load(&other).contains("not supported"), "{}", load(&other));
}

/// A decode step with the chat page's sampling makes no buffer and no bind group, runs 153
/// dispatches (483 before the fused kernels), and reads back its 64 likeliest tokens (found on
/// the GPU), not the 49,152 logits: at most 4 KB.
#[test]
fn a_decode_step_makes_nothing_and_reads_back_its_candidates_only() {
    let bytes = gguf_bytes();
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    let mut model = Llama::load(&gpu, &bytes, 64).unwrap();
    let chat = Sampling { temperature: 0.7, top_k: 40, top_p: 0.9 };
    let prompt: Vec<u32> = (0..9).map(|i| 200 + i * 31).collect();
    let mut generation = Generation::new(&model, &prompt, chat, 1, 8).unwrap();
    let (blocks, width) = (model.config().n_layer as u64, model.config().n_embd);
    let mut step = |watch| pollster::block_on(generation.step(&gpu, &mut model, watch)).unwrap();
    // The prompt's pass. Then, for each kind of step, a first one that makes its buffers, and a
    // second, counted, that must make nothing.
    step(Watch::NOTHING);
    let mut counted = |watch: Watch| {
        step(watch);
        let before = gpu.stats();
        let written = step(watch);
        let counts = gpu.stats() - before;
        println!("a SmolLM2 decode step watching {watch:?}: {counts:?}");
        assert_eq!((counts.buffers_created, counts.bind_groups_created), (0, 0), "{counts:?}");
        (written, counts)
    };
    let (written, step) = counted(Watch::NOTHING);
    assert_eq!((step.submissions, step.read_backs), (1, 1), "{step:?}");
    // Five a block (the q, k, v product with its RMS norm, RoPE and the cache write, attention,
    // the output projection with its residual, gate and up with their norm and SwiGLU, the down
    // projection with its residual), then the embedding, the head with its norm, and top-k.
    // (Past 256 keys on a hardware GPU, attention adds a dispatch a block: 183.)
    assert_eq!(step.dispatches, 5 * blocks + 3, "{step:?}");
    assert!(step.bytes_read_back <= 4096, "{step:?}");
    let kept = written.probabilities.iter().filter(|&&p| p > 0.0).count();
    assert!(kept == 64 && written.probabilities[written.id as usize] > 0.0, "{kept} candidates");

    // Watching the lens: the first such step makes its buffers, the next makes nothing. It adds
    // the head over 61 rows and their top-k: 2 dispatches, and reads back the stream's rows (for
    // the changes) and 5 candidates a row, not 61 rows of 49,152 logits.
    let (watched, step) = counted(Watch::LENS);
    assert_eq!(step.dispatches, 5 * blocks + 5, "{step:?}");
    let rows = 2 * blocks as usize + 1;
    let lens_bytes = (rows * width + rows * (2 * 5 + 2)) * 4;
    assert_eq!(step.bytes_read_back, (130 * 4 + lens_bytes) as u64, "{step:?}");
    assert!(watched.lens.is_empty(), "the lens's rows stay on the GPU");
    assert_eq!((watched.lens_candidates.len(), watched.changes.len()), (rows, rows - 1));
    assert!(watched.changes.iter().all(|c| c.is_finite() && *c > 0.0), "{:?}", watched.changes);
    // Its last row is the step's own prediction: the same head over the same row.
    let last = &watched.lens_candidates[rows - 1];
    let p = &watched.probabilities;
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i] > 0.0).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let top: Vec<u32> = order[..5].iter().map(|&i| i as u32).collect();
    assert_eq!(last.ids, top, "the lens's last row against the step's candidates");
    let want: Vec<f32> = order[..5].iter().map(|&i| p[i]).collect();
    close("the lens's last row", &last.probabilities(), &want, 1e-5, 1e-4);
    assert_ne!(watched.lens_candidates[0].ids, last.ids, "the layers change the prediction");

    // Watching attention adds no dispatch (each layer's scores are copied out), and reads back
    // the newest token's scores, one row per layer and head over the 64 positions.
    let (watched, step) = counted(Watch::ATTENTION);
    assert_eq!(step.dispatches, 5 * blocks + 3, "{step:?}");
    let heads = model.config().n_head;
    let scores = blocks as usize * heads * 64;
    assert_eq!(step.bytes_read_back, (130 * 4 + scores * 4) as u64, "{step:?}");
    assert_eq!((watched.rows, watched.scores.len(), watched.attention.len()), (1, scores, scores));
    for (r, row) in watched.attention.chunks(64).enumerate() {
        let sum: f32 = row[..watched.window].iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {r} sums to {sum}");
        assert!(row[watched.window..].iter().all(|&w| w == 0.0), "row {r} weighs the future");
    }
}

/// The newest token's attention scores, read in a prompt's pass and in a decode step: causal,
/// the same in both, and different for each layer and head.
#[test]
fn attention_scores_are_causal_and_agree_between_prompt_and_step() {
    let bytes = gguf_bytes();
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    let (context, n) = (48, 21);
    let mut model = Llama::load(&gpu, &bytes, context).unwrap();
    let (layers, heads) = (model.config().n_layer, model.config().n_head);
    let prompt: Vec<u32> = (0..n as u32).map(|i| 300 + i * 97).collect();
    let read = |t: &genai_lab::Tensor| pollster::block_on(t.read(&gpu)).unwrap();
    let plain = read(model.forward_last(&gpu, &prompt, 0, Watch::NOTHING).unwrap().logits);
    let out = model.forward_last(&gpu, &prompt, 0, Watch::ATTENTION).unwrap();
    assert_eq!(read(out.logits), plain, "watching attention changes the logits");
    let scores = out.attention.unwrap();
    assert_eq!(scores.shape(), [layers, heads, 1, context]);
    let in_prompt = read(scores);
    for (r, row) in in_prompt.chunks(context).enumerate() {
        assert!(row[..n].iter().all(|s| s.is_finite() && *s != 0.0), "row {r} misses its keys");
        assert!(row[n..].iter().all(|&s| s == 0.0), "row {r} sees the future");
    }
    let row = |l: usize, h: usize| &in_prompt[(l * heads + h) * context..][..n];
    assert_ne!(row(0, 0), row(0, 1), "two heads of a layer score alike");
    assert_ne!(row(0, 0), row(1, 0), "two layers score alike");

    // The last prompt token again, as a decode step after the others: the same scores, up to
    // the order of the sums (the prompt's q, k and v come from a 21-row product).
    model.forward(&gpu, &prompt[..n - 1], 0, Watch::NOTHING).unwrap();
    let step = model.forward_last(&gpu, &prompt[n - 1..], n - 1, Watch::ATTENTION).unwrap();
    let in_step = read(step.attention.unwrap());
    close("the newest token's scores, prompt and step", &in_step, &in_prompt, 2e-3, 1e-3);
}

/// Generations with prompts of varying lengths must not grow memory. 40 generations rather than
/// the small models' 1,000 (`tests/leaks.rs`): one pass of this model takes about a quarter of
/// a second on lavapipe.
#[test]
fn generations_do_not_leak() {
    let bytes = gguf_bytes();
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    let mut model = Llama::load(&gpu, &bytes, 64).unwrap();
    let greedy = Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 };
    let mut seed = 0;
    common::stays_flat("SmolLM2", &gpu, 40, |size| {
        seed += 1;
        let prompt: Vec<u32> = (0..size as u32).map(|i| 100 + i * 7 + seed).collect();
        let mut generation = Generation::new(&model, &prompt, greedy, seed as u64, 2).unwrap();
        for _ in 0..2 {
            let step =
                pollster::block_on(generation.step(&gpu, &mut model, Watch::NOTHING)).unwrap();
            assert!(step.probabilities.iter().any(|&p| p > 0.0));
        }
    });
}
