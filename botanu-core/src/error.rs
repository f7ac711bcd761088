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
    /// botanu's exporter could not be built (its HTTP client or export threads).
    Exporter(String),
    /// [`Botanu::shutdown`](crate::Botanu::shutdown) did not complete; [`source`] says why.
    /// Spans still queued were counted as lost (`ExportStats::lost`).
    ///
    /// [`source`]: std::error::Error::source
    Shutdown(Incomplete),
    /// [`Botanu::force_flush`](crate::Botanu::force_flush) did not complete; [`source`] says
    /// why.
    ///
    /// [`source`]: std::error::Error::source
    Flush(Incomplete),
}

/// Why a flush or a shutdown did not complete: the cause of [`Error::Shutdown`] and
/// [`Error::Flush`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incomplete {
    /// The queue was not drained within this time (the collector slow or down).
    Timeout(std::time::Duration),
    /// The pipeline had been shut down already.
    AlreadyShutdown,
    /// A processor failed (an app's processor in migrated mode, for instance).
    Failed(String),
}

impl From<opentelemetry_sdk::error::OTelSdkError> for Incomplete {
    fn from(e: opentelemetry_sdk::error::OTelSdkError) -> Self {
        use opentelemetry_sdk::error::OTelSdkError;
        match e {
            OTelSdkError::Timeout(d) => Incomplete::Timeout(d),
            OTelSdkError::AlreadyShutdown => Incomplete::AlreadyShutdown,
            other => Incomplete::Failed(other.to_string()),
        }
    }
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incomplete::Timeout(d) => write!(f, "not done within {} ms", d.as_millis()),
            Incomplete::AlreadyShutdown => f.write_str("already shut down"),
            Incomplete::Failed(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Incomplete {}

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
            Error::Exporter(msg) => write!(f, "cannot build botanu's exporter: {msg}"),
            Error::Shutdown(_) => f.write_str("botanu's shutdown did not complete"),
            Error::Flush(_) => f.write_str("botanu's flush did not complete"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Shutdown(why) | Error::Flush(why) => Some(why),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::time::Duration;

    #[test]
    fn shutdown_and_flush_errors_carry_their_cause() {
        let e = Error::Shutdown(
            opentelemetry_sdk::error::OTelSdkError::Timeout(Duration::from_secs(2)).into(),
        );
        assert_eq!(e.to_string(), "botanu's shutdown did not complete");
        assert_eq!(e.source().unwrap().to_string(), "not done within 2000 ms");
        assert_eq!(
            e,
            Error::Shutdown(Incomplete::Timeout(Duration::from_secs(2)))
        );
        let e = Error::Flush(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown.into());
        assert_eq!(e.source().unwrap().to_string(), "already shut down");
        assert!(Error::AlreadyInstalled.source().is_none());
    }
}
