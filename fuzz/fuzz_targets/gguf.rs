//! Any bytes as a GGUF file: parsed, every tensor dequantized, and the tokenizer and chat
//! template read from its metadata. Errors are fine; a panic is a bug.
#![no_main]

use genai_lab::formats::gguf::{dequantize, Gguf};
use genai_lab::text::bpe::BpeTokenizer;
use genai_lab::text::chat::ChatTemplate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = Gguf::parse(data) else { return };
    for t in file.tensors() {
        if let Ok((info, bytes)) = file.data(&t.name, &t.shape) {
            let _ = dequantize(info.ty, bytes);
        }
    }
    if let Ok(tok) = BpeTokenizer::from_gguf(&file) {
        let ids = tok.encode("Hello <|im_start|> wörld 123 🙂", true);
        let _ = tok.decode(&ids);
    }
    if let Ok(template) = file.str("tokenizer.chat_template") {
        let _ = ChatTemplate::from_jinja(template);
    }
});
