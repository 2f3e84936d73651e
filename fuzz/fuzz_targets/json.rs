//! Any text as JSON (model cards, safetensors headers, chat messages from the page).
#![no_main]

use genai_lab::formats::Json;
use genai_lab::text::chat::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = Json::parse(text);
    let _ = Message::parse_list(text);
});
