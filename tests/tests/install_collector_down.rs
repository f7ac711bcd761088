//! The collector is down (nothing listening): `enable()` still succeeds,
//! 10,000 spans neither block the app nor grow the queue past its bound, and the logs say so
//! in a bounded number of lines.

use std::time::{Duration, Instant};

use botanu_core::{BotanuConfig, RunContext};
use botanu_tests::{poll_until, LogCapture};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::Context;

const QUEUE: usize = 1000;

#[test]
fn collector_down_never_hurts_the_app() {
    let logs = LogCapture::install();
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);

    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(dead_endpoint)
            .with_max_queue_size(QUEUE)
            .with_max_export_batch_size(100)
            .with_schedule_delay(Duration::from_millis(20))
            // Long enough for retries with backoff (200 ms, 400 ms, …): the export threads are
            // busy retrying while the app keeps ending spans, so the queue fills. (With a
            // timeout shorter than the first backoff, refused requests fail at once and
            // the four export threads drain the queue as fast as the app fills it.)
            .with_export_timeout(Duration::from_millis(2_000)),
    )
    .expect("enable() succeeds with the collector down");

    let tracer = botanu_core::tracer();
    let run = RunContext::new("Support", "t-1", "acme");
    let cx = run.to_context(&Context::new());
    let started = Instant::now();
    let mut max_in_flight = 0;
    for i in 0..10_000 {
        let span = tracer.start_with_context("work", &cx);
        drop(cx.with_span(span));
        if i % 100 == 0 {
            let s = botanu.stats();
            max_in_flight = max_in_flight.max(s.in_flight());
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "10,000 spans took {elapsed:?}: the app was blocked"
    );
    assert!(
        max_in_flight <= QUEUE as u64,
        "queue grew to {max_in_flight}"
    );
    let stats = botanu.stats();
    assert_eq!(stats.queued, 10_000);
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.exported, 0);

    // Let the exporter fail a few batches, then count log lines.
    assert!(
        poll_until(Duration::from_secs(10), || botanu.stats().failed_requests
            >= 2),
        "{:?}",
        botanu.stats()
    );
    let failures = logs.matching("botanu export failed");
    let drops = logs.matching("queue is full");
    assert_eq!(failures.len(), 1, "failures are rate-limited: {failures:?}");
    assert!(failures[0].contains("network error"), "{failures:?}");
    assert!(!drops.is_empty(), "the drop is logged: {:?}", logs.lines());
    assert!(
        failures.len() + drops.len() <= 4,
        "a bounded number of lines, not one per span: {} + {}",
        failures.len(),
        drops.len()
    );
    assert!(drops[0].contains("dropped_total"));

    // Shutdown is bounded too: each failing batch gives up at the export timeout.
    let shutdown_started = Instant::now();
    let _ = botanu.shutdown();
    assert!(shutdown_started.elapsed() < Duration::from_secs(10));
    let s = botanu.stats();
    assert_eq!(s.exported, 0);
    assert_eq!(
        s.queued,
        s.failed + s.dropped + s.lost,
        "every span ended as failed, dropped or lost: {s:?}"
    );
}
