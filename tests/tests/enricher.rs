//! `RunContextEnricher`: API spans and `tracing` spans started inside a run carry the seven run
//! keys; existing attributes are never overwritten; spans outside a run get nothing.
//! The enricher against the reference Python SDK's conformance cases and known quirks.

use botanu_core::semconv::keys;
use botanu_core::{RunContext, RunContextEnricher};
use botanu_tests::{attr, attr_count, attr_str, CollectAll};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanProcessor};
use tracing_subscriber::layer::SubscriberExt;

fn provider() -> (SdkTracerProvider, CollectAll) {
    let spans = CollectAll::new();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(RunContextEnricher::new())
        .with_span_processor(spans.clone())
        .build();
    (provider, spans)
}

fn full_run() -> RunContext {
    RunContext::builder("Customer Support")
        .event_id("ticket-42")
        .customer_id("acme")
        .environment("staging")
        .tenant_id("t-1")
        .parent_run_id("parent-run")
        .build()
}

fn assert_enriched(span: &SpanData, run: &RunContext) {
    let expect = [
        (keys::RUN_ID, run.run_id()),
        (keys::WORKFLOW, run.workflow()),
        (keys::EVENT_ID, run.event_id()),
        (keys::CUSTOMER_ID, run.customer_id()),
        (keys::ENVIRONMENT, run.environment()),
        (keys::TENANT_ID, run.tenant_id().unwrap()),
        (keys::PARENT_RUN_ID, run.parent_run_id().unwrap()),
    ];
    for (k, v) in expect {
        assert_eq!(
            attr_str(span, k).as_deref(),
            Some(v),
            "{k} on {}",
            span.name
        );
        assert_eq!(attr_count(span, k), 1, "{k} once on {}", span.name);
    }
}

fn botanu_attrs(span: &SpanData) -> Vec<String> {
    span.attributes
        .iter()
        .map(|kv| kv.key.as_str().to_owned())
        .filter(|k| k.starts_with("botanu."))
        .collect()
}

#[test]
fn api_spans_in_a_run_carry_the_seven_keys() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    let run = full_run();
    {
        let _in_run = run.to_context(&Context::current()).attach();
        tracer.in_span("llm", |_| {
            tracer.in_span("nested tool", |_| {});
        });
        // A span with an explicit parent context that carries the run.
        let cx = Context::current();
        tracer.start_with_context("explicit", &cx).end();
    }
    let exported = spans.spans();
    assert_eq!(exported.len(), 3);
    for span in &exported {
        assert_enriched(span, &run);
    }
    // The span's own attributes are untouched (EV25).
    let mut span = tracer
        .span_builder("own")
        .with_attributes([KeyValue::new("gen_ai.request.model", "gpt-4o")])
        .start_with_context(&tracer, &run.to_context(&Context::new()));
    span.end();
    let own = spans.spans().pop().unwrap();
    assert_eq!(
        attr_str(&own, "gen_ai.request.model").as_deref(),
        Some("gpt-4o")
    );
    assert_enriched(&own, &run);
}

#[test]
fn spans_outside_a_run_get_nothing() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    tracer.in_span("before", |_| {});
    {
        let _in_run = full_run().to_context(&Context::current()).attach();
        tracer.in_span("inside", |_| {});
    }
    tracer.in_span("after", |_| {});
    // Foreign baggage only: still nothing botanu.
    {
        let _g = Context::current()
            .with_baggage([KeyValue::new("user.session", "s")])
            .attach();
        tracer.in_span("foreign", |_| {});
    }
    let exported = spans.spans();
    let names: Vec<_> = exported.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["before", "inside", "after", "foreign"]);
    assert!(botanu_attrs(&exported[0]).is_empty());
    assert_eq!(botanu_attrs(&exported[1]).len(), 7);
    assert!(botanu_attrs(&exported[2]).is_empty());
    assert!(botanu_attrs(&exported[3]).is_empty());
}

#[test]
fn existing_attributes_are_never_overwritten() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    let run = full_run();
    let cx = run.to_context(&Context::new());
    tracer
        .span_builder("mine")
        .with_attributes([
            KeyValue::new(keys::RUN_ID, "my-own-run"),
            KeyValue::new(keys::CUSTOMER_ID, "someone-else"),
        ])
        .start_with_context(&tracer, &cx)
        .end();
    let span = spans.spans().pop().unwrap();
    assert_eq!(attr_str(&span, keys::RUN_ID).as_deref(), Some("my-own-run"));
    assert_eq!(
        attr_str(&span, keys::CUSTOMER_ID).as_deref(),
        Some("someone-else")
    );
    assert_eq!(attr_count(&span, keys::RUN_ID), 1);
    assert_eq!(attr_count(&span, keys::CUSTOMER_ID), 1);
    // The missing keys were filled in.
    assert_eq!(
        attr_str(&span, keys::WORKFLOW).as_deref(),
        Some("Customer Support")
    );
    assert_eq!(
        attr_str(&span, keys::EVENT_ID).as_deref(),
        Some("ticket-42")
    );
}

/// An attribute set by a processor that runs before the enricher is not overwritten either.
#[test]
fn attributes_from_earlier_processors_are_kept() {
    #[derive(Debug)]
    struct SetsCustomer;
    impl SpanProcessor for SetsCustomer {
        fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {
            span.set_attribute(KeyValue::new(keys::CUSTOMER_ID, "from-processor"));
        }
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
    let spans = CollectAll::new();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SetsCustomer)
        .with_span_processor(RunContextEnricher::new())
        .with_span_processor(spans.clone())
        .build();
    let tracer = provider.tracer("app");
    let _g = full_run().to_context(&Context::new()).attach();
    tracer.in_span("x", |_| {});
    let span = spans.spans().pop().unwrap();
    assert_eq!(
        attr_str(&span, keys::CUSTOMER_ID).as_deref(),
        Some("from-processor")
    );
    assert_eq!(attr_count(&span, keys::CUSTOMER_ID), 1);
}

#[test]
fn empty_baggage_values_are_skipped() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    // A run without customer, tenant or parent: empty customer is not stamped.
    let run = RunContext::builder("w").event_id("e").build();
    let _g = run.to_context(&Context::new()).attach();
    tracer.in_span("x", |_| {});
    let span = spans.spans().pop().unwrap();
    assert!(attr(&span, keys::CUSTOMER_ID).is_none());
    assert!(attr(&span, keys::TENANT_ID).is_none());
    assert!(attr(&span, keys::PARENT_RUN_ID).is_none());
    assert_eq!(attr_str(&span, keys::EVENT_ID).as_deref(), Some("e"));
}

/// The parent context handed to the SDK is used as given, even when it is
/// empty and a run is current on the thread.
#[test]
fn explicit_empty_parent_context_is_respected() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    let _g = full_run().to_context(&Context::new()).attach();
    tracer.start_with_context("detached", &Context::new()).end();
    assert!(botanu_attrs(&spans.spans()[0]).is_empty());
}

#[test]
fn lifecycle_calls_are_harmless() {
    let e = RunContextEnricher::new();
    let (provider, spans) = provider();
    provider.tracer("t").in_span("x", |_| {});
    e.on_end(spans.spans().pop().unwrap());
    assert!(e.force_flush().is_ok());
    assert!(e.shutdown().is_ok());
    assert!(e.shutdown_with_timeout(std::time::Duration::ZERO).is_ok());
    assert_eq!(
        keys::ENRICHED,
        [
            "botanu.run_id",
            "botanu.workflow",
            "botanu.event_id",
            "botanu.customer_id",
            "botanu.environment",
            "botanu.tenant_id",
            "botanu.parent_run_id"
        ]
    );
}

/// Inside a run made current by botanu, spans describe that run — the run
/// `RunContext::current()` returns — even when code inside it replaced the baggage; an outer
/// tenant the inner run does not override still reaches its spans (reference VX2).
#[test]
fn spans_in_a_run_describe_that_run_and_inherit_an_outer_tenant() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    let outer = full_run();
    let inner = RunContext::builder("Inner")
        .event_id("e-inner")
        .parent_run_id(outer.run_id())
        .build();
    let cx = inner.to_context(&outer.to_context(&Context::new()));
    tracer.start_with_context("in inner", &cx).end();
    let replaced = cx.with_baggage([KeyValue::new(keys::CUSTOMER_ID, "someone-else")]);
    tracer
        .start_with_context("baggage replaced", &replaced)
        .end();
    assert_eq!(
        RunContext::from_context(&replaced).unwrap().run_id(),
        inner.run_id()
    );
    for span in spans.spans() {
        assert_eq!(
            attr_str(&span, keys::RUN_ID).as_deref(),
            Some(inner.run_id())
        );
        assert_eq!(attr_str(&span, keys::WORKFLOW).as_deref(), Some("Inner"));
        assert_eq!(attr_str(&span, keys::EVENT_ID).as_deref(), Some("e-inner"));
        assert_eq!(
            attr_str(&span, keys::TENANT_ID).as_deref(),
            Some("t-1"),
            "{}",
            span.name
        );
        assert_eq!(
            attr_str(&span, keys::PARENT_RUN_ID).as_deref(),
            Some(outer.run_id())
        );
        // The inner run has no customer and the outer one's is not inherited (run-scoped
        // baggage is layered, not merged: only the tenant is kept, as in the reference).
        assert_eq!(attr_count(&span, keys::CUSTOMER_ID), 0, "{}", span.name);
    }
}

/// Keys outside the seven (retry chain, step) are not copied onto spans.
#[test]
fn retry_and_step_keys_are_not_copied() {
    let (provider, spans) = provider();
    let tracer = provider.tracer("app");
    let first = full_run();
    let retry = RunContext::retry(&first);
    let cx = retry.to_context(&Context::new()).with_baggage({
        let mut b: Vec<KeyValue> = retry
            .to_baggage()
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        b.push(KeyValue::new(keys::STEP, "retrieval"));
        b
    });
    tracer.start_with_context("x", &cx).end();
    let span = spans.spans().pop().unwrap();
    let mut got = botanu_attrs(&span);
    got.sort();
    let mut want: Vec<String> = keys::ENRICHED.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

fn tracing_subscriber_for(tracer: SdkTracer) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// `tracing` spans (through tracing-opentelemetry) created while a run context is current carry
/// the run keys, nested ones included; one created outside carries none (ARCHITECTURE.md, "Decisions and why").
#[test]
fn tracing_spans_in_a_run_carry_the_seven_keys() {
    let (provider, spans) = provider();
    let subscriber = tracing_subscriber_for(provider.tracer("tracing"));
    let run = full_run();
    tracing::subscriber::with_default(subscriber, || {
        {
            let _in_run = run.to_context(&Context::current()).attach();
            let handler = tracing::info_span!("handler", ticket = 42);
            let _e = handler.enter();
            let inner = tracing::info_span!("retrieve");
            inner.in_scope(|| {});
        }
        tracing::info_span!("outside").in_scope(|| {});
    });
    let exported = spans.spans();
    let by_name = |n: &str| exported.iter().find(|s| s.name == n).unwrap();
    assert_enriched(by_name("handler"), &run);
    assert_enriched(by_name("retrieve"), &run);
    assert!(botanu_attrs(by_name("outside")).is_empty());
    // Same trace for the tracing spans in the run.
    assert_eq!(
        by_name("handler").span_context.trace_id(),
        by_name("retrieve").span_context.trace_id()
    );
}

/// A `tracing` span created outside the run but given the run context as parent with
/// `set_parent` before it is first entered is enriched too (ARCHITECTURE.md, "Decisions and why").
#[test]
fn tracing_span_with_set_parent_is_enriched() {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let (provider, spans) = provider();
    let subscriber = tracing_subscriber_for(provider.tracer("tracing"));
    let run = full_run();
    let run_cx = run.to_context(&Context::new());
    let parent_span = provider
        .tracer("api")
        .start_with_context("run span", &run_cx);
    let run_cx = run_cx.with_span(parent_span);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("spawned work");
        let _ = span.set_parent(run_cx.clone());
        span.in_scope(|| {});
    });
    run_cx.span().end();
    let exported = spans.spans();
    let work = exported.iter().find(|s| s.name == "spawned work").unwrap();
    assert_enriched(work, &run);
}
