use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::memory::{Live, Memory};
use super::oneshot;
use super::stats::Stats;
use crate::{Error, Result};

/// What the page shows about the adapter it got.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

/// Where ops run: a WebGPU/Vulkan device with our kernels compiled for it, or, where there is
/// no adapter, the reference device, on which every op runs its plain-Rust reference on the CPU
/// (slower, but the small models still work).
///
/// Kernels record into one pending command encoder, in one compute pass until a copy needs the
/// encoder; the work is submitted when a result is read back (or on `submit`), so a forward
/// pass costs one submission, not one per kernel.
pub struct Gpu {
    /// `None` on the reference device.
    wgpu: Option<Wgpu>,
    pub(super) limits: wgpu::Limits,
    adapter: AdapterSummary,
    pub(super) live: Arc<Live>,
    /// What `stats()` reports, but for the buffers made, which `live` counts.
    counts: Mutex<Stats>,
    first_error: Arc<Mutex<Option<Error>>>,
}

/// The wgpu half of a `Gpu`.
pub(super) struct Wgpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub pipelines: Mutex<HashMap<&'static str, wgpu::ComputePipeline>>,
    pending: Mutex<Option<Pending>>,
    /// Bound where a kernel's optional input (a bias, say) is absent; never read.
    pub placeholder: wgpu::Buffer,
    /// Bound where a kernel's optional outputs are absent; never written. Apart from the input's,
    /// and from each other: one dispatch may not bind a buffer it writes twice (WebGPU refuses
    /// writable aliasing), nor read through one binding a buffer it writes through another.
    pub placeholders_out: [wgpu::Buffer; 2],
}

/// Commands recorded and not yet submitted, and the compute pass the dispatches go into.
struct Pending {
    /// Dropped (ended) before the encoder is used for anything else.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: wgpu::CommandEncoder,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(target_arch = "wasm32")]
const NO_ADAPTER_HINT: &str = "this browser does not offer WebGPU (navigator.gpu), or it has no \
    usable GPU. Try a recent Chrome or Edge, or Firefox or Safari with WebGPU enabled.";
#[cfg(not(target_arch = "wasm32"))]
const NO_ADAPTER_HINT: &str = "no Vulkan adapter was found. Install a GPU driver, or Mesa's \
    software rasteriser lavapipe (Debian: mesa-vulkan-drivers libvulkan1).";

impl Gpu {
    /// Acquires the best adapter available (WebGPU in the browser, Vulkan natively) and a device
    /// with all the adapter's limits.
    pub async fn new() -> Result<Gpu> {
        // Without navigator.gpu, wgpu would fail later and less clearly.
        #[cfg(target_arch = "wasm32")]
        if !wgpu::util::is_browser_webgpu_supported().await {
            return Err(Error::NoAdapter(NO_ADAPTER_HINT.into()));
        }
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(format!("{NO_ADAPTER_HINT} ({e})")))?;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("genai-lab"),
                required_limits: limits.clone(),
                // For the benchmarks' GPU timings (gpu/timer.rs), where the adapter has them.
                required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("the adapter refused a device: {e}")))?;
        let info = adapter.get_info();
        let first_error = Arc::new(Mutex::new(None));
        let sink = first_error.clone();
        // wgpu's default handler panics; we keep the first error and report it as an `Err`.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).get_or_insert_with(|| match e {
                wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(e.to_string()),
                e => Error::Gpu(e.to_string()),
            });
        }));
        let lost = first_error.clone();
        device.set_device_lost_callback(move |reason, message| {
            lock(&lost).get_or_insert_with(|| Error::DeviceLost(format!("{reason:?}: {message}")));
        });
        let placeholder = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let placeholders_out =
            [placeholder("placeholder output 0"), placeholder("placeholder output 1")];
        let placeholder = placeholder("placeholder");
        Ok(Gpu {
            limits: device.limits(),
            wgpu: Some(Wgpu {
                placeholder,
                placeholders_out,
                device,
                queue,
                pipelines: Mutex::new(HashMap::new()),
                pending: Mutex::new(None),
            }),
            adapter: AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            },
            live: Arc::default(),
            counts: Mutex::default(),
            first_error,
        })
    }

    /// The reference device: no adapter, every op computed by its plain-Rust reference. Its
    /// limits are WebGPU's defaults, so that what fits here also fits any WebGPU device.
    pub fn reference() -> Gpu {
        Gpu {
            wgpu: None,
            limits: wgpu::Limits::default(),
            adapter: AdapterSummary {
                name: "plain Rust on the CPU".into(),
                backend: "reference".into(),
                device_type: "Cpu".into(),
                driver: String::new(),
            },
            live: Arc::default(),
            counts: Mutex::default(),
            first_error: Arc::default(),
        }
    }

    /// True on the reference device.
    pub fn is_reference(&self) -> bool {
        self.wgpu.is_none()
    }

    /// The wgpu device; `None` on the reference device.
    pub(super) fn wgpu(&self) -> Option<&Wgpu> {
        self.wgpu.as_ref()
    }

    /// The GPU buffers (or CPU arrays, on the reference device) that tensors and kernels hold
    /// now, and their bytes: flat across repeated calls, or something leaks.
    pub fn memory(&self) -> Memory {
        self.live.now()
    }

    /// The work this device has done so far (see `Stats`); subtract two readings to see what
    /// one step cost.
    pub fn stats(&self) -> Stats {
        Stats { buffers_created: self.live.made(), ..*lock(&self.counts) }
    }

    /// Adds to the counts.
    pub(super) fn count(&self, add: impl FnOnce(&mut Stats)) {
        add(&mut lock(&self.counts));
    }

    /// Frees the device and every buffer on it now; the next call on this `Gpu` is an error.
    pub fn destroy(&self) {
        if let Some(w) = &self.wgpu {
            // Said before the browser's lost callback runs, so that work failing meanwhile
            // already reports the loss.
            lock(&self.first_error).get_or_insert_with(|| Error::DeviceLost("destroyed".into()));
            w.device.destroy();
        }
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// A software adapter (lavapipe, SwiftShader): the kernels run on the CPU's cores, where
    /// what suits a GPU may not pay.
    pub fn is_software(&self) -> bool {
        !self.is_reference() && self.adapter.device_type == "Cpu"
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The most bytes one storage buffer can hold and be bound whole.
    pub fn max_storage_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// How many command buffers were submitted: the pending commands belong to the next.
    pub(super) fn submissions(&self) -> u64 {
        lock(&self.counts).submissions
    }

    fn pending<'a>(&self, w: &Wgpu, pending: &'a mut Option<Pending>) -> &'a mut Pending {
        pending.get_or_insert_with(|| Pending {
            pass: None,
            encoder: w
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pending") }),
        })
    }

    /// Runs `record` on the pending command encoder, ending the open compute pass.
    pub(super) fn record(&self, w: &Wgpu, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut pending = lock(&w.pending);
        let pending = self.pending(w, &mut pending);
        pending.pass = None;
        record(&mut pending.encoder);
    }

    /// Runs `record` in the open compute pass, opening one if needed, with the number of
    /// submissions made so far: the pending commands' lock is held throughout, so the commands
    /// `record` adds belong to the next submission whatever other threads do.
    pub(super) fn record_dispatch<R>(
        &self,
        w: &Wgpu,
        label: &str,
        record: impl FnOnce(u64, &mut wgpu::ComputePass<'static>) -> R,
    ) -> R {
        let mut pending = lock(&w.pending);
        let submissions = self.submissions();
        let Pending { pass, encoder } = self.pending(w, &mut pending);
        let pass = pass.get_or_insert_with(|| {
            self.count(|s| s.compute_passes += 1);
            let descriptor =
                wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None };
            encoder.begin_compute_pass(&descriptor).forget_lifetime()
        });
        record(submissions, pass)
    }

    /// Submits every recorded command to the GPU queue.
    pub fn submit(&self) -> Result<()> {
        if let Some(w) = &self.wgpu {
            // Counted before the lock goes, so that a dispatch recorded next sees the new count.
            let mut pending = lock(&w.pending);
            if let Some(Pending { pass, encoder }) = pending.take() {
                drop(pass);
                w.queue.submit([encoder.finish()]);
                self.count(|s| s.submissions += 1);
            }
        }
        self.check()
    }

    /// Submits the recorded commands and waits until the GPU has finished all of them.
    pub async fn finish(&self) -> Result<()> {
        self.submit()?;
        if let Some(w) = &self.wgpu {
            let (tx, rx) = oneshot::channel();
            w.queue.on_submitted_work_done(move || tx.send(()));
            self.wait(w, rx).await;
        }
        self.check()
    }

    /// Awaits a wgpu callback: natively the device must be polled for it to run.
    pub(super) async fn wait<T>(&self, w: &Wgpu, rx: oneshot::Receiver<T>) -> T {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = w.device.poll(wgpu::PollType::wait_indefinitely());
        #[cfg(target_arch = "wasm32")]
        let _ = w;
        rx.await
    }

    /// The first error the device reported, if any (validation, out of memory, device lost).
    pub fn check(&self) -> Result<()> {
        match lock(&self.first_error).as_ref() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::activation::{activation, Activation};
    use crate::testing::gpu_tests;
    use crate::Tensor;

    gpu_tests! {
        async fn a_lost_device_is_an_error_not_a_panic() {
            // A device of its own: the one the other tests share must live on.
            let gpu = Gpu::new().await.unwrap();
            let x = Tensor::from_slice(&gpu, &[3], &[1.0, -2.0, 3.0]).unwrap();
            let out = Tensor::zeros(&gpu, &[3]).unwrap();
            activation(&gpu, Activation::Relu, &x, &out).unwrap();
            assert_eq!(out.read(&gpu).await.unwrap(), [1.0, 0.0, 3.0]);
            gpu.destroy();
            let after = match activation(&gpu, Activation::Relu, &x, &out) {
                Ok(()) => out.read(&gpu).await.map(drop),
                Err(e) => Err(e),
            };
            assert!(matches!(after, Err(Error::DeviceLost(_))), "after destroy: {after:?}");
            let reported = gpu.check().unwrap_err();
            assert!(matches!(reported, Error::DeviceLost(_)), "{reported:?}");
            assert!(reported.to_string().contains("lost"), "{reported}");
            // A new device works.
            let fresh = Gpu::new().await.unwrap();
            let x = Tensor::from_slice(&fresh, &[3], &[1.0, -2.0, 3.0]).unwrap();
            let out = Tensor::zeros(&fresh, &[3]).unwrap();
            activation(&fresh, Activation::Relu, &x, &out).unwrap();
            assert_eq!(out.read(&fresh).await.unwrap(), [1.0, 0.0, 3.0]);
        }
    }
}
