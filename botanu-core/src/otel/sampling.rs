//! Sampling that keeps the user's decisions while botanu sees every span.
//!
//! * [`PreservingSampler`] wraps the user's sampler: same decision, except that `Drop`
//!   becomes `RecordOnly`, so the span is recorded (botanu can export it) while its sampled
//!   flag, and the `traceparent` injected downstream, stay exactly as the user's sampler said.
//! * [`SampledSpanProcessor`] wraps the user's processor so that it only sees the spans the
//!   user's sampling would have kept, gating both `on_start` and `on_end`.

use std::time::Duration;

use opentelemetry::trace::{Link, Span as _, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SamplingDecision, SamplingResult, ShouldSample, Span, SpanData, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::Error;

/// Wraps any sampler: its decision, attributes and trace state are returned unchanged, except
/// that [`SamplingDecision::Drop`] becomes [`SamplingDecision::RecordOnly`]. botanu's own spans
/// (run, tracker and client spans) do not reach the wrapped sampler at all: they follow their
/// parent's sampled flag.
///
/// A `RecordOnly` span is recording (processors see it) with the sampled flag off, so the
/// user's processors wrapped in [`SampledSpanProcessor::sampled_only`] ignore it, downstream
/// services see the same `traceparent` flags as before, and botanu's exporter gets 100%.
///
/// ```
/// use botanu_core::PreservingSampler;
/// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
///
/// let provider = SdkTracerProvider::builder()
///     .with_sampler(PreservingSampler::new(Sampler::TraceIdRatioBased(0.1)))
///     .build();
/// # drop(provider);
/// ```
#[derive(Debug, Clone)]
pub struct PreservingSampler {
    inner: Box<dyn ShouldSample>,
}

impl PreservingSampler {
    /// Wraps `sampler`.
    pub fn new(sampler: impl Into<Box<dyn ShouldSample>>) -> Self {
        PreservingSampler {
            inner: sampler.into(),
        }
    }

    /// The wrapped sampler.
    pub fn inner(&self) -> &dyn ShouldSample {
        self.inner.as_ref()
    }
}

impl ShouldSample for PreservingSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if crate::otel::own_span::starting() != crate::otel::own_span::Starting::App {
            // One of botanu's own spans: the app's sampler never saw it without botanu (a
            // rate-limiting or counting sampler must not spend its budget on it), and the app's
            // processors never get it. It carries the sampled flag of its parent.
            let parent = parent_context.map(TraceContextExt::span);
            let sc = parent.as_ref().map(|p| p.span_context());
            let sampled = sc.is_none_or(|sc| !sc.is_valid() || sc.is_sampled());
            return SamplingResult {
                decision: if sampled {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::RecordOnly
                },
                attributes: Vec::new(),
                trace_state: sc.map(|sc| sc.trace_state().clone()).unwrap_or_default(),
            };
        }
        let mut result =
            self.inner
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        if result.decision == SamplingDecision::Drop {
            result.decision = SamplingDecision::RecordOnly;
        }
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Gate {
    /// Keep iff `(low 64 bits of trace id) >> 1 < bound`, or always when `all`.
    Ratio { ratio: f64, bound: u64, all: bool },
    /// Keep iff the span context has the sampled flag.
    SampledOnly,
}

/// Wraps a [`SpanProcessor`] so that it only sees some spans: both `on_start` and `on_end`
/// are forwarded only for spans that pass the gate (gating `on_start` too keeps wrapped
/// processors from holding bookkeeping for spans they never see end). `force_flush`,
/// `shutdown_with_timeout` and `set_resource` are always forwarded.
///
/// ```
/// use botanu_core::SampledSpanProcessor;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
///
/// let theirs = SimpleSpanProcessor::new(InMemorySpanExporter::default());
/// // Keep 10% of traces, the same ones `Sampler::TraceIdRatioBased(0.1)` would keep.
/// let gated = SampledSpanProcessor::ratio(theirs, 0.1).unwrap();
/// assert!(SampledSpanProcessor::ratio(SimpleSpanProcessor::new(
///     InMemorySpanExporter::default()), 1.5).is_err());
/// # drop(gated);
/// ```
#[derive(Debug)]
pub struct SampledSpanProcessor<P> {
    inner: P,
    gate: Gate,
}

impl<P: SpanProcessor> SampledSpanProcessor<P> {
    /// Keeps a span iff OpenTelemetry's `Sampler::TraceIdRatioBased(ratio)` keeps its trace,
    /// bit for bit: `(u64::from_be_bytes(trace_id[8..16]) >> 1) < (ratio * 2^63) as u64`,
    /// everything when `ratio` is 1.
    ///
    /// This is the rule of the Rust SDK, not the reference Python SDK's own rule: the point is
    /// to keep exactly the traces the user's Rust sampler kept.
    ///
    /// # Errors
    /// [`Error::InvalidRatio`] when `ratio` is NaN or outside `[0, 1]`.
    pub fn ratio(inner: P, ratio: f64) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(Error::InvalidRatio(ratio));
        }
        Ok(SampledSpanProcessor {
            inner,
            gate: Gate::Ratio {
                ratio,
                bound: (ratio * (1u64 << 63) as f64) as u64,
                all: ratio >= 1.0,
            },
        })
    }

    /// Forwards only spans whose span context has the sampled flag, i.e. what the user's own
    /// sampler kept when it is wrapped in [`PreservingSampler`].
    pub fn sampled_only(inner: P) -> Self {
        SampledSpanProcessor {
            inner,
            gate: Gate::SampledOnly,
        }
    }

    /// The ratio, for a ratio gate.
    pub fn ratio_value(&self) -> Option<f64> {
        match self.gate {
            Gate::Ratio { ratio, .. } => Some(ratio),
            Gate::SampledOnly => None,
        }
    }

    /// The wrapped processor.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Whether a span of this trace with these flags passes the gate.
    #[inline]
    pub fn keeps(&self, trace_id: TraceId, sampled: bool) -> bool {
        match self.gate {
            Gate::Ratio { bound, all, .. } => all || ratio_keeps(bound, trace_id),
            Gate::SampledOnly => sampled,
        }
    }
}

#[inline]
fn ratio_keeps(bound: u64, trace_id: TraceId) -> bool {
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    (u64::from_be_bytes(low) >> 1) < bound
}

impl<P: SpanProcessor> SpanProcessor for SampledSpanProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let sc = span.span_context();
        if self.keeps(sc.trace_id(), sc.is_sampled()) {
            self.inner.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        let sc = &span.span_context;
        if self.keeps(sc.trace_id(), sc.is_sampled()) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
