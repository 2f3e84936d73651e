use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use wgpu::util::DeviceExt;

use super::device::Gpu;
use super::kernel::Writers;
use super::memory::Counted;
use super::oneshot;
use crate::{Error, Result};

/// An f32 tensor: row-major, contiguous, never empty. It lives in a GPU storage buffer, or in
/// CPU memory on the reference device.
pub struct Tensor {
    storage: Storage,
    shape: Vec<usize>,
    /// Names the buffer: views of one buffer share it, so ops can refuse to write what they read.
    id: u64,
    /// The mappable buffer the last read went through, reused by the next.
    readback: Mutex<Option<Counted<wgpu::Buffer>>>,
}

/// Shared by a tensor and its views.
#[derive(Clone)]
enum Storage {
    Gpu(Arc<GpuBuffer>),
    Host(Arc<Counted<RwLock<Vec<f32>>>>),
}

/// A GPU buffer and the bindings of the dispatches that write it, which live as long as it.
struct GpuBuffer {
    buffer: Counted<wgpu::Buffer>,
    writers: Writers,
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Number of elements of `shape`, refusing empty and overflowing shapes and anything larger than
/// one storage binding of this device.
fn checked_len(gpu: &Gpu, shape: &[usize]) -> Result<usize> {
    if shape.is_empty() || shape.contains(&0) {
        return Err(Error::Invalid(format!("tensor shape {shape:?} has no elements")));
    }
    let too_large = || Error::TooLarge(format!("tensor of shape {shape:?} overflows memory"));
    let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(too_large)?;
    let bytes = (len as u64).checked_mul(4).ok_or_else(too_large)?;
    let max = gpu.max_storage_bytes();
    if bytes > max {
        return Err(Error::TooLarge(format!(
            "tensor of shape {shape:?} needs {bytes} bytes; this device binds at most {max}"
        )));
    }
    Ok(len)
}

fn unpoison<T>(lock: std::sync::LockResult<T>) -> T {
    lock.unwrap_or_else(|e| e.into_inner())
}

impl Tensor {
    fn wrap(storage: Storage, shape: &[usize], id: u64) -> Tensor {
        Tensor { storage, shape: shape.to_vec(), id, readback: Mutex::new(None) }
    }

    // wgpu's buffers are Send and Sync natively but not in the browser, where there is one thread.
    #[allow(clippy::arc_with_non_send_sync)]
    fn gpu_storage(gpu: &Gpu, buffer: wgpu::Buffer, len: usize) -> Storage {
        let buffer = Counted::new(&gpu.live, buffer, len as u64 * 4);
        Storage::Gpu(Arc::new(GpuBuffer { buffer, writers: Writers::default() }))
    }

    fn host_storage(gpu: &Gpu, data: Vec<f32>) -> Storage {
        let bytes = data.len() as u64 * 4;
        Storage::Host(Arc::new(Counted::new(&gpu.live, RwLock::new(data), bytes)))
    }

    /// Uploads `data` as a tensor of `shape`.
    pub fn from_slice(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let len = checked_len(gpu, shape)?;
        if data.len() != len {
            return Err(Error::Invalid(format!(
                "{} values given for shape {shape:?}, which holds {len}",
                data.len()
            )));
        }
        let storage = match gpu.wgpu() {
            None => Tensor::host_storage(gpu, data.to_vec()),
            Some(w) => {
                let buffer = w.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: None,
                    contents: bytemuck::cast_slice(data),
                    usage: USAGE,
                });
                gpu.count(|s| s.bytes_uploaded += len as u64 * 4);
                Tensor::gpu_storage(gpu, buffer, len)
            }
        };
        Ok(Tensor::wrap(storage, shape, next_id()))
    }

    /// A tensor of `shape` with every element `value`.
    pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
        let len = checked_len(gpu, shape)?;
        Tensor::from_slice(gpu, shape, &vec![value; len])
    }

    /// A zero-filled tensor of `shape` (WebGPU zero-initialises new buffers), for outputs.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        let len = checked_len(gpu, shape)?;
        let storage = match gpu.wgpu() {
            None => Tensor::host_storage(gpu, vec![0.0; len]),
            Some(w) => {
                let buffer = w.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: len as u64 * 4,
                    usage: USAGE,
                    mapped_at_creation: false,
                });
                Tensor::gpu_storage(gpu, buffer, len)
            }
        };
        Ok(Tensor::wrap(storage, shape, next_id()))
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The GPU buffer, for a dispatch; an error for a tensor in CPU memory.
    pub(crate) fn buffer(&self) -> Result<&wgpu::Buffer> {
        Ok(&self.gpu_buffer()?.buffer)
    }

    /// The bindings of the dispatches that write this tensor's buffer (through any view).
    pub(super) fn writers(&self) -> Result<&Writers> {
        Ok(&self.gpu_buffer()?.writers)
    }

    fn gpu_buffer(&self) -> Result<&GpuBuffer> {
        match &self.storage {
            Storage::Gpu(buffer) => Ok(buffer),
            Storage::Host(_) => Err(Error::Invalid(
                "a tensor of the reference device cannot be used on a GPU device".into(),
            )),
        }
    }

    /// The values of a tensor in CPU memory (on the reference device), for an op's reference.
    pub(crate) fn host(&self) -> Result<RwLockReadGuard<'_, Vec<f32>>> {
        match &self.storage {
            Storage::Host(values) => Ok(unpoison(values.read())),
            Storage::Gpu(_) => Err(Error::Invalid(
                "a tensor of a GPU device cannot be used on the reference device".into(),
            )),
        }
    }

    /// Replaces the values of a tensor in CPU memory with an op's reference result.
    pub(crate) fn set_host(&self, values: Vec<f32>) -> Result<()> {
        self.set_host_range(0, &values)
    }

    pub(crate) fn set_host_range(&self, offset: usize, values: &[f32]) -> Result<()> {
        let Storage::Host(host) = &self.storage else {
            return Err(Error::Invalid("a GPU tensor was written as a CPU one".into()));
        };
        let mut host = unpoison(host.write());
        let Some(dst) = host.get_mut(offset..offset + values.len()) else {
            return Err(Error::Invalid(format!(
                "{} values do not fit at {offset} of a tensor of shape {:?}",
                values.len(),
                self.shape
            )));
        };
        dst.copy_from_slice(values);
        Ok(())
    }

    /// True when both tensors are (views of) one buffer.
    pub(crate) fn same_buffer(&self, other: &Tensor) -> bool {
        self.id == other.id
    }

    /// The same buffer seen with another shape of as many elements (a flatten, say).
    pub fn view(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() || shape.contains(&0) {
            return Err(Error::Invalid(format!("cannot view {:?} as {shape:?}", self.shape)));
        }
        Ok(Tensor::wrap(self.storage.clone(), shape, self.id))
    }

    /// Replaces the contents, in order with the commands already recorded.
    pub fn write(&self, gpu: &Gpu, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::Invalid(format!(
                "{} values written to a tensor of shape {:?}",
                data.len(),
                self.shape
            )));
        }
        let Some(w) = gpu.wgpu() else {
            return self.set_host(data.to_vec());
        };
        // The queue writes before the next submission's commands: submit the ones recorded so
        // far first, so that they still see the old contents.
        gpu.submit()?;
        w.queue.write_buffer(self.buffer()?, 0, bytemuck::cast_slice(data));
        gpu.count(|s| s.bytes_uploaded += data.len() as u64 * 4);
        Ok(())
    }

    /// Copies all of `src` into this tensor from element `offset` on, in order with the commands
    /// already recorded (a KV cache append, say).
    pub fn copy_from(&self, gpu: &Gpu, src: &Tensor, offset: usize) -> Result<()> {
        self.copy_range(gpu, src, 0..src.numel(), offset)
    }

    /// Copies elements `range` of `src` into this tensor from element `offset` on.
    pub fn copy_range(
        &self,
        gpu: &Gpu,
        src: &Tensor,
        range: Range<usize>,
        offset: usize,
    ) -> Result<()> {
        let len = range.end.saturating_sub(range.start);
        let in_src = range.start <= range.end && range.end <= src.numel();
        let in_dst = offset.checked_add(len).is_some_and(|end| end <= self.numel());
        if !(in_src && in_dst) {
            return Err(Error::Invalid(format!(
                "elements {range:?} of a tensor of shape {:?} do not fit at offset {offset} of one of shape {:?}",
                src.shape, self.shape
            )));
        }
        let Some(w) = gpu.wgpu() else {
            // Copied out first: source and destination may be one array.
            let values = src.host()?[range].to_vec();
            return self.set_host_range(offset, &values);
        };
        let (from, at, size) = (range.start as u64 * 4, offset as u64 * 4, len as u64 * 4);
        let (src, dst) = (src.buffer()?, self.buffer()?);
        gpu.record(w, |encoder| encoder.copy_buffer_to_buffer(src, from, dst, at, size));
        Ok(())
    }

    /// Submits the pending work and copies the tensor back to the CPU.
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.read_range(gpu, 0..self.numel()).await
    }

    /// Submits the pending work and copies elements `range` back (the last row of logits, say).
    pub async fn read_range(&self, gpu: &Gpu, range: Range<usize>) -> Result<Vec<f32>> {
        if range.start >= range.end || range.end > self.numel() {
            return Err(Error::Invalid(format!(
                "elements {range:?} are not a range of a tensor of shape {:?}",
                self.shape
            )));
        }
        let Some(w) = gpu.wgpu() else {
            return Ok(self.host()?[range].to_vec());
        };
        let (from, size) = (range.start as u64 * 4, range.len() as u64 * 4);
        // The mappable copy is kept for the next read of the same size; one already in use (an
        // overlapping read of this tensor) is not shared, a new one is made instead.
        let taken = unpoison(self.readback.lock()).take();
        let staging = taken.filter(|b| b.size() == size).unwrap_or_else(|| {
            let buffer = w.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("read back"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            Counted::new(&gpu.live, buffer, size)
        });
        let src = self.buffer()?;
        gpu.record(w, |encoder| encoder.copy_buffer_to_buffer(src, from, &staging, 0, size));
        gpu.submit()?;
        let (tx, rx) = oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
        // A read-back fails when the device is lost (before its lost callback may have run).
        let failed = |e: &dyn std::fmt::Display| {
            gpu.check()
                .err()
                .unwrap_or_else(|| Error::DeviceLost(format!("reading a tensor back failed ({e})")))
        };
        gpu.wait(w, rx).await.map_err(|e| failed(&e))?;
        gpu.check()?;
        let values = {
            let view = staging.get_mapped_range(..).map_err(|e| failed(&e))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        staging.unmap();
        *unpoison(self.readback.lock()) = Some(staging);
        gpu.count(|s| {
            s.read_backs += 1;
            s.bytes_read_back += size;
        });
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    gpu_tests! {
        async fn round_trip_write_and_copy() {
            let gpu = gpu().await;
            let mut rng = Rng::new(1);
            let (src, host) = random(gpu, &mut rng, &[7, 33]);
            assert_eq!(src.read(gpu).await.unwrap(), host);
            let replaced = rng.vec(7 * 33);
            src.write(gpu, &replaced).unwrap();
            let dst = poisoned(gpu, &[9, 33]);
            dst.copy_from(gpu, &src, 33).unwrap();
            let got = dst.read(gpu).await.unwrap();
            assert_eq!(&got[33..8 * 33], &replaced[..]);
            assert!(got[..33].iter().chain(&got[8 * 33..]).all(|v| v.is_nan()), "copied outside");

            // A range of a flat view lands where asked and nowhere else.
            let flat = dst.view(&[9 * 33]).unwrap();
            let target = poisoned(gpu, &[40]);
            target.copy_range(gpu, &flat, 40..70, 5).unwrap();
            let got = target.read(gpu).await.unwrap();
            assert_eq!(&got[5..35], &replaced[7..37]);
            assert!(got[..5].iter().chain(&got[35..]).all(|v| v.is_nan()), "copied outside");
            assert_eq!(target.read_range(gpu, 6..9).await.unwrap(), &replaced[8..11]);
            assert_eq!(target.read_range(gpu, 30..35).await.unwrap(), &replaced[32..37]);
            assert!(target.read_range(gpu, 30..41).await.is_err());
            assert!(target.read_range(gpu, 3..3).await.is_err());
        }

        async fn bad_sizes_are_errors() {
            let gpu = gpu().await;
            let invalid = |r: Result<Tensor>| matches!(r, Err(Error::Invalid(_)));
            let too_large = |r: Result<Tensor>| matches!(r, Err(Error::TooLarge(_)));
            assert!(invalid(Tensor::zeros(gpu, &[])));
            assert!(invalid(Tensor::zeros(gpu, &[3, 0, 2])));
            assert!(invalid(Tensor::from_slice(gpu, &[2, 3], &[1.0; 5])));
            assert!(too_large(Tensor::zeros(gpu, &[usize::MAX, 2])));
            let limit = gpu.max_storage_bytes();
            assert!(too_large(Tensor::zeros(gpu, &[(limit / 4 + 1) as usize])));
            let t = Tensor::zeros(gpu, &[4, 4]).unwrap();
            assert!(matches!(t.write(gpu, &[0.0; 15]), Err(Error::Invalid(_))));
            let small = Tensor::zeros(gpu, &[2, 4]).unwrap();
            assert!(matches!(t.copy_from(gpu, &small, 9), Err(Error::Invalid(_))));
            assert!(matches!(t.copy_from(gpu, &small, usize::MAX), Err(Error::Invalid(_))));
            assert!(matches!(t.copy_range(gpu, &small, 5..9, 0), Err(Error::Invalid(_))));
            let reversed = Range { start: 3, end: 2 };
            assert!(matches!(t.copy_range(gpu, &small, reversed, 0), Err(Error::Invalid(_))));
            assert!(matches!(t.view(&[3, 5]), Err(Error::Invalid(_))));
            let view = t.view(&[16]).unwrap();
            let relu = crate::ops::activation::Activation::Relu;
            let in_place = crate::ops::activation::activation(gpu, relu, &t, &view);
            assert!(matches!(in_place, Err(Error::Invalid(_))), "a view aliases its tensor");
            gpu.check().unwrap();
        }

        async fn dispatch_beyond_the_workgroup_limit_is_an_error() {
            // One workgroup per batch along z: more batches than the device allows per dimension.
            let gpu = gpu().await;
            let batches = gpu.limits.max_compute_workgroups_per_dimension as usize + 1;
            let a = Tensor::zeros(gpu, &[batches, 1, 1]).unwrap();
            let b = Tensor::zeros(gpu, &[1, 1]).unwrap();
            let out = Tensor::zeros(gpu, &[batches, 1, 1]).unwrap();
            let r = crate::ops::matmul(gpu, &a, &b, None, false, &out);
            assert!(matches!(r, Err(Error::TooLarge(_))));
            gpu.check().unwrap();
        }
    }
}
