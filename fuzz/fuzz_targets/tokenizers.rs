//! Any text through both tokenizers. The byte-level BPE (a small vocabulary: the 256 byte
//! characters, a few merges, a control token) must give back exactly the text it encoded; the
//! character tokenizer must encode text of its vocabulary and refuse anything else.
#![no_main]

use std::sync::OnceLock;

use genai_lab::text::bpe::BpeTokenizer;
use genai_lab::text::chars::CharTokenizer;
use libfuzzer_sys::fuzz_target;

const MERGES: [&str; 6] = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "Ċ Ċ"];

fn bpe() -> &'static BpeTokenizer {
    static TOKENIZER: OnceLock<BpeTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        // GPT-2's byte alphabet: printable Latin-1 as itself, the other bytes from U+0100 on.
        let mut next = 256;
        let mut tokens: Vec<String> = (0..=255u32)
            .map(|b| {
                let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
                let code = if printable { b } else { next += 1; next - 1 };
                char::from_u32(code).unwrap().to_string()
            })
            .collect();
        tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
        tokens.push("<|end|>".into());
        let types: Vec<u64> = (0..tokens.len()).map(|i| if i + 1 == tokens.len() { 3 } else { 1 }).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        BpeTokenizer::new(&refs, &types, &MERGES, None, None).unwrap()
    })
}

const CHARS: &str = "\n abcdefghijklmnopqrstuvwxyz.,";

/// Built once, like the BPE: neither depends on the input, and each run is then all reading.
fn chars() -> &'static CharTokenizer {
    static TOKENIZER: OnceLock<CharTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let vocab: Vec<String> = CHARS.chars().map(String::from).collect();
        CharTokenizer::new(&vocab).unwrap()
    })
}

fuzz_target!(|text: &str| {
    let tok = bpe();
    for parse_special in [false, true] {
        let ids = tok.encode(text, parse_special);
        assert_eq!(tok.decode(&ids).unwrap(), text, "BPE round trip");
    }
    let chars = chars();
    match chars.encode(text) {
        Ok(ids) => assert_eq!(chars.decode(&ids).unwrap(), text, "character round trip"),
        Err(_) => assert!(text.chars().any(|c| !CHARS.contains(c))),
    }
});
