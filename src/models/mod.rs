//! Forward passes of the trained models, written like the PyTorch modules in
//! `training/models.py` and over the same parameter names; the ops own the GPU.

pub mod gan;
pub mod gpt;
pub mod nearest;
pub mod vae;
mod weights;
