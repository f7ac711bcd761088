//! `SampledSpanProcessor` and `PreservingSampler` (ARCHITECTURE.md, "Install modes").

use botanu_core::{Error, PreservingSampler, SampledSpanProcessor};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider,
    ShouldSample, SimpleSpanProcessor,
};
use rand::{Rng, SeedableRng};

fn gate(p: f64) -> SampledSpanProcessor<SimpleSpanProcessor<InMemorySpanExporter>> {
    SampledSpanProcessor::ratio(SimpleSpanProcessor::new(InMemorySpanExporter::default()), p)
        .unwrap()
}

fn sdk_keeps(p: f64, trace_id: TraceId) -> bool {
    let r = Sampler::TraceIdRatioBased(p).should_sample(
        None,
        trace_id,
        "s",
        &SpanKind::Internal,
        &[],
        &[],
    );
    r.decision == SamplingDecision::RecordAndSample
}

/// The ratio gate and the SDK's `TraceIdRatioBased` sampler agree on a million random trace
/// ids for each ratio.
#[test]
fn ratio_agrees_with_sdk_sampler_on_a_million_trace_ids() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xB07A_0001);
    let ids: Vec<TraceId> = (0..1_000_000)
        .map(|_| TraceId::from(rng.random::<u128>()))
        .collect();
    for p in [0.0, 0.001, 0.1, 0.5, 0.999, 1.0] {
        let g = gate(p);
        let mut kept = 0usize;
        for &id in &ids {
            let ours = g.keeps(id, false);
            assert_eq!(ours, sdk_keeps(p, id), "p={p} trace_id={id}");
            kept += usize::from(ours);
        }
        let expected = p * ids.len() as f64;
        let tolerance = 5.0 * (ids.len() as f64 * p * (1.0 - p)).sqrt() + 1.0;
        assert!(
            (kept as f64 - expected).abs() <= tolerance,
            "p={p}: kept {kept}, expected about {expected}"
        );
    }
}

#[test]
fn ratio_edge_trace_ids() {
    // Only the low 64 bits count, shifted right by one; strict `<`.
    let half = gate(0.5);
    let id = |low: u64| TraceId::from(((0xffff_u128) << 64) | low as u128);
    assert!(half.keeps(id(0), false));
    assert!(half.keeps(id(0x7fff_ffff_ffff_ffff), false)); // >>1 < 2^62 = bound
    assert!(!half.keeps(id(0x8000_0000_0000_0000), false)); // >>1 == bound: dropped
    assert!(!half.keeps(id(u64::MAX), false));
    assert!(gate(1.0).keeps(id(u64::MAX), false));
    assert!(!gate(0.0).keeps(id(0), false));
    // Deterministic per trace id (reference 15.7: same answer ten times).
    let t = TraceId::from(0x1234_5678_90AB_CDEF_1234_5678_90AB_CDEF_u128);
    let first = gate(0.3).keeps(t, false);
    assert!((0..10).all(|_| gate(0.3).keeps(t, false) == first));
}

#[test]
fn invalid_ratios_are_errors_not_panics() {
    for p in [-0.1, 1.0000001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let r = SampledSpanProcessor::ratio(
            SimpleSpanProcessor::new(InMemorySpanExporter::default()),
            p,
        );
        match r {
            Err(Error::InvalidRatio(got)) => {
                assert!(got.is_nan() == p.is_nan());
                assert!(Error::InvalidRatio(got).to_string().contains("[0, 1]"));
            }
            other => panic!("ratio {p}: expected InvalidRatio, got {other:?}"),
        }
    }
    assert_eq!(gate(0.25).ratio_value(), Some(0.25));
}

/// Gating covers on_start and on_end: the wrapped exporter receives exactly the kept traces.
#[test]
fn ratio_gate_forwards_only_kept_traces_to_wrapped_processor() {
    let theirs = InMemorySpanExporter::default();
    let all = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            SampledSpanProcessor::ratio(SimpleSpanProcessor::new(theirs.clone()), 0.3).unwrap(),
        )
        .with_simple_exporter(all.clone())
        .build();
    let tracer = provider.tracer("t");
    for _ in 0..2000 {
        tracer.in_span("root", |_| {});
    }
    let all_spans = all.get_finished_spans().unwrap();
    let their_spans = theirs.get_finished_spans().unwrap();
    assert_eq!(all_spans.len(), 2000);
    let expected: Vec<TraceId> = all_spans
        .iter()
        .map(|s| s.span_context.trace_id())
        .filter(|&t| sdk_keeps(0.3, t))
        .collect();
    let got: Vec<TraceId> = their_spans
        .iter()
        .map(|s| s.span_context.trace_id())
        .collect();
    assert_eq!(got, expected);
    assert!(got.len() > 450 && got.len() < 750, "{}", got.len());
}

#[test]
fn sampled_only_follows_the_sampled_flag() {
    let g = SampledSpanProcessor::sampled_only(SimpleSpanProcessor::new(
        InMemorySpanExporter::default(),
    ));
    let t = TraceId::from(7u128);
    assert!(g.keeps(t, true));
    assert!(!g.keeps(t, false));
    assert_eq!(g.ratio_value(), None);
}

/// A custom sampler that adds an attribute and trace state, to show both are passed through.
#[derive(Debug, Clone)]
struct KeepIfNamedKeep;

impl ShouldSample for KeepIfNamedKeep {
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
            attributes: vec![KeyValue::new("sampler.note", "custom")],
            trace_state: TraceState::from_key_value([("vendor", "x")]).unwrap(),
        }
    }
}

#[test]
fn preserving_sampler_keeps_everything_but_drop() {
    let s = PreservingSampler::new(KeepIfNamedKeep);
    let r = |name: &str| {
        s.should_sample(
            None,
            TraceId::from(1u128),
            name,
            &SpanKind::Internal,
            &[],
            &[],
        )
    };
    let kept = r("keep-me");
    assert_eq!(kept.decision, SamplingDecision::RecordAndSample);
    assert_eq!(
        kept.attributes,
        vec![KeyValue::new("sampler.note", "custom")]
    );
    assert_eq!(kept.trace_state.get("vendor"), Some("x"));
    let dropped = r("other");
    assert_eq!(dropped.decision, SamplingDecision::RecordOnly);
    assert_eq!(
        dropped.attributes,
        vec![KeyValue::new("sampler.note", "custom")]
    );
    assert_eq!(dropped.trace_state.get("vendor"), Some("x"));

    // RecordOnly passes through unchanged.
    #[derive(Debug, Clone)]
    struct RecordOnly;
    impl ShouldSample for RecordOnly {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &SpanKind,
            _: &[KeyValue],
            _: &[opentelemetry::trace::Link],
        ) -> SamplingResult {
            SamplingResult {
                decision: SamplingDecision::RecordOnly,
                attributes: vec![],
                trace_state: TraceState::default(),
            }
        }
    }
    let ro = PreservingSampler::new(RecordOnly).should_sample(
        None,
        TraceId::from(1u128),
        "x",
        &SpanKind::Internal,
        &[],
        &[],
    );
    assert_eq!(ro.decision, SamplingDecision::RecordOnly);
}

#[test]
fn preserving_sampler_keeps_parent_based_decisions_for_remote_parents() {
    let s = PreservingSampler::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let parent = |flags| {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(9u128),
            SpanId::from(3u64),
            flags,
            true,
            TraceState::default(),
        ))
    };
    let decide = |cx: &Context| {
        s.should_sample(
            Some(cx),
            TraceId::from(9u128),
            "x",
            &SpanKind::Server,
            &[],
            &[],
        )
        .decision
    };
    assert_eq!(
        decide(&parent(TraceFlags::SAMPLED)),
        SamplingDecision::RecordAndSample
    );
    assert_eq!(
        decide(&parent(TraceFlags::default())),
        SamplingDecision::RecordOnly
    );
}
