//! The error type of botanu-core.

use std::fmt;

/// Errors returned when botanu is configured with values it cannot honour.
///
/// botanu never fails a request because of telemetry: every `Err` here is produced at
/// construction or installation time, where the application can still decide what to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A sampling ratio outside `[0, 1]`, or NaN.
    InvalidRatio(f64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidRatio(r) => {
                write!(f, "sampling ratio must be a number in [0, 1], got {r}")
            }
        }
    }
}

impl std::error::Error for Error {}
