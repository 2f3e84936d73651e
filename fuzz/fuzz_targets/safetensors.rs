//! Any bytes as a safetensors file: parsed, and every tensor read as f32 and as i64.
#![no_main]

use genai_lab::formats::SafeTensors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = SafeTensors::parse(data) else { return };
    let names: Vec<String> = file.names().map(String::from).collect();
    for name in names {
        let shape = file.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
        let _ = file.f32(&name, &shape);
        let _ = file.i64(&name, &shape);
    }
});
