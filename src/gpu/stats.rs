//! Counts of the work around the arithmetic: how many dispatches, passes and submissions a
//! device ran, how many buffers and bind groups it made, and how many bytes crossed between
//! the CPU and the GPU. On small models these decide the speed as much as the kernels do, and
//! unlike timings they are the same on every adapter, so tests can hold them.

use std::ops::Sub;

/// Totals since the device was made; `later - earlier` is what happened in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Kernel dispatches recorded.
    pub dispatches: u64,
    /// Compute passes the kernels opened (the benchmark timer's own are not counted).
    pub compute_passes: u64,
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Buffers made: tensors, uniform buffers, uploads, read-back copies (CPU arrays on the
    /// reference device).
    pub buffers_created: u64,
    pub bind_groups_created: u64,
    /// Bytes written from the CPU into GPU buffers (new tensors, writes, uploads, parameters).
    pub bytes_uploaded: u64,
    /// Tensor reads that waited for the GPU, and their bytes.
    pub read_backs: u64,
    pub bytes_read_back: u64,
}

impl Sub for Stats {
    type Output = Stats;

    fn sub(self, earlier: Stats) -> Stats {
        Stats {
            dispatches: self.dispatches - earlier.dispatches,
            compute_passes: self.compute_passes - earlier.compute_passes,
            submissions: self.submissions - earlier.submissions,
            buffers_created: self.buffers_created - earlier.buffers_created,
            bind_groups_created: self.bind_groups_created - earlier.bind_groups_created,
            bytes_uploaded: self.bytes_uploaded - earlier.bytes_uploaded,
            read_backs: self.read_backs - earlier.read_backs,
            bytes_read_back: self.bytes_read_back - earlier.bytes_read_back,
        }
    }
}

impl Stats {
    /// The counts as (name, value) pairs, named as JavaScript and the benchmarks' JSON show them.
    pub fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("dispatches", self.dispatches),
            ("computePasses", self.compute_passes),
            ("submissions", self.submissions),
            ("buffersCreated", self.buffers_created),
            ("bindGroupsCreated", self.bind_groups_created),
            ("bytesUploaded", self.bytes_uploaded),
            ("readBacks", self.read_backs),
            ("bytesReadBack", self.bytes_read_back),
        ]
    }
}
