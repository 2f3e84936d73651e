use std::fmt;

/// Everything that can go wrong, as a value: nothing in this crate panics on bad input.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No WebGPU (browser) or Vulkan (native) adapter could be found.
    NoAdapter(String),
    /// The adapter refused to give us a device, or the device reported an error.
    Gpu(String),
    /// Shapes that do not fit together, or parameters out of range.
    Invalid(String),
    /// A tensor or dispatch larger than the device allows.
    TooLarge(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter(m) => write!(f, "no GPU adapter: {m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
            Error::Invalid(m) => write!(f, "invalid input: {m}"),
            Error::TooLarge(m) => write!(f, "too large for this device: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for returning `Err(Error::Invalid(..))` with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => { return Err($crate::Error::Invalid(format!($($arg)*))) };
}
pub(crate) use invalid;
