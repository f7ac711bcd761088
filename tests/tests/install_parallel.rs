//! Parallel: another library installed a global tracer provider before `enable()`. botanu
//! leaves it alone, runs its own provider, and only botanu's spans reach botanu's receiver.

use std::time::Duration;

use botanu_core::{BotanuConfig, Mode, RunContext};
use botanu_tests::receiver::Receiver;
use botanu_tests::LogCapture;
use opentelemetry::global;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

#[test]
fn parallel_provider_leaves_the_users_global_alone() {
    let logs = LogCapture::install();
    let receiver = Receiver::start().unwrap();
    let theirs = InMemorySpanExporter::default();
    global::set_tracer_provider(
        SdkTracerProvider::builder()
            .with_simple_exporter(theirs.clone())
            .build(),
    );
    global::tracer("their-app").in_span("before botanu", |_| {});

    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(receiver.endpoint())
            .with_gzip(true)
            .with_schedule_delay(Duration::from_millis(50)),
    )
    .unwrap();
    assert_eq!(botanu.mode(), Mode::Parallel);
    assert_eq!(
        logs.matching("mode=\"parallel\"").len(),
        1,
        "{:?}",
        logs.lines()
    );

    // Their tracing continues unchanged, through the untouched global.
    let run = RunContext::new("Support", "t-1", "acme");
    let run_cx = run.to_context(&Context::new());
    global::tracer("their-app").in_span("after botanu", |_| {});
    // botanu's own spans go through botanu's tracer.
    let tracer = botanu_core::tracer();
    let run_span = tracer.start_with_context("botanu.run/Support", &run_cx);
    let cx = run_cx.with_span(run_span);
    tracer.start_with_context("llm", &cx);
    cx.span().end();
    drop(cx);
    botanu.force_flush().unwrap();
    assert!(receiver.wait_for_spans(2, Duration::from_secs(10)));

    let their_names: Vec<String> = theirs
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(their_names, ["before botanu", "after botanu"]);
    let ours: Vec<String> = receiver.spans().iter().map(|s| s.name.clone()).collect();
    assert_eq!(ours.len(), 2);
    assert!(ours.contains(&"botanu.run/Support".to_owned()) && ours.contains(&"llm".to_owned()));
    assert!(receiver
        .spans()
        .iter()
        .all(|s| s.attr("botanu.run_id") == Some(run.run_id()) && s.scope == "botanu_sdk"));

    // Compressed requests, decoded by the receiver.
    assert!(receiver.requests().iter().all(|r| r
        .headers
        .get("content-encoding")
        .map(String::as_str)
        == Some("gzip")));

    // Shutting botanu down does not shut theirs down.
    botanu.shutdown().unwrap();
    global::tracer("their-app").in_span("after shutdown", |_| {});
    assert_eq!(theirs.get_finished_spans().unwrap().len(), 3);
}
