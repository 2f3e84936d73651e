use wgpu::util::DeviceExt;

use std::sync::Mutex;

use super::device::{Gpu, Wgpu};
use super::memory::Counted;
use super::pool::{Pool, Reuse};
use super::tensor::Tensor;
use crate::{Error, Result};

/// One compute entry point of a WGSL file in `shaders/`, whose uniform parameters are a `P`.
///
/// Binding convention, shared by every kernel: `@binding(0)` is the kernel's uniform parameter
/// struct, then `@binding(1..)` the storage buffers in the order the dispatch passes them.
pub struct Kernel<P> {
    /// Unique name; the pipeline cache is keyed by it.
    pub name: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    pub params: std::marker::PhantomData<P>,
}

/// A kernel's uniform parameter struct, whose fields (names and byte offsets) must match the
/// WGSL struct at `@binding(0)` one for one (a test holds every kernel to it).
pub trait Params: bytemuck::Pod {
    const FIELDS: &'static [(&'static str, usize)];
}

/// Declares a `#[repr(C)]` parameter struct and its `Params` layout.
macro_rules! params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name { $($(#[$fmeta])* $field: $ty,)* }

        impl $crate::gpu::Params for $name {
            const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), std::mem::offset_of!($name, $field)),)*];
        }
    };
}
pub(crate) use params;

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
            params: std::marker::PhantomData,
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

/// What makes two dispatches share a bind group: the kernel and its buffers. Their parameters
/// are the bytes of its uniform buffer, rewritten when they change.
#[derive(PartialEq)]
pub(crate) struct BindingKey {
    kernel: &'static str,
    buffers: Vec<wgpu::Buffer>,
}

/// A dispatch's bind group and its uniform buffer.
pub(crate) struct Bound {
    group: wgpu::BindGroup,
    uniform: Counted<wgpu::Buffer>,
}

/// How many bindings one buffer keeps: SmolLM2's scratch buffers are each written by about 60
/// (kernel, weights) pairs a step.
const BINDINGS_KEPT: usize = 128;
/// How many small inputs (by size) the dispatches writing one buffer keep.
const INPUTS_KEPT: usize = 4;

/// What the dispatches that write one buffer keep while it lives: their bindings, and their small
/// inputs by size in bytes (see `Gpu::input`).
pub(crate) struct Writers {
    bindings: Mutex<Pool<BindingKey, Bound>>,
    inputs: Mutex<Pool<usize, Counted<wgpu::Buffer>>>,
}

impl Default for Writers {
    fn default() -> Writers {
        Writers {
            bindings: Mutex::new(Pool::new(BINDINGS_KEPT)),
            inputs: Mutex::new(Pool::new(INPUTS_KEPT)),
        }
    }
}

/// The bytes of a parameter struct, padded to the 16-byte multiple uniform buffers want.
fn params_bytes<P: bytemuck::Pod>(params: &P) -> Vec<u8> {
    let mut bytes = bytemuck::bytes_of(params).to_vec();
    bytes.resize(bytes.len().div_ceil(16) * 16, 0);
    bytes
}

impl Gpu {
    /// Records one dispatch of `kernel` with its parameters and buffers into the pending
    /// commands. The pipeline is compiled on first use and cached for the life of the device;
    /// the bind group and uniform buffer come from the pool of `owner` (see `pool.rs`), so that
    /// a repeated step makes none. The pool lives as long as its tensor's buffer, and what it
    /// keeps holds every buffer the dispatch binds: `owner` must be one that lives no longer
    /// than the others, usually the output; for a weight's gradient (which outlives every
    /// batch) the activation gradient it reads, so that its bindings go with that batch.
    pub(crate) fn dispatch<P: Params>(
        &self,
        kernel: &Kernel<P>,
        params: &P,
        buffers: &[&wgpu::Buffer],
        workgroups: Workgroups,
        owner: &Tensor,
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
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
        };
        let bytes = params_bytes(params);
        let mut writers = owner.writers()?.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let rewrite = |bound: &Bound, bytes: &[u8]| w.queue.write_buffer(&bound.uniform, 0, bytes);
        let make = |key: &BindingKey, bytes: &[u8]| self.bind(w, &pipeline, key, bytes);
        let [x, y, z] = workgroups.0;
        // The binding is chosen and recorded under one lock, so that no submission (from
        // another thread sharing the device) can fall between: the pool must know which
        // submission the dispatch belongs to, or it could rewrite parameters still pending.
        let reuse = self.record_dispatch(w, kernel.name, |submissions, pass| {
            let (bound, reuse) = writers.get(key, &bytes, submissions, rewrite, make);
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bound.group, &[]);
            pass.dispatch_workgroups(x, y, z);
            reuse
        });
        self.count(|s| {
            s.dispatches += 1;
            if reuse != Reuse::AsItWas {
                s.bytes_uploaded += bytes.len() as u64;
            }
        });
        self.check()
    }

    /// A uniform buffer holding the parameters and the bind group of one dispatch.
    fn bind(
        &self,
        w: &Wgpu,
        pipeline: &wgpu::ComputePipeline,
        key: &BindingKey,
        bytes: &[u8],
    ) -> Bound {
        let uniform = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(key.kernel),
            contents: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
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
        self.count(|s| s.bind_groups_created += 1);
        Bound { group, uniform: Counted::new(&self.live, uniform, bytes.len() as u64) }
    }

    /// A read-only storage buffer holding `data` for as long as the caller keeps it (quantized
    /// weights, say).
    pub(crate) fn upload<T: bytemuck::Pod>(&self, data: &[T]) -> Result<Counted<wgpu::Buffer>> {
        let w = self.wgpu_for("uploads")?;
        let buffer = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bytes = std::mem::size_of_val(data) as u64;
        self.count(|s| s.bytes_uploaded += bytes);
        Ok(Counted::new(&self.live, buffer, bytes))
    }

    /// A read-only storage buffer holding `data` for the next dispatch that writes `out` (token
    /// ids, a table of frequencies), from that tensor's pool of small inputs: the same bytes again
    /// come from the same buffer, and new bytes of a size seen before are written into one (see
    /// `pool.rs`). The buffers go with the tensor.
    pub(crate) fn input<T: bytemuck::Pod>(&self, out: &Tensor, data: &[T]) -> Result<wgpu::Buffer> {
        let w = self.wgpu_for("inputs")?;
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let rewrite =
            |buffer: &Counted<wgpu::Buffer>, bytes: &[u8]| w.queue.write_buffer(buffer, 0, bytes);
        let make = |_: &usize, bytes: &[u8]| {
            let buffer = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("input"),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            });
            Counted::new(&self.live, buffer, bytes.len() as u64)
        };
        let mut inputs = out.writers()?.inputs.lock().unwrap_or_else(|e| e.into_inner());
        let (buffer, reuse) = inputs.get(bytes.len(), bytes, self.submissions(), rewrite, make);
        if reuse != Reuse::AsItWas {
            self.count(|s| s.bytes_uploaded += bytes.len() as u64);
        }
        Ok(buffer.buffer.clone())
    }

    fn wgpu_for(&self, what: &str) -> Result<&Wgpu> {
        self.wgpu().ok_or_else(|| {
            Error::Invalid(format!("{what} are for GPU kernels, not the reference device"))
        })
    }

    /// The buffer of an optional input, or a placeholder bound in its place when absent.
    pub(crate) fn optional<'a>(&'a self, input: Option<&'a Tensor>) -> Result<&'a wgpu::Buffer> {
        match input {
            Some(t) => t.buffer(),
            None => self.placeholder(),
        }
    }

    /// The buffer of optional output `slot` (0 or 1) of a dispatch, or that slot's placeholder
    /// bound in its place when absent.
    pub(crate) fn optional_out<'a>(
        &'a self,
        output: Option<&'a Tensor>,
        slot: usize,
    ) -> Result<&'a wgpu::Buffer> {
        match output {
            Some(t) => t.buffer(),
            None => Ok(&self.wgpu_for("placeholders")?.placeholders_out[slot]),
        }
    }

    /// A buffer bound where a kernel's optional input is absent; never read.
    pub(crate) fn placeholder(&self) -> Result<&wgpu::Buffer> {
        match self.wgpu() {
            Some(w) => Ok(&w.placeholder),
            None => Err(Error::Invalid("the reference device binds no buffers".into())),
        }
    }

    fn pipeline<P>(&self, w: &Wgpu, kernel: &Kernel<P>) -> wgpu::ComputePipeline {
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
    use crate::ops::activation::{activation, activation_ref, Activation};
    use crate::testing::*;
    use crate::{Gpu, Stats, Tensor};

    gpu_tests! {
        async fn parameters_are_rewritten_only_where_no_pending_command_reads_them() {
            // A device of its own, so that no other test's work lands between two readings.
            let gpu = &Gpu::new().await.unwrap();
            let mut rng = Rng::new(3);
            let (x, host) = random(gpu, &mut rng, &[7, 33]);
            let (out, kept) = (poisoned(gpu, &[7, 33]), poisoned(gpu, &[7, 33]));
            let want = |act| activation_ref(act, &host);
            let made = |since: Stats| {
                let d = gpu.stats() - since;
                (d.buffers_created, d.bind_groups_created)
            };

            // Relu, kept by a copy, then sigmoid into the same tensor before any submission:
            // the relu's parameters are pending, so the sigmoid needs a uniform of its own.
            let before = gpu.stats();
            activation(gpu, Activation::Relu, &x, &out).unwrap();
            kept.copy_from(gpu, &out, 0).unwrap();
            activation(gpu, Activation::Sigmoid, &x, &out).unwrap();
            assert_eq!(made(before), (2, 2));
            assert_eq!(kept.read(gpu).await.unwrap(), want(Activation::Relu));
            assert_close("sigmoid", &out.read(gpu).await.unwrap(), &want(Activation::Sigmoid), 1e-6, 1e-6);

            // Submitted: the same dispatches find theirs, and a third activation rewrites one.
            let before = gpu.stats();
            activation(gpu, Activation::Relu, &x, &out).unwrap();
            assert_eq!(out.read(gpu).await.unwrap(), want(Activation::Relu));
            activation(gpu, Activation::Tanh, &x, &out).unwrap();
            assert_close("tanh", &out.read(gpu).await.unwrap(), &want(Activation::Tanh), 1e-6, 1e-6);
            assert_eq!(made(before), (0, 0), "reused and rewritten, nothing made");
            assert_eq!((gpu.stats() - before).bytes_uploaded, 16, "one rewrite of 16 bytes");

            // A view writes through the same buffer's bindings; another input needs a new one.
            let before = gpu.stats();
            activation(gpu, Activation::Tanh, &x.view(&[231]).unwrap(), &out.view(&[231]).unwrap()).unwrap();
            assert_eq!(made(before), (0, 0), "a view made a binding of its own");
            let (other, other_host) = random(gpu, &mut rng, &[7, 33]);
            let before = gpu.stats();
            activation(gpu, Activation::Tanh, &other, &out).unwrap();
            assert_eq!(made(before), (1, 1));
            let got = out.read(gpu).await.unwrap();
            assert_close("tanh of another", &got, &activation_ref(Activation::Tanh, &other_host), 1e-6, 1e-6);
        }

        async fn small_inputs_are_rewritten_and_go_with_the_tensor_they_were_for() {
            use crate::ops::embedding::{embedding, embedding_ref};
            // A device of its own, so that only this test's buffers are counted.
            let gpu = &Gpu::new().await.unwrap();
            let empty = gpu.memory();
            let mut rng = Rng::new(6);
            let (table, host) = random(gpu, &mut rng, &[9, 5]);
            let out = poisoned(gpu, &[3, 5]);
            for ids in [[4, 0, 8], [1, 1, 7]] {
                let before = gpu.stats();
                embedding(gpu, &table, &ids, &out).unwrap();
                assert_eq!(out.read(gpu).await.unwrap(), embedding_ref(&host, 5, &ids));
                if ids[0] == 1 {
                    let made = gpu.stats() - before;
                    assert_eq!((made.buffers_created, made.bind_groups_created), (0, 0), "{made:?}");
                }
            }
            drop((table, out));
            assert_eq!(gpu.memory(), empty, "the ids' buffer outlived the tensor it was for");
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

            // The same step again makes nothing and uploads nothing; its dispatches share a pass.
            let before = gpu.stats();
            for _ in 0..3 {
                activation(gpu, Activation::Relu, &x, &out).unwrap();
            }
            out.read(gpu).await.unwrap();
            let again = gpu.stats() - before;
            let want = Stats {
                dispatches: 3,
                compute_passes: 1,
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
