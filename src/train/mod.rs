//! Training on the GPU: the optimizer, and training loops that read like those of `training/`,
//! over the ops' backward passes (each beside its forward in `src/ops`).

pub mod adam;
pub mod gan;
pub mod live;
pub mod vae;

use crate::{Error, Result};

/// Fails with `Error::Diverged` at the first of `losses` (name, value) that is NaN or infinite:
/// from there on the weights are NaN too, and every image would come out blank. `step` counts
/// from 1; `advice` says what to try instead.
pub fn check_losses(step: usize, losses: &[(&str, f32)], advice: &str) -> Result<()> {
    match losses.iter().find(|(_, v)| !v.is_finite()) {
        Some((name, value)) => Err(Error::Diverged(format!(
            "at step {step} the {name} became {value}, and the weights with it; {advice}"
        ))),
        None => Ok(()),
    }
}
