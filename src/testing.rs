//! What every kernel test needs: a device (or a failure), random data, poisoned outputs and a
//! tolerance check that reports the worst element.

use crate::{Gpu, Tensor};

/// Sizes that are not multiples of any tile or workgroup size.
pub const AWKWARD: [usize; 5] = [1, 7, 33, 65, 257];

/// The bit pattern every output is filled with before a run; it must not survive.
pub const POISON: f32 = f32::NAN;

/// Defines async test bodies that run natively (`cargo test`, on lavapipe) and in the browser
/// (`wasm-pack test`, on WebGPU).
macro_rules! gpu_tests {
    ($(async fn $name:ident() $body:block)*) => {$(
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on(async $body)
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() $body
    )*};
}
pub(crate) use gpu_tests;

/// The device every test in this process shares (drivers cap how many one process may open,
/// and pipelines then compile once). No adapter is a failure, never a skip.
pub async fn gpu() -> &'static Gpu {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
        GPU.get_or_init(|| pollster::block_on(open()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        thread_local!(static GPU: std::cell::Cell<Option<&'static Gpu>> = const { std::cell::Cell::new(None) });
        match GPU.get() {
            Some(gpu) => gpu,
            None => {
                let gpu: &'static Gpu = Box::leak(Box::new(open().await));
                GPU.set(Some(gpu));
                gpu
            }
        }
    }
}

async fn open() -> Gpu {
    match Gpu::new().await {
        Ok(gpu) => gpu,
        Err(e) => panic!("kernel tests need a GPU adapter and found none: {e}"),
    }
}

/// Random test data from the crate's seeded generator, so failures reproduce.
pub struct Rng(crate::rng::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(crate::rng::Rng::new(seed))
    }

    /// Uniform in [-1, 1].
    pub fn uniform(&mut self) -> f32 {
        (self.0.uniform() * 2.0 - 1.0) as f32
    }

    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (((self.uniform() + 1.0) * 0.5 * n as f32) as usize).min(n - 1)
    }
}

/// Random data uploaded as a tensor; returns the host copy for the reference.
pub fn random(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> (Tensor, Vec<f32>) {
    let data = rng.vec(shape.iter().product());
    (Tensor::from_slice(gpu, shape, &data).unwrap(), data)
}

/// An output tensor filled with `POISON`, so unwritten elements show.
pub fn poisoned(gpu: &Gpu, shape: &[usize]) -> Tensor {
    Tensor::full(gpu, shape, POISON).unwrap()
}

/// Fails unless `step`, what a model's repeated step cost, made no buffer and no bind group.
pub fn assert_made_nothing(what: &str, step: crate::Stats) {
    println!("{what}: {step:?}");
    let made = (step.buffers_created, step.bind_groups_created);
    assert_eq!(made, (0, 0), "{what} made buffers and bind groups again: {step:?}");
}

/// Passes when every element satisfies |got - want| <= atol + rtol * |want| (NaN never does).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > atol + rtol * w.abs() {
            panic!("{what}: element {i} is {g}, reference {w} (atol {atol}, rtol {rtol})");
        }
        worst = worst.max(err);
    }
    // Seen with `cargo test -- --nocapture`: the margin each tolerance leaves.
    println!("{what}: largest absolute error {worst:.2e}");
    assert!(want.iter().any(|&w| w != 0.0), "{what}: the reference is all zeros");
}
