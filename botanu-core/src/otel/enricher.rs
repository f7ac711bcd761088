//! [`RunContextEnricher`]: stamps the run onto every span started inside it.

use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::Span as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::run::current::{enriched_attributes, CurrentRun};

/// A [`SpanProcessor`] that copies the run's baggage onto each span as it starts.
///
/// On `on_start` it reads the seven keys of [`keys::ENRICHED`](crate::semconv::keys::ENRICHED)
/// (`botanu.run_id`, `botanu.workflow`, `botanu.event_id`, `botanu.customer_id`,
/// `botanu.environment`, `botanu.tenant_id`, `botanu.parent_run_id`) from the baggage of the
/// **parent context the SDK hands it** and sets each non-empty one as a string attribute,
/// unless the span already has that attribute (from its builder or an earlier processor): it
/// never overwrites.
///
/// Inside a run made current by botanu ([`RunContext::to_context`](crate::RunContext::to_context),
/// the layers, scopes) the values are those of that run — the run
/// [`RunContext::current`](crate::RunContext::current) returns — worked out once when the run
/// started, so a span costs reference-count bumps, not a baggage scan. Elsewhere (a context
/// that only has baggage, e.g. extracted from a request) it scans the baggage. It reads nothing
/// and allocates nothing when the context carries no botanu baggage, so spans outside runs
/// cost two context lookups. `on_end`, `force_flush` and `shutdown` do nothing. Put it
/// **before** exporting processors so that they see the attributes.
///
/// ```
/// use botanu_core::{RunContext, RunContextEnricher};
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use opentelemetry::Context;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder()
///     .with_span_processor(RunContextEnricher::new())
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let tracer = provider.tracer("app");
///
/// let run = RunContext::new("Customer Support", "ticket-42", "acme");
/// let _guard = run.to_context(&Context::current()).attach();
/// tracer.in_span("llm call", |_| {});
///
/// let span = &exporter.get_finished_spans().unwrap()[0];
/// let customer = span.attributes.iter().find(|kv| kv.key.as_str() == "botanu.customer_id");
/// assert_eq!(customer.unwrap().value.as_str(), "acme");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct RunContextEnricher {
    _private: (),
}

impl RunContextEnricher {
    /// A new enricher.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SpanProcessor for RunContextEnricher {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use crate::otel::own_span::{starting, Starting};
        let starting = starting();
        // A run span: the lifecycle writes every run attribute on it already.
        if starting == Starting::Run {
            return;
        }
        if let Some(current) = cx.get::<CurrentRun>() {
            // Inside a run botanu started: its attributes were worked out when it started.
            if starting == Starting::Own {
                // botanu's own spans (LLM, tool, data, step, client calls) start without any
                // of these keys: nothing to keep, so no copy of the span's attributes.
                current.enriched().for_each(|kv| span.set_attribute(kv));
                return;
            }
            set_absent(span, current.enriched());
            return;
        }
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        set_absent(span, enriched_attributes(baggage));
    }

    fn on_end(&self, _span: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Sets each attribute the span does not have yet.
fn set_absent(span: &mut Span, attributes: impl IntoIterator<Item = KeyValue>) {
    // The SDK span exposes its attributes only through a copy; taken only for spans that get
    // an attribute.
    let mut existing: Option<Vec<KeyValue>> = None;
    for kv in attributes {
        let existing = existing.get_or_insert_with(|| {
            span.exported_data()
                .map(|d| d.attributes)
                .unwrap_or_default()
        });
        if !existing.iter().any(|e| e.key == kv.key) {
            span.set_attribute(kv);
        }
    }
}
