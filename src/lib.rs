//! See how generative AI works: forward passes of small generative models on hand-written
//! WGSL compute kernels, in the browser through WebGPU and natively through Vulkan.

#[cfg(any(feature = "bench", not(target_arch = "wasm32")))]
pub mod bench;
mod error;
pub mod formats;
pub mod gpu;
pub mod models;
pub mod ops;
pub mod rng;
pub mod text;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(test)]
mod testing;

pub use error::{Error, Result};
pub use gpu::{Gpu, Memory, Stats, Tensor};

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
