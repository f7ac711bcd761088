//! The product's central promise (ARCHITECTURE.md, "Install modes"): a user who hands their sampler and processors to
//! botanu keeps exactly the spans, sampling decisions and `traceparent` flags they had, while
//! botanu's own processor sees 100% of spans.
//!
//! For each user sampler and each kind of user processor, the same workload (10,000 traces of a
//! root and two children, with seeded ids) runs through
//! (a) the user's provider alone, and
//! (b) one provider with `PreservingSampler(user sampler)`, the user's processor wrapped in
//!     `SampledSpanProcessor::sampled_only`, and an export-everything processor.

use std::collections::{BTreeSet, HashMap};

use botanu_core::{PreservingSampler, SampledSpanProcessor};
use botanu_tests::{CollectAll, SeededIdGenerator};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, InMemorySpanExporter, Sampler, SamplingDecision,
    SamplingResult, SdkTracerProvider, ShouldSample, SimpleSpanProcessor, SpanData, SpanProcessor,
};

const TRACES: usize = 10_000;
const SEED: u64 = 0xB07A_2026;

/// A user sampler with its own logic: keep a span iff its name starts with "keep".
#[derive(Debug, Clone)]
struct KeepByName;

impl ShouldSample for KeepByName {
    fn should_sample(
        &self,
        _parent: Option<&Context>,
        _trace_id: TraceId,
        name: &str,
        _kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[opentelemetry::trace::Link],
    ) -> SamplingResult {
        SamplingResult {
            decision: if name.starts_with("keep") {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: vec![],
            trace_state: Default::default(),
        }
    }
}

fn samplers() -> Vec<(&'static str, Box<dyn ShouldSample>)> {
    vec![
        ("AlwaysOn", Box::new(Sampler::AlwaysOn)),
        ("AlwaysOff", Box::new(Sampler::AlwaysOff)),
        (
            "TraceIdRatioBased(0.1)",
            Box::new(Sampler::TraceIdRatioBased(0.1)),
        ),
        (
            "ParentBased(TraceIdRatioBased(0.1))",
            Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                0.1,
            )))),
        ),
        ("KeepByName", Box::new(KeepByName)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum UserProcessor {
    Simple,
    Batch,
}

fn user_processor(kind: UserProcessor, exporter: InMemorySpanExporter) -> Box<dyn SpanProcessor> {
    match kind {
        UserProcessor::Simple => Box::new(SimpleSpanProcessor::new(exporter)),
        // A queue that holds the whole workload: the batch processor drops spans when its
        // queue is full, which would make (a) and (b) differ by load, not by botanu.
        UserProcessor::Batch => Box::new(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(4 * TRACES * 3)
                        .build(),
                )
                .build(),
        ),
    }
}

/// Lets a boxed processor be handed to the builder and wrapped.
#[derive(Debug)]
struct Boxed(Box<dyn SpanProcessor>);

impl SpanProcessor for Boxed {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx)
    }
    fn on_end(&self, span: SpanData) {
        self.0.on_end(span)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// Runs the workload; returns the `traceparent` injected inside each trace (from the second
/// child's context, as an outbound call made there would carry it).
fn workload(provider: &SdkTracerProvider) -> Vec<String> {
    let tracer = provider.tracer("user-app");
    let propagator = TraceContextPropagator::new();
    let mut traceparents = Vec::with_capacity(TRACES);
    for i in 0..TRACES {
        let root_name = if i % 3 == 0 { "keep-root" } else { "root" };
        tracer.in_span(root_name, |root_cx| {
            let c1 = if i % 2 == 0 { "keep-child" } else { "child" };
            tracer.in_span(c1, |_| {});
            let c2 = if i % 5 == 0 {
                "outbound"
            } else {
                "keep-outbound"
            };
            let child = tracer.start_with_context(c2, &root_cx);
            let cx = root_cx.with_span(child);
            let mut carrier = HashMap::new();
            propagator.inject_context(&cx, &mut carrier);
            traceparents.push(carrier.remove("traceparent").unwrap_or_default());
        });
    }
    traceparents
}

/// (trace id, span id, parent span id, name) as integers so they sort.
type SpanKey = (u128, u64, u64, String);

fn keys(spans: &[SpanData]) -> BTreeSet<SpanKey> {
    spans
        .iter()
        .map(|s| {
            (
                u128::from_be_bytes(s.span_context.trace_id().to_bytes()),
                u64::from_be_bytes(s.span_context.span_id().to_bytes()),
                u64::from_be_bytes(s.parent_span_id.to_bytes()),
                s.name.to_string(),
            )
        })
        .collect()
}

#[test]
fn migrated_pipeline_exports_exactly_what_the_user_had() {
    for kind in [UserProcessor::Simple, UserProcessor::Batch] {
        for (name, sampler) in samplers() {
            // (a) the user's pipeline alone.
            let theirs_alone = InMemorySpanExporter::default();
            let a = SdkTracerProvider::builder()
                .with_sampler(sampler.clone())
                .with_id_generator(SeededIdGenerator::new(SEED))
                .with_span_processor(Boxed(user_processor(kind, theirs_alone.clone())))
                .build();
            let tp_a = workload(&a);
            a.force_flush().unwrap();

            // (b) the same pipeline handed to botanu.
            let theirs_migrated = InMemorySpanExporter::default();
            let everything = CollectAll::new();
            let b = SdkTracerProvider::builder()
                .with_sampler(PreservingSampler::new(sampler))
                .with_id_generator(SeededIdGenerator::new(SEED))
                .with_span_processor(SampledSpanProcessor::sampled_only(Boxed(user_processor(
                    kind,
                    theirs_migrated.clone(),
                ))))
                .with_span_processor(everything.clone())
                .build();
            let tp_b = workload(&b);
            b.force_flush().unwrap();

            let spans_a = theirs_alone.get_finished_spans().unwrap();
            let spans_b = theirs_migrated.get_finished_spans().unwrap();
            let all = everything.spans();
            let ctx = format!("sampler {name}, {kind:?} processor");

            assert_eq!(spans_a.len(), spans_b.len(), "{ctx}: span count");
            assert_eq!(keys(&spans_a), keys(&spans_b), "{ctx}: same spans");
            assert_eq!(all.len(), 3 * TRACES, "{ctx}: botanu sees every span");
            assert_eq!(keys(&all).len(), 3 * TRACES, "{ctx}: distinct spans");
            assert!(
                spans_b.iter().all(|s| s.span_context.is_sampled()),
                "{ctx}: user processor saw an unsampled span"
            );
            assert_eq!(tp_a, tp_b, "{ctx}: identical traceparent headers");
            let dropped = tp_b.iter().filter(|tp| tp.ends_with("-00")).count();
            let kept = tp_b.iter().filter(|tp| tp.ends_with("-01")).count();
            assert_eq!(
                dropped + kept,
                TRACES,
                "{ctx}: every trace injected a traceparent"
            );

            // Sanity: each sampler really exercised what it should.
            let user_spans = spans_a.len();
            match name {
                "AlwaysOn" => assert_eq!((user_spans, dropped), (3 * TRACES, 0)),
                "AlwaysOff" => assert_eq!((user_spans, kept), (0, 0)),
                "KeepByName" => assert!(user_spans > TRACES && dropped > 0 && kept > 0),
                _ => {
                    let traces: BTreeSet<_> = spans_a
                        .iter()
                        .map(|s| s.span_context.trace_id().to_string())
                        .collect();
                    assert!(
                        (800..1200).contains(&traces.len()),
                        "{ctx}: {} traces kept of {TRACES}",
                        traces.len()
                    );
                    assert!(dropped > 8000, "{ctx}: {dropped} dropped traceparents");
                }
            }
            a.shutdown().unwrap();
            b.shutdown().unwrap();
        }
    }
}

/// A fact behind `sampled_only`: the thread `BatchSpanProcessor` exports spans that
/// were recorded but not sampled. Without the wrapper the user's exporter would get more.
#[test]
fn batch_processor_without_wrapper_would_leak_unsampled_spans() {
    let leaked = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(PreservingSampler::new(Sampler::AlwaysOff))
        .with_batch_exporter(leaked.clone())
        .build();
    let tracer = provider.tracer("t");
    for _ in 0..10 {
        tracer.in_span("x", |_| {});
    }
    provider.force_flush().unwrap();
    assert_eq!(
        leaked.get_finished_spans().unwrap().len(),
        10,
        "if this changes, the SDK started checking is_sampled itself"
    );
    provider.shutdown().unwrap();
}
