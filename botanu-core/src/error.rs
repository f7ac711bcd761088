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
    /// A configuration value that cannot be used; `variable` names where it came from.
    Config {
        /// The environment variable (or setting) at fault.
        variable: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// `install()` was called when botanu is already installed in this process.
    AlreadyInstalled,
    /// The OTLP exporter could not be built.
    Exporter(String),
}

impl Error {
    pub(crate) fn config(variable: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            variable,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidRatio(r) => {
                write!(f, "sampling ratio must be a number in [0, 1], got {r}")
            }
            Error::Config { variable, message } => write!(f, "invalid {variable}: {message}"),
            Error::AlreadyInstalled => f.write_str(
                "botanu is already installed in this process (enable() or install() ran before)",
            ),
            Error::Exporter(msg) => write!(f, "cannot build the OTLP exporter: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
