//! The enricher allocates nothing for spans outside a run (its own binary: it installs a
//! counting global allocator).

use botanu_core::{RunContext, RunContextEnricher};
use botanu_tests::NoopProcessor;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{Span as _, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;

fn allocations(provider: &SdkTracerProvider, cx: &Context) -> u64 {
    let tracer = provider.tracer("t");
    // Warm up lazily initialised statics.
    tracer.start_with_context("warm", cx).end();
    allocation_counter::measure(|| {
        for _ in 0..100 {
            tracer.start_with_context("span", cx).end();
        }
    })
    .count_total
}

#[test]
fn no_allocation_without_botanu_baggage() {
    let enriched = SdkTracerProvider::builder()
        .with_span_processor(RunContextEnricher::new())
        .build();
    let baseline = SdkTracerProvider::builder()
        .with_span_processor(NoopProcessor)
        .build();
    let empty = Context::new();
    let foreign = Context::new().with_baggage([
        KeyValue::new("user.session", "s-1"),
        KeyValue::new("tenant", "t"),
    ]);
    for (name, cx) in [("no baggage", &empty), ("foreign baggage", &foreign)] {
        let with = allocations(&enriched, cx);
        let without = allocations(&baseline, cx);
        assert_eq!(
            with,
            without,
            "{name}: enricher allocated {} times",
            with - without
        );
    }
    // And the measurement can see the enricher's work when there is a run.
    let in_run = RunContext::new("w", "e", "c").to_context(&Context::new());
    assert!(allocations(&enriched, &in_run) > allocations(&baseline, &in_run));
}
