//! Recovery from a failed device. A lost device (a driver reset, the GPU taken by another tab)
//! or an out-of-memory error is reported by the call that meets it; the next call on any model
//! makes a new device and reloads that model onto it from the bytes it was loaded from.

use std::cell::RefCell;
use std::rc::Rc;

use crate::{Gpu, Result};

/// The device a Lab's models run on now, replaced when it has failed.
#[derive(Clone)]
pub(crate) struct Device(Rc<RefCell<Rc<Gpu>>>);

impl Device {
    pub fn new(gpu: Gpu) -> Device {
        Device(Rc::new(RefCell::new(Rc::new(gpu))))
    }

    pub fn current(&self) -> Rc<Gpu> {
        self.0.borrow().clone()
    }

    /// A working device in place of `failed`: the current one if another model has already
    /// replaced `failed`, else a new one of the same kind.
    async fn replace(&self, failed: &Rc<Gpu>) -> Result<Rc<Gpu>> {
        let current = self.current();
        if !Rc::ptr_eq(&current, failed) && current.check().is_ok() {
            return Ok(current);
        }
        let fresh =
            Rc::new(if failed.is_reference() { Gpu::reference() } else { Gpu::new().await? });
        *self.0.borrow_mut() = fresh.clone();
        Ok(fresh)
    }
}

type Loader<M> = Box<dyn Fn(&Gpu) -> Result<M>>;

/// A model on a Lab's device, with what it takes to load it again onto a new one.
pub(crate) struct OnDevice<M> {
    device: Device,
    gpu: Rc<Gpu>,
    model: M,
    load: Loader<M>,
}

impl<M> OnDevice<M> {
    /// Loads the model with `load` (which keeps what it needs, such as the weights' bytes).
    pub fn new(device: &Device, load: impl Fn(&Gpu) -> Result<M> + 'static) -> Result<Self> {
        let model = load(&device.current())?;
        Ok(OnDevice::loaded(device, model, load))
    }

    /// A model already loaded on the device's current `Gpu`.
    pub fn loaded(device: &Device, model: M, load: impl Fn(&Gpu) -> Result<M> + 'static) -> Self {
        OnDevice { device: device.clone(), gpu: device.current(), model, load: Box::new(load) }
    }

    /// The device and the model, reloaded first onto a new device if its own has failed; the
    /// flag says whether it was (state kept beside the model, such as caches, is gone).
    pub async fn get(&mut self) -> Result<(&Gpu, &mut M, bool)> {
        let revived = self.gpu.check().is_err();
        if revived {
            let gpu = self.device.replace(&self.gpu).await?;
            self.model = (self.load)(&gpu)?;
            self.gpu = gpu;
        }
        Ok((&self.gpu, &mut self.model, revived))
    }

    /// The device the model is on now, whether or not it still works.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The model as it is, for what needs no device (its sizes, say).
    pub fn model(&self) -> &M {
        &self.model
    }
}
