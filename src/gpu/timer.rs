//! GPU timestamps around recorded work, for the benchmarks. Each span is an empty compute pass
//! that writes a timestamp before the work and another after it: pass timestamps are all that
//! WebGPU offers, and an empty pass needs no pipeline.

use super::device::{Gpu, Wgpu};
use super::oneshot;
use crate::{Error, Result};

/// Timestamps for up to `spans` intervals of work, read back in milliseconds.
pub struct Timer {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    spans: u32,
}

impl Gpu {
    /// Whether this device writes GPU timestamps (the adapter offered them).
    pub fn has_timestamps(&self) -> bool {
        self.wgpu().is_some_and(|w| w.device.features().contains(wgpu::Features::TIMESTAMP_QUERY))
    }
}

impl Timer {
    /// A timer for `spans` intervals, or `None` where the device has no timestamps.
    pub fn new(gpu: &Gpu, spans: u32) -> Option<Timer> {
        let w = gpu.wgpu()?;
        if !gpu.has_timestamps() || spans == 0 {
            return None;
        }
        let bytes = u64::from(spans) * 16;
        let buffer = |label, usage| {
            w.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        Some(Timer {
            queries: w.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timer"),
                ty: wgpu::QueryType::Timestamp,
                count: spans * 2,
            }),
            resolved: buffer("timer resolve", U::QUERY_RESOLVE | U::COPY_SRC),
            readback: buffer("timer read back", U::MAP_READ | U::COPY_DST),
            spans,
        })
    }

    /// Records the start of span `span` into the pending commands.
    pub fn begin(&self, gpu: &Gpu, span: u32) {
        self.mark(gpu, span * 2);
    }

    /// Records the end of span `span`: after everything recorded since its `begin`.
    pub fn end(&self, gpu: &Gpu, span: u32) {
        self.mark(gpu, span * 2 + 1);
    }

    fn mark(&self, gpu: &Gpu, index: u32) {
        let Some(w) = gpu.wgpu() else { return };
        gpu.record(w, |encoder| {
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("timestamp"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &self.queries,
                    beginning_of_pass_write_index: Some(index),
                    end_of_pass_write_index: None,
                }),
            });
        });
    }

    /// Submits the pending work, waits for it and returns the length of the first `spans`
    /// spans in milliseconds.
    pub async fn read_ms(&self, gpu: &Gpu, spans: u32) -> Result<Vec<f64>> {
        if spans == 0 || spans > self.spans {
            return Err(Error::Invalid(format!("{spans} spans of a timer for {}", self.spans)));
        }
        let w: &Wgpu = gpu.wgpu().ok_or_else(|| Error::Invalid("no timer without a GPU".into()))?;
        let bytes = u64::from(spans) * 16;
        gpu.record(w, |encoder| {
            encoder.resolve_query_set(&self.queries, 0..spans * 2, &self.resolved, 0);
            encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, bytes);
        });
        gpu.submit()?;
        let (tx, rx) = oneshot::channel();
        self.readback.map_async(wgpu::MapMode::Read, ..bytes, move |r| tx.send(r));
        let failed = |e: &dyn std::fmt::Display| Error::Gpu(format!("reading timestamps: {e}"));
        gpu.wait(w, rx).await.map_err(|e| failed(&e))?;
        gpu.check()?;
        let ticks: Vec<u64> = {
            let view = self.readback.get_mapped_range(..bytes).map_err(|e| failed(&e))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        self.readback.unmap();
        let ns_per_tick = f64::from(w.queue.get_timestamp_period());
        Ok(ticks.chunks(2).map(|t| t[1].saturating_sub(t[0]) as f64 * ns_per_tick / 1e6).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Timer;
    use crate::ops::activation::{activation, Activation};
    use crate::testing::*;

    gpu_tests! {
        async fn spans_time_the_work_recorded_between_them() {
            let gpu = gpu().await;
            let Some(timer) = Timer::new(gpu, 2) else {
                assert!(!gpu.has_timestamps(), "a device with timestamps made no timer");
                return;
            };
            let mut rng = Rng::new(5);
            let (x, _) = random(gpu, &mut rng, &[257, 65]);
            let out = poisoned(gpu, &[257, 65]);
            for span in 0..2 {
                timer.begin(gpu, span);
                activation(gpu, Activation::Gelu, &x, &out).unwrap();
                timer.end(gpu, span);
            }
            let ms = timer.read_ms(gpu, 2).await.unwrap();
            assert!(ms.len() == 2 && ms.iter().all(|m| m.is_finite() && *m >= 0.0), "{ms:?}");
            assert!(timer.read_ms(gpu, 3).await.is_err(), "read more spans than it holds");
        }
    }
}
