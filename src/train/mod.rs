//! Training on the GPU: the optimizer, and training loops that read like those of `training/`,
//! over the ops' backward passes (each beside its forward in `src/ops`).

pub mod adam;
pub mod gan;
pub mod vae;
