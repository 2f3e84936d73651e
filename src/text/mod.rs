//! Text in and out of the language models: tokenizers, next-token sampling and the generation
//! loop.

pub mod bpe;
pub mod chars;
pub mod chat;
pub mod generation;
pub mod sampling;
