//! What the benchmarks share.

use opentelemetry::Context;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

/// A processor that does nothing: the baseline of the span benchmarks, and the app's own
/// processor in the migrated ones (it receives its copy of each span and drops it).
#[derive(Debug)]
pub(crate) struct Noop;

impl SpanProcessor for Noop {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}
    fn on_end(&self, _span: SpanData) {}
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(
        &self,
        _t: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}
