//! The files the models come in: safetensors weights, and the JSON of their headers and of the
//! model cards, and llama.cpp's GGUF. Dependency-free readers that check every field, so a bad
//! file is an error.

pub mod gguf;
pub mod json;
pub mod safetensors;

pub use json::Json;
pub use safetensors::{SafeTensors, TensorInfo};
