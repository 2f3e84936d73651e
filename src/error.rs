use std::fmt;

/// Everything that can go wrong, as a value: nothing in this crate panics on bad input.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No WebGPU (browser) or Vulkan (native) adapter could be found.
    NoAdapter(String),
    /// The adapter refused to give us a device, or the device reported an error.
    Gpu(String),
    /// The device is gone (a driver reset, the GPU taken away, or destroyed): work on it fails
    /// until a new device is made.
    DeviceLost(String),
    /// The device ran out of memory.
    OutOfMemory(String),
    /// Shapes that do not fit together, or parameters out of range.
    Invalid(String),
    /// A tensor or dispatch larger than the device allows.
    TooLarge(String),
    /// A training run whose loss became NaN or infinite: its weights are lost, and the message
    /// says what to try.
    Diverged(String),
    /// A model this crate cannot run: a malformed file or one of an unsupported kind, or a model
    /// the device cannot run (the chat model on the reference device).
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter(m) => write!(f, "no GPU adapter: {m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
            Error::DeviceLost(m) => write!(f, "the device was lost: {m}"),
            Error::OutOfMemory(m) => write!(f, "the device is out of memory: {m}"),
            Error::Invalid(m) => write!(f, "invalid input: {m}"),
            Error::TooLarge(m) => write!(f, "too large for this device: {m}"),
            Error::Unsupported(m) => write!(f, "not a model this package can load: {m}"),
            Error::Diverged(m) => write!(f, "training diverged: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error as met while loading a model file: bad input there means the file is not one
    /// we can load, not a bad argument.
    pub fn in_model_file(self) -> Error {
        match self {
            Error::Invalid(m) => Error::Unsupported(m),
            e => e,
        }
    }
}

/// Shorthand for returning `Err(Error::Invalid(..))` with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => { return Err($crate::Error::Invalid(format!($($arg)*))) };
}
pub(crate) use invalid;
