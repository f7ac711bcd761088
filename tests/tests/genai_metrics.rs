//! GenAI client metrics (`llm::record_metrics`, feature `metrics`) through an app's own
//! `MeterProvider`: the two histograms of the GenAI semantic conventions, with their units,
//! attributes and values, from calls tracked by hand, failed calls and calls recognised on the
//! wire.

use std::collections::BTreeMap;

use botanu_core::llm::{self, track_llm, track_llm_operation};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// One histogram data point: its attributes, count and sum.
#[derive(Debug)]
struct Point {
    attributes: BTreeMap<String, String>,
    count: u64,
    sum: f64,
}

/// The data points of the histogram `name` (with its unit), in the provider's last export.
fn histogram(exporter: &InMemoryMetricExporter, name: &str) -> (String, Vec<Point>) {
    let exported = exporter.get_finished_metrics().unwrap();
    let metric = exported
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .filter(|sm| sm.scope().name() == "botanu.gen_ai")
        .flat_map(|sm| sm.metrics())
        .filter(|m| m.name() == name)
        .last()
        .unwrap_or_else(|| panic!("no metric {name}"));
    let attributes = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let points = match metric.data() {
        AggregatedMetrics::U64(MetricData::Histogram(h)) => h
            .data_points()
            .map(|p| Point {
                attributes: attributes(&mut p.attributes()),
                count: p.count(),
                sum: p.sum() as f64,
            })
            .collect(),
        AggregatedMetrics::F64(MetricData::Histogram(h)) => h
            .data_points()
            .map(|p| Point {
                attributes: attributes(&mut p.attributes()),
                count: p.count(),
                sum: p.sum(),
            })
            .collect(),
        other => panic!("{name} is not a histogram: {other:?}"),
    };
    (metric.unit().to_owned(), points)
}

fn with<'a>(points: &'a [Point], pairs: &[(&str, &str)]) -> Vec<&'a Point> {
    points
        .iter()
        .filter(|p| {
            pairs
                .iter()
                .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[test]
fn llm_calls_record_token_usage_and_duration() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    assert!(llm::record_metrics(&provider));
    assert!(!llm::record_metrics(&provider), "set once");

    // Two calls with usage, one failed call without usage.
    for (input, output) in [(100, 20), (50, 5)] {
        let call = track_llm("OpenAI", "gpt-4o");
        call.set_tokens((input, output))
            .set_response_model("gpt-4o-2024-08-06");
        call.finish();
    }
    let failed = track_llm_operation("anthropic", "claude-sonnet-4-5", "chat");
    failed.set_error_class("rate_limit_exceeded", "slow down");
    failed.finish();
    provider.force_flush().unwrap();

    let (unit, tokens) = histogram(&exporter, "gen_ai.client.token.usage");
    assert_eq!(unit, "{token}");
    let input = with(
        &tokens,
        &[
            ("gen_ai.token.type", "input"),
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o"),
            ("gen_ai.response.model", "gpt-4o-2024-08-06"),
        ],
    );
    assert_eq!(input.len(), 1, "{tokens:?}");
    assert_eq!((input[0].count, input[0].sum), (2, 150.0));
    let output = with(&tokens, &[("gen_ai.token.type", "output")]);
    assert_eq!(output.len(), 1);
    assert_eq!((output[0].count, output[0].sum), (2, 25.0));
    assert!(
        with(&tokens, &[("gen_ai.provider.name", "anthropic")]).is_empty(),
        "no usage point for a call whose usage is unknown"
    );

    let (unit, durations) = histogram(&exporter, "gen_ai.client.operation.duration");
    assert_eq!(unit, "s");
    let ok = with(&durations, &[("gen_ai.provider.name", "openai")]);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].count, 2);
    assert!(!ok[0].attributes.contains_key("error.type"));
    let err = with(
        &durations,
        &[
            ("gen_ai.provider.name", "anthropic"),
            ("error.type", "rate_limit_exceeded"),
        ],
    );
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].count, 1);
    assert!(err[0].sum >= 0.0 && err[0].sum < 10.0);
}
