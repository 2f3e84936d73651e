use wgpu::util::DeviceExt;

use super::device::{Gpu, Wgpu};
use super::memory::Counted;
use super::tensor::Tensor;
use crate::{Error, Result};

/// One compute entry point of a WGSL file in `shaders/`.
///
/// Binding convention, shared by every kernel: `@binding(0)` is the kernel's uniform parameter
/// struct, then `@binding(1..)` the storage buffers in the order the dispatch passes them.
pub struct Kernel {
    /// Unique name; the pipeline cache is keyed by it.
    pub name: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
}

/// Declares a `Kernel` from a file in `shaders/` and an entry point, optionally after shared
/// WGSL files it calls into (WGSL has no includes).
macro_rules! kernel {
    ($file:literal, $entry:literal $(, uses $lib:literal)*) => {
        $crate::gpu::Kernel {
            name: concat!($file, "::", $entry $(, "+", $lib)*),
            source: concat!(
                $(include_str!(concat!("../../shaders/", $lib)),)*
                include_str!(concat!("../../shaders/", $file))
            ),
            entry: $entry,
        }
    };
}
pub(crate) use kernel;

/// A grid of workgroups, already checked against the device's per-dimension limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workgroups(pub [u32; 3]);

impl Workgroups {
    /// Enough workgroups of `size` threads to give `threads` threads one index each. Past the
    /// per-dimension limit the grid wraps into y; shaders rebuild the index as
    /// `id.x + id.y * num_workgroups.x * size`.
    pub fn linear(gpu: &Gpu, threads: usize, size: u32) -> Result<Workgroups> {
        let groups = threads.div_ceil(size as usize);
        let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
        let (x, y) = if groups <= max { (groups, 1) } else { (max, groups.div_ceil(max)) };
        Workgroups::grid(gpu, [x, y, 1])
    }

    pub fn grid(gpu: &Gpu, groups: [usize; 3]) -> Result<Workgroups> {
        let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::TooLarge(format!(
                "{groups:?} workgroups exceed the device's {max} per dimension"
            )));
        }
        Ok(Workgroups(groups.map(|g| g as u32)))
    }
}

/// What makes two dispatches identical: the kernel, its parameters and its buffers.
#[derive(PartialEq)]
pub(crate) struct BindingKey {
    kernel: &'static str,
    params: Vec<u8>,
    buffers: Vec<wgpu::Buffer>,
}

/// A dispatch's bind group and its uniform buffer, kept for the next identical one.
pub(crate) struct Bound {
    key: BindingKey,
    group: wgpu::BindGroup,
    /// Held (the bind group would keep it alive anyway) so that it counts as live.
    _uniform: Counted<wgpu::Buffer>,
}

/// The bytes of a parameter struct, padded to the 16-byte multiple uniform buffers want.
fn params_bytes<P: bytemuck::Pod>(params: &P) -> Vec<u8> {
    let mut bytes = bytemuck::bytes_of(params).to_vec();
    bytes.resize(bytes.len().div_ceil(16) * 16, 0);
    bytes
}

impl Gpu {
    /// Records one dispatch of `kernel` with its parameters and buffers into the pending commands.
    /// The pipeline is compiled on first use and cached for the life of the device. `out`, the
    /// tensor the dispatch writes, keeps the uniform buffer and bind group it made, so that a
    /// forward pass repeated over the same tensors allocates nothing (and they go with `out`).
    pub(crate) fn dispatch<P: bytemuck::Pod>(
        &self,
        kernel: &Kernel,
        params: &P,
        buffers: &[&wgpu::Buffer],
        workgroups: Workgroups,
        out: &Tensor,
    ) -> Result<()> {
        let w = self.wgpu().ok_or_else(|| {
            Error::Invalid(format!(
                "{} has no plain-Rust path on the reference device",
                kernel.name
            ))
        })?;
        let pipeline = self.pipeline(w, kernel);
        let key = BindingKey {
            kernel: kernel.name,
            params: params_bytes(params),
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
        };
        let mut slot = out.bound.lock().unwrap_or_else(|e| e.into_inner());
        let bound = match slot.take() {
            Some(bound) if bound.key == key => bound,
            _ => self.bind(w, &pipeline, key),
        };
        let [x, y, z] = workgroups.0;
        self.count(|s| {
            s.dispatches += 1;
            s.compute_passes += 1;
        });
        self.record(w, |encoder| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bound.group, &[]);
            pass.dispatch_workgroups(x, y, z);
        });
        *slot = Some(bound);
        self.check()
    }

    /// A uniform buffer holding the parameters and the bind group of one dispatch.
    fn bind(&self, w: &Wgpu, pipeline: &wgpu::ComputePipeline, key: BindingKey) -> Bound {
        let uniform = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(key.kernel),
            contents: &key.params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&uniform)
            .chain(&key.buffers)
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let group = w.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(key.kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let uniform = Counted::new(&self.live, uniform, key.params.len() as u64);
        self.count(|s| {
            s.bind_groups_created += 1;
            s.bytes_uploaded += key.params.len() as u64;
        });
        Bound { key, group, _uniform: uniform }
    }

    /// A read-only storage buffer holding `data` (small per-dispatch inputs such as token ids,
    /// or quantized weights).
    pub(crate) fn upload<T: bytemuck::Pod>(&self, data: &[T]) -> Result<Counted<wgpu::Buffer>> {
        let w = self.wgpu().ok_or_else(|| {
            Error::Invalid("uploads are for GPU kernels, not the reference device".into())
        })?;
        let buffer = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bytes = std::mem::size_of_val(data) as u64;
        self.count(|s| s.bytes_uploaded += bytes);
        Ok(Counted::new(&self.live, buffer, bytes))
    }

    /// The buffer of an optional input, or a placeholder bound in its place when absent.
    pub(crate) fn optional<'a>(&'a self, input: Option<&'a Tensor>) -> Result<&'a wgpu::Buffer> {
        match input {
            Some(t) => t.buffer(),
            None => self.placeholder(),
        }
    }

    /// A buffer bound where a kernel's optional input is absent; never read.
    pub(crate) fn placeholder(&self) -> Result<&wgpu::Buffer> {
        match self.wgpu() {
            Some(w) => Ok(&w.placeholder),
            None => Err(Error::Invalid("the reference device binds no buffers".into())),
        }
    }

    fn pipeline(&self, w: &Wgpu, kernel: &Kernel) -> wgpu::ComputePipeline {
        let mut cache = w.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(kernel.name)
            .or_insert_with(|| {
                let module = w.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.name),
                    source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                });
                w.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.name),
                    layout: None,
                    module: &module,
                    entry_point: Some(kernel.entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::activation::{activation, Activation};
    use crate::testing::*;
    use crate::{Gpu, Stats, Tensor};

    fn group(t: &Tensor) -> Option<wgpu::BindGroup> {
        t.bound.lock().unwrap().as_ref().map(|b| b.group.clone())
    }

    gpu_tests! {
        async fn a_repeated_dispatch_reuses_its_bind_group() {
            let gpu = gpu().await;
            let mut rng = Rng::new(3);
            let (x, _) = random(gpu, &mut rng, &[7, 33]);
            let (other, _) = random(gpu, &mut rng, &[7, 33]);
            let out = poisoned(gpu, &[7, 33]);
            activation(gpu, Activation::Relu, &x, &out).unwrap();
            let first = group(&out);
            assert!(first.is_some());
            activation(gpu, Activation::Relu, &x, &out).unwrap();
            assert_eq!(group(&out), first, "the same dispatch made a new bind group");
            activation(gpu, Activation::Sigmoid, &x, &out).unwrap();
            let sigmoid = group(&out);
            assert_ne!(sigmoid, first, "new parameters need a new uniform buffer");
            activation(gpu, Activation::Sigmoid, &other, &out).unwrap();
            assert_ne!(group(&out), sigmoid, "a new input needs a new bind group");
            out.read(gpu).await.unwrap();
        }

        async fn the_counters_see_each_dispatch_creation_and_transfer() {
            // A device of its own, so that no other test's work lands between two readings.
            let gpu = &Gpu::new().await.unwrap();
            let mut rng = Rng::new(4);
            let start = gpu.stats();
            let (x, _) = random(gpu, &mut rng, &[7, 33]);
            let out = Tensor::zeros(gpu, &[7, 33]).unwrap();
            let made = gpu.stats() - start;
            let tensor_bytes = 7 * 33 * 4;
            let want = Stats { buffers_created: 2, bytes_uploaded: tensor_bytes, ..Stats::default() };
            assert_eq!(made, want, "two tensors, one uploaded");

            // First dispatch: a uniform buffer and a bind group; then one submission and a
            // read-back copy for the read.
            let before = gpu.stats();
            activation(gpu, Activation::Relu, &x, &out).unwrap();
            out.read(gpu).await.unwrap();
            let first = gpu.stats() - before;
            assert_eq!((first.dispatches, first.compute_passes, first.bind_groups_created), (1, 1, 1));
            assert_eq!((first.buffers_created, first.submissions), (2, 1), "{first:?}");
            assert_eq!((first.read_backs, first.bytes_read_back), (1, tensor_bytes));
            assert!(first.bytes_uploaded >= 16 && first.bytes_uploaded % 16 == 0, "{first:?}");

            // The same step again makes nothing and uploads nothing.
            let before = gpu.stats();
            for _ in 0..3 {
                activation(gpu, Activation::Relu, &x, &out).unwrap();
            }
            out.read(gpu).await.unwrap();
            let again = gpu.stats() - before;
            let want = Stats {
                dispatches: 3,
                compute_passes: 3,
                submissions: 1,
                read_backs: 1,
                bytes_read_back: tensor_bytes,
                ..Stats::default()
            };
            assert_eq!(again, want);

            // A write is an upload of its bytes.
            let before = gpu.stats();
            x.write(gpu, &vec![0.5; 7 * 33]).unwrap();
            assert_eq!((gpu.stats() - before).bytes_uploaded, tensor_bytes);
        }
    }
}
