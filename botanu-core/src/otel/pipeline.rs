//! The one span processor botanu registers with the providers it builds.
//!
//! `SdkTracerProvider` hands every processor its own copy of a finished span once it has more
//! than one (`SpanData::clone` per processor, the last one included), and the enricher's
//! `on_end` does nothing with its copy. With the enricher and the exporter registered
//! separately, each span was cloned twice, and the original and the enricher's copy dropped:
//! about 10k instructions per exported request in callgrind (`SpanData::clone` 7.1k, the
//! drops 2.6k). [`Pipeline`] is a single processor that runs the enricher on start, then fans
//! out to the processors behind it with one clone fewer: the last processor gets the span
//! itself.
//!
//! In migrated mode it also keeps the app's view exactly what it was without botanu
//! (ARCHITECTURE.md, "Install modes"): the app's processors ([`Pipeline::user`]) see only
//! the spans the app's sampler kept, never botanu's own spans (run, tracker and client
//! spans), and their copy of a span has no `botanu.*` attribute unless the app opted in to
//! sharing them.

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::otel::own_span::{is_own_scope, starting, Starting};
use crate::RunContextEnricher;

/// The app's processors, the enricher, then botanu's `processors` in order.
#[derive(Debug)]
pub(crate) struct Pipeline {
    user: Vec<Box<dyn SpanProcessor>>,
    share_run_attributes: bool,
    enricher: RunContextEnricher,
    processors: Vec<Box<dyn SpanProcessor>>,
}

impl Pipeline {
    /// A pipeline that enriches and forwards to nothing yet.
    pub(crate) fn new() -> Self {
        Pipeline {
            user: Vec::new(),
            share_run_attributes: false,
            enricher: RunContextEnricher::new(),
            processors: Vec::new(),
        }
    }

    /// Adds one of the app's processors: it sees the spans the app's sampler kept (sampled
    /// flag set) that are not botanu's own, as they would be without botanu.
    pub(crate) fn user(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.user.push(Box::new(processor));
        self
    }

    /// Whether the app's processors keep the `botanu.*` attributes (default false).
    pub(crate) fn share_run_attributes(mut self, share: bool) -> Self {
        self.share_run_attributes = share;
        self
    }

    /// Adds one of botanu's processors (sees every span) after the ones already there.
    pub(crate) fn then(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Calls `f` on every processor, all of them even when some fail; the first error wins.
    fn each(&self, f: impl Fn(&dyn SpanProcessor) -> OTelSdkResult) -> OTelSdkResult {
        let mut first = Ok(());
        for p in self.user.iter().chain(&self.processors) {
            let result = f(p.as_ref());
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    /// `span` as the app's processors see it: without `botanu.*` attributes unless shared.
    fn for_app(&self, mut span: SpanData) -> SpanData {
        if !self.share_run_attributes {
            span.attributes
                .retain(|kv| !kv.key.as_str().starts_with(crate::semconv::keys::PREFIX));
        }
        span
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        // The app's processors first: they see the span as it would start without botanu.
        if !self.user.is_empty() && span.span_context().is_sampled() && starting() == Starting::App
        {
            for p in &self.user {
                p.on_start(span, cx);
            }
        }
        self.enricher.on_start(span, cx);
        for p in &self.processors {
            p.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        let to_app = !self.user.is_empty()
            && span.span_context.is_sampled()
            && !is_own_scope(&span.instrumentation_scope);
        if to_app {
            match self.user.split_last() {
                // Nothing of botanu's after the app's processors (export off): the last one
                // gets the span itself.
                Some((last, rest)) if self.processors.is_empty() => {
                    for p in rest {
                        p.on_end(self.for_app(span.clone()));
                    }
                    last.on_end(self.for_app(span));
                    return;
                }
                _ => {
                    for p in &self.user {
                        p.on_end(self.for_app(span.clone()));
                    }
                }
            }
        }
        if let Some((last, rest)) = self.processors.split_last() {
            for p in rest {
                p.on_end(span.clone());
            }
            last.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.each(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.each(|p| p.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        for p in self.user.iter_mut().chain(&mut self.processors) {
            p.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};

    use opentelemetry_sdk::error::OTelSdkError;

    use super::*;
    use crate::RunContext;

    #[derive(Debug, Default)]
    struct Calls {
        flushed: AtomicUsize,
        shut: AtomicUsize,
        resources: AtomicUsize,
    }

    /// Counts calls and fails flush/shutdown when `fail` is set.
    #[derive(Debug)]
    struct Probe(Arc<Calls>, bool);

    impl SpanProcessor for Probe {
        fn on_start(&self, _span: &mut Span, _cx: &Context) {}
        fn on_end(&self, _span: SpanData) {}
        fn force_flush(&self) -> OTelSdkResult {
            self.0.flushed.fetch_add(1, Ordering::Relaxed);
            if self.1 {
                Err(OTelSdkError::InternalFailure("probe".into()))
            } else {
                Ok(())
            }
        }
        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            self.0.shut.fetch_add(1, Ordering::Relaxed);
            if self.1 {
                Err(OTelSdkError::InternalFailure("probe".into()))
            } else {
                Ok(())
            }
        }
        fn set_resource(&mut self, _resource: &Resource) {
            self.0.resources.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_processor_sees_the_enriched_span() {
        let (a, b) = (
            InMemorySpanExporter::default(),
            InMemorySpanExporter::default(),
        );
        let provider = SdkTracerProvider::builder()
            .with_span_processor(
                Pipeline::new()
                    .then(SimpleSpanProcessor::new(a.clone()))
                    .then(SimpleSpanProcessor::new(b.clone())),
            )
            .build();
        let run = RunContext::new("wf", "ev", "cu");
        let cx = run.to_context(&Context::new());
        provider.tracer("t").start_with_context("child", &cx);
        for exporter in [&a, &b] {
            let spans = exporter.get_finished_spans().unwrap();
            assert_eq!(spans.len(), 1);
            let customer = spans[0]
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "botanu.customer_id")
                .map(|kv| kv.value.as_str().into_owned());
            assert_eq!(customer.as_deref(), Some("cu"));
        }
    }

    fn has_botanu_attribute(span: &SpanData) -> bool {
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str().starts_with("botanu."))
    }

    #[test]
    fn the_apps_processors_see_their_spans_as_without_botanu() {
        use opentelemetry::InstrumentationScope;
        for share in [false, true] {
            let (app, botanu) = (
                InMemorySpanExporter::default(),
                InMemorySpanExporter::default(),
            );
            let provider = SdkTracerProvider::builder()
                .with_span_processor(
                    Pipeline::new()
                        .share_run_attributes(share)
                        .user(SimpleSpanProcessor::new(app.clone()))
                        .then(SimpleSpanProcessor::new(botanu.clone())),
                )
                .build();
            let run = RunContext::new("wf", "ev", "cu");
            let cx = run.to_context(&Context::new());
            provider.tracer("app").start_with_context("app span", &cx);
            // One of botanu's own spans: its scope, started with botanu's marker.
            let own = provider.tracer_with_scope(
                InstrumentationScope::builder(crate::otel::install::SCOPE_NAME).build(),
            );
            crate::otel::own_span::build(&own, own.span_builder("botanu span"), &cx, Starting::Own);

            let app_spans = app.get_finished_spans().unwrap();
            assert_eq!(app_spans.len(), 1, "no span of botanu's reaches the app");
            assert_eq!(app_spans[0].name, "app span");
            assert_eq!(has_botanu_attribute(&app_spans[0]), share);
            let botanu_spans = botanu.get_finished_spans().unwrap();
            assert_eq!(botanu_spans.len(), 2);
            assert!(botanu_spans
                .iter()
                .filter(|s| s.name == "app span")
                .all(has_botanu_attribute));
        }
    }

    #[test]
    fn flush_and_shutdown_reach_every_processor_and_report_a_failure() {
        let calls = Arc::new(Calls::default());
        let mut p = Pipeline::new()
            .then(Probe(calls.clone(), true))
            .then(Probe(calls.clone(), false));
        p.set_resource(&Resource::builder_empty().build());
        assert!(p.force_flush().is_err());
        assert!(p.shutdown_with_timeout(Duration::from_secs(1)).is_err());
        assert_eq!(calls.flushed.load(Ordering::Relaxed), 2);
        assert_eq!(calls.shut.load(Ordering::Relaxed), 2);
        assert_eq!(calls.resources.load(Ordering::Relaxed), 2);
        assert!(Pipeline::new().force_flush().is_ok());
        // Nothing behind the enricher: a finished span is simply dropped.
        Pipeline::new().on_end(empty_span());
    }

    fn empty_span() -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        provider.tracer("t").in_span("s", |_| {});
        exporter.get_finished_spans().unwrap().remove(0)
    }
}
