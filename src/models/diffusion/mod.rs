//! The class-conditional diffusion model of `training/models.py` (`UNet`) and its sampler
//! (`training/diffusion.py`): a U-Net predicts v from a noisy image, its step and its class, and
//! the sampler walks from pure noise to an image in a chosen number of steps, every step on the
//! GPU.

mod sampler;
mod unet;

pub use sampler::{
    alpha_bar, noised, signal_to_noise, timesteps, update, SampleOptions, Sampler, SamplingRun,
    Step, T,
};
pub use unet::UNet;

pub const CLASSES: usize = 10;
/// The class entry that means "no class": the unconditional half of a guided pass.
pub const NO_CLASS: u32 = CLASSES as u32;
pub const IMAGE: usize = 28;
const PIXELS: usize = IMAGE * IMAGE;

/// The committed checkpoints with their PyTorch fixtures, for the tests.
#[cfg(test)]
mod checkpoints {
    use crate::formats::safetensors::SafeTensors;

    pub struct Checkpoint {
        pub card: &'static str,
        pub weights: &'static [u8],
        pub fixture: &'static [u8],
    }

    macro_rules! checkpoint {
        ($name:literal) => {
            Checkpoint {
                card: include_str!(concat!("../../../www/models/", $name, ".json")),
                weights: include_bytes!(concat!("../../../www/models/", $name, ".safetensors")),
                fixture: include_bytes!(concat!("../../../tests/fixtures/", $name, ".safetensors")),
            }
        };
    }

    pub const CHECKPOINTS: [Checkpoint; 2] =
        [checkpoint!("diffusion_fashion"), checkpoint!("diffusion_mnist")];

    /// A fixture's integer tensor of `n` as u32.
    pub fn ids(f: &SafeTensors, name: &str, n: usize) -> Vec<u32> {
        f.i64(name, &[n]).unwrap().iter().map(|&v| v as u32).collect()
    }

    pub fn images(n: usize) -> [usize; 4] {
        [n, 1, super::IMAGE, super::IMAGE]
    }
}
