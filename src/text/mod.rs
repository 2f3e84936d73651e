//! Text in and out of the language models: tokenizers and next-token sampling.

pub mod chars;
pub mod generation;
pub mod sampling;
