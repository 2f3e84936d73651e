use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::oneshot;
use crate::{Error, Result};

/// What the page shows about the adapter it got.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

/// A device and queue, the pipelines compiled for it, and the commands not yet submitted.
///
/// Kernels record into one pending command encoder; the work is submitted when a result is
/// read back (or on `submit`), so a forward pass costs one submission, not one per kernel.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) limits: wgpu::Limits,
    adapter: AdapterSummary,
    pub(super) pipelines: Mutex<HashMap<&'static str, wgpu::ComputePipeline>>,
    pending: Mutex<Option<wgpu::CommandEncoder>>,
    /// Bound where a kernel's optional input (a bias, say) is absent; never read.
    pub(crate) placeholder: wgpu::Buffer,
    first_error: Arc<Mutex<Option<String>>>,
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
            lock(&sink).get_or_insert_with(|| e.to_string());
        }));
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("placeholder"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            limits: device.limits(),
            placeholder,
            device,
            queue,
            adapter: AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            },
            pipelines: Mutex::new(HashMap::new()),
            pending: Mutex::new(None),
            first_error,
        })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The most bytes one storage buffer can hold and be bound whole.
    pub fn max_storage_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Runs `record` on the pending command encoder, creating it if needed.
    pub(super) fn record(&self, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut pending = lock(&self.pending);
        let encoder = pending.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pending") })
        });
        record(encoder);
    }

    /// Submits every recorded command to the GPU queue.
    pub fn submit(&self) -> Result<()> {
        if let Some(encoder) = lock(&self.pending).take() {
            self.queue.submit([encoder.finish()]);
        }
        self.check()
    }

    /// Submits the recorded commands and waits until the GPU has finished all of them.
    pub async fn finish(&self) -> Result<()> {
        self.submit()?;
        let (tx, rx) = oneshot::channel();
        self.queue.on_submitted_work_done(move || tx.send(()));
        self.wait(rx).await;
        self.check()
    }

    /// Awaits a wgpu callback: natively the device must be polled for it to run.
    pub(super) async fn wait<T>(&self, rx: oneshot::Receiver<T>) -> T {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        rx.await
    }

    /// The first error the device reported, if any (validation, out of memory, device lost).
    pub fn check(&self) -> Result<()> {
        match lock(&self.first_error).as_ref() {
            Some(e) => Err(Error::Gpu(e.clone())),
            None => Ok(()),
        }
    }
}
