//! Counts of the buffers a device holds for us, so that a test (or the page) can see a leak:
//! every buffer is made through `Counted`, which adds itself to its device's totals until dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Live buffers and their bytes, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub buffers: u64,
    pub bytes: u64,
}

#[derive(Default)]
pub(crate) struct Live {
    buffers: AtomicU64,
    bytes: AtomicU64,
    /// Every buffer ever made, freed or not (`Stats::buffers_created`).
    made: AtomicU64,
}

impl Live {
    pub fn now(&self) -> Memory {
        Memory {
            buffers: self.buffers.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }
}

/// A buffer (a wgpu buffer, or a CPU array on the reference device) counted while it lives.
pub(crate) struct Counted<B> {
    pub buffer: B,
    bytes: u64,
    live: Arc<Live>,
}

impl<B> Counted<B> {
    pub fn new(live: &Arc<Live>, buffer: B, bytes: u64) -> Counted<B> {
        live.buffers.fetch_add(1, Ordering::Relaxed);
        live.bytes.fetch_add(bytes, Ordering::Relaxed);
        live.made.fetch_add(1, Ordering::Relaxed);
        Counted { buffer, bytes, live: live.clone() }
    }
}

impl<B> Drop for Counted<B> {
    fn drop(&mut self) {
        self.live.buffers.fetch_sub(1, Ordering::Relaxed);
        self.live.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl<B> std::ops::Deref for Counted<B> {
    type Target = B;

    fn deref(&self) -> &B {
        &self.buffer
    }
}
