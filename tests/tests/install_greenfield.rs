//! Greenfield: nothing installed, `enable()` installs botanu's provider as the global one and
//! spans created in a run reach a real OTLP/HTTP receiver with the run attributes and the
//! resource. Also: idempotence, the bearer token to a loopback endpoint, the key never logged,
//! and `shutdown()` delivering every run span.

use std::time::Duration;

use botanu_core::{BotanuConfig, Mode, RunContext};
use botanu_tests::receiver::{Receiver, Val};
use botanu_tests::LogCapture;
use opentelemetry::global;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

const API_KEY: &str = "btnu_live_sekrit_0123456789";

#[test]
fn greenfield_end_to_end() {
    let logs = LogCapture::install();
    let receiver = Receiver::start().unwrap();
    let config = BotanuConfig::default()
        .with_endpoint(receiver.endpoint())
        .with_api_key(API_KEY)
        .with_service_name("support-api")
        .with_environment("staging")
        .with_schedule_delay(Duration::from_millis(50));
    let botanu = botanu_core::enable_with(config).unwrap();
    assert_eq!(botanu.mode(), Mode::Greenfield);
    assert_eq!(
        logs.matching("greenfield").len(),
        1,
        "one line names the path: {:?}",
        logs.lines()
    );

    // Idempotent, also from other threads: the same handle; the builder refuses.
    let again = botanu_core::enable().unwrap();
    assert_eq!(again.mode(), Mode::Greenfield);
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| botanu_core::enable().unwrap().mode()))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Mode::Greenfield);
    }
    assert!(!logs.matching("already installed").is_empty());
    assert_eq!(
        botanu_core::Botanu::builder().install().unwrap_err(),
        botanu_core::Error::AlreadyInstalled
    );
    // Runs take the configured environment.
    assert_eq!(RunContext::new("w", "e", "c").environment(), "staging");

    // N runs, each a run span and a child span, through the *global* tracer.
    const N: usize = 25;
    let tracer = global::tracer("support-api");
    let mut runs = Vec::new();
    for i in 0..N {
        let run = RunContext::builder("Customer Support")
            .event_id(format!("ticket-{i}"))
            .customer_id(if i % 2 == 0 { "acme" } else { "globex" })
            .build();
        let cx = run.to_context(&Context::new());
        let span = tracer
            .span_builder(format!("botanu.run/{}", run.workflow()))
            .with_attributes(run.to_span_attributes())
            .start_with_context(&tracer, &cx);
        let cx = cx.with_span(span);
        let mut child = tracer.start_with_context("chat gpt-4o", &cx);
        child.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 12));
        child.end();
        cx.span().end();
        runs.push(run);
    }
    // Shutdown flushes: every run span is at the receiver when it returns.
    botanu.shutdown().unwrap();
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2 * N, "all spans delivered by shutdown");
    for run in &runs {
        let of_run: Vec<_> = spans
            .iter()
            .filter(|s| s.attr("botanu.run_id") == Some(run.run_id()))
            .collect();
        assert_eq!(of_run.len(), 2, "run span and child for {}", run.run_id());
        for s in &of_run {
            assert_eq!(s.attr("botanu.workflow"), Some("Customer Support"));
            assert_eq!(s.attr("botanu.event_id"), Some(run.event_id()));
            assert_eq!(s.attr("botanu.customer_id"), Some(run.customer_id()));
            assert_eq!(s.attr("botanu.environment"), Some("staging"));
        }
        let run_span = of_run
            .iter()
            .find(|s| s.name.starts_with("botanu.run/"))
            .unwrap();
        assert_eq!(
            run_span.attributes.get("botanu.attempt"),
            Some(&Val::Int(1))
        );
    }
    let s = &spans[0];
    assert_eq!(s.resource_attr("service.name"), Some("support-api"));
    assert_eq!(s.resource_attr("deployment.environment"), Some("staging"));
    assert_eq!(s.resource_attr("telemetry.sdk.name"), Some("botanu"));
    assert_eq!(s.resource_attr("telemetry.sdk.language"), Some("rust"));
    assert!(s.resource_attr("telemetry.sdk.version").is_some());

    // Trusted host (loopback): the bearer token was sent, on every request.
    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }
    let stats = botanu.stats();
    assert_eq!(stats.exported, (2 * N) as u64);
    assert_eq!((stats.failed, stats.dropped), (0, 0));

    // The key appears in no log line; the endpoint is logged.
    let lines = logs.lines();
    assert!(lines.iter().all(|l| !l.contains(API_KEY)), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(&receiver.endpoint())));
    assert!(!format!("{:?}", botanu.config()).contains(API_KEY));

    // A second shutdown is harmless.
    botanu.shutdown().unwrap();
}
