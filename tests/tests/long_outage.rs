//! A long outage: the collector rejects every export (503) for longer than botanu's queue can
//! hold. The app is never blocked, the overflow is counted in `Botanu::stats()` and logged in a
//! bounded number of lines, and once the collector is back the runs that follow are exported
//! again — the queue frees itself, nothing stays stuck.

use std::time::{Duration, Instant};

use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{BotanuConfig, RunStatus};
use botanu_tests::receiver::Receiver;
use botanu_tests::{poll_until, LogCapture};
use opentelemetry::trace::{Span as _, Tracer};
use opentelemetry::Context;

const QUEUE: usize = 200;
/// Runs started during the outage: each is a run span and one child, 20× the queue.
const OUTAGE_RUNS: usize = 2_000;
const AFTER_RUNS: usize = 100;

/// Starts and finishes one run of two spans with event id `event`.
fn one_run(event: String) {
    let active = RunSpec::new("Support")
        .event_id(Some(event))
        .customer_id(Some("acme".into()))
        .start(&Context::new());
    botanu_core::tracer()
        .start_with_context("llm call", active.context())
        .end();
    active.finish(RunEnd::new(RunStatus::Success));
}

#[test]
fn long_outage_overflows_counted_then_export_resumes() {
    let logs = LogCapture::install();
    let receiver = Receiver::start().unwrap();
    receiver.respond_with(503);
    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(receiver.endpoint())
            .with_max_queue_size(QUEUE)
            .with_max_export_batch_size(50)
            .with_schedule_delay(Duration::from_millis(20))
            // Retries of one batch give up after this: the outage outlasts many of them.
            .with_export_timeout(Duration::from_millis(300)),
    )
    .unwrap();

    // The outage: 4,000 spans against a queue of 200.
    let started = Instant::now();
    for i in 0..OUTAGE_RUNS {
        one_run(format!("during-{i}"));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "{OUTAGE_RUNS} runs took {elapsed:?}: the app was blocked by the outage"
    );
    let during = botanu.stats();
    assert_eq!(during.queued, 2 * OUTAGE_RUNS as u64);
    assert!(
        during.dropped >= (2 * OUTAGE_RUNS - 2 * QUEUE) as u64 / 2,
        "the overflow is counted: {during:?}"
    );
    assert!(
        during.in_flight() <= QUEUE as u64,
        "never more than the bound in flight: {during:?}"
    );
    // The outage lasts: several batches fail after their retries.
    assert!(
        poll_until(Duration::from_secs(10), || botanu.stats().failed_requests
            >= 3),
        "{:?}",
        botanu.stats()
    );
    assert_eq!(receiver.spans().len(), 0, "nothing was accepted while down");

    // Back up. What was queued during the outage drains (exported or failed, never stuck).
    receiver.accept();
    assert!(
        poll_until(Duration::from_secs(15), || {
            let s = botanu.stats();
            s.queued == s.exported + s.failed + s.dropped
        }),
        "the queue drains after recovery: {:?}",
        botanu.stats()
    );
    let recovered = botanu.stats();

    // Runs after recovery are all exported, with nothing dropped.
    for i in 0..AFTER_RUNS {
        one_run(format!("after-{i}"));
    }
    botanu.force_flush().unwrap();
    let after_run_spans = |spans: &[botanu_tests::receiver::ReceivedSpan]| {
        spans
            .iter()
            .filter(|s| s.name == "botanu.run/Support")
            .filter(|s| {
                s.attr("botanu.event_id")
                    .is_some_and(|e| e.starts_with("after-"))
            })
            .count()
    };
    assert!(
        receiver.wait_for(Duration::from_secs(10), |s| after_run_spans(s)
            == AFTER_RUNS),
        "every run after the outage arrives: {} of {AFTER_RUNS}",
        after_run_spans(&receiver.spans())
    );
    let end = botanu.stats();
    assert_eq!(
        end.dropped, recovered.dropped,
        "no drops once healthy: {end:?}"
    );
    assert!(
        end.exported >= recovered.exported + 2 * AFTER_RUNS as u64,
        "{end:?}"
    );

    // Bounded logging over the whole outage: thousands of drops and many failed batches, a
    // handful of lines.
    let drops = logs.matching("queue is full");
    let failures = logs.matching("botanu export failed");
    assert!(
        !drops.is_empty(),
        "the overflow is logged: {:?}",
        logs.lines()
    );
    assert!(
        !failures.is_empty(),
        "the failures are logged: {:?}",
        logs.lines()
    );
    assert!(
        drops.len() + failures.len() <= 6,
        "rate-limited, not one line per span or batch: {} + {}",
        drops.len(),
        failures.len()
    );
    assert!(failures[0].contains("503"), "{failures:?}");
    let _ = botanu.shutdown();
}
