//! The GPU layer: device acquisition, tensors, and the one dispatch path every kernel uses.

mod device;
mod kernel;
mod memory;
mod oneshot;
mod pool;
mod stats;
mod tensor;
mod timer;

pub use device::{AdapterSummary, Gpu};
pub(crate) use kernel::{kernel, params, Workgroups};
pub use kernel::{Kernel, Params};
pub(crate) use memory::Counted;
pub use memory::Memory;
pub use stats::Stats;
pub use tensor::Tensor;
pub use timer::Timer;
