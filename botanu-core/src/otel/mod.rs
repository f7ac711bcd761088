//! botanu on OpenTelemetry: install modes (`install`), where botanu's spans sit in a context
//! (`own_span`), the one span processor (`pipeline`) with the enricher and sampling, the
//! `tracing` bridge, and botanu's own export path (`export`).

pub(crate) mod enricher;
pub(crate) mod export;
pub(crate) mod install;
pub(crate) mod own_span;
pub(crate) mod pipeline;
pub(crate) mod sampling;
#[cfg(feature = "tracing")]
pub(crate) mod tracing_bridge;
