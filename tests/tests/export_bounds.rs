//! botanu's export path under large spans and slow collectors, against the in-repo receiver:
//!
//! - the queue is bounded in bytes: large spans beyond the bound are dropped and counted
//!   (`queued == exported + failed + dropped + lost`), never held without limit;
//! - a batch larger than the request size limit is split into several requests, each within
//!   the limit, and every span arrives (none discarded with the batch);
//! - a slow but healthy collector does not cap delivery: several requests are in flight at
//!   once, never more than configured;
//! - compression: none to a collector on loopback unless asked, gzip when asked.
//!
//! botanu installs once per process, so each scenario runs in a child process of this test
//! binary (the ignored `scenario` test), which prints its results as `KEY\tvalue` lines.

use std::sync::Arc;
use std::time::Duration;

use botanu_core::{BotanuConfig, RunContext};
use botanu_tests::child::{lines_with, run_child};
use botanu_tests::receiver::Receiver;
use botanu_tests::{poll_until, LogCapture};
use opentelemetry::trace::{Span as _, Tracer};
use opentelemetry::{Context, KeyValue, StringValue};

/// One 8,000-byte string attribute (under the default value limit of 8,192 bytes).
fn chunk(i: usize) -> KeyValue {
    KeyValue::new(format!("app.blob.{i}"), "x".repeat(8_000))
}

/// Ends `n` spans in a run, each with `chunks` attributes of 8,000 bytes.
fn end_spans(n: usize, chunks: usize) {
    let run = RunContext::new("Support", "t-1", "acme");
    let cx = run.to_context(&Context::new());
    let tracer = botanu_core::tracer();
    for _ in 0..n {
        let mut span = tracer.start_with_context("work", &cx);
        for i in 0..chunks {
            span.set_attribute(chunk(i));
        }
        span.end();
    }
}

fn print_stats(botanu: &botanu_core::Botanu) {
    let s = botanu.stats();
    println!("QUEUED\t{}", s.queued);
    println!("EXPORTED\t{}", s.exported);
    println!("FAILED\t{}", s.failed);
    println!("DROPPED\t{}", s.dropped);
    println!("LOST\t{}", s.lost);
}

#[test]
#[ignore = "a child process of the tests below"]
fn scenario() {
    let logs = LogCapture::install();
    let receiver = Receiver::start().unwrap();
    let scenario = std::env::var("SCENARIO").unwrap();
    let config = BotanuConfig::default()
        .with_endpoint(receiver.endpoint())
        .with_schedule_delay(Duration::from_millis(50))
        .with_export_timeout(Duration::from_secs(20));
    match scenario.as_str() {
        "bytes" => {
            // 100 spans of ~80 KB against a 1 MiB byte bound (the span bound, 65,536, is far):
            // while the collector holds its answers, only about a dozen fit.
            receiver.delay(Duration::from_secs(2));
            let botanu = botanu_core::enable_with(config.with_max_queue_bytes(1 << 20)).unwrap();
            end_spans(100, 10);
            receiver.delay(Duration::ZERO);
            botanu.shutdown().unwrap();
            print_stats(&botanu);
            println!("RECEIVED\t{}", receiver.accepted());
            println!("LOGGED\t{}", logs.matching("queue is full").len());
        }
        "split" => {
            // 50 spans of ~80 KB in one batch: 4 MB against a 256 KiB request limit.
            let botanu = botanu_core::enable_with(
                config
                    .with_schedule_delay(Duration::from_secs(60))
                    .with_max_export_request_bytes(256 << 10),
            )
            .unwrap();
            end_spans(50, 10);
            botanu.force_flush().unwrap();
            print_stats(&botanu);
            let requests = receiver.requests();
            println!("REQUESTS\t{}", requests.len());
            println!(
                "LARGEST\t{}",
                requests.iter().map(|r| r.body_bytes).max().unwrap_or(0)
            );
            println!("RECEIVED\t{}", receiver.accepted());
            botanu.shutdown().unwrap();
        }
        "slow" => {
            // Every answer takes 400 ms; 8 full batches wait.
            receiver.delay(Duration::from_millis(400));
            let botanu = botanu_core::enable_with(
                config
                    .with_schedule_delay(Duration::from_secs(60))
                    .with_max_export_batch_size(10)
                    .with_max_concurrent_exports(3),
            )
            .unwrap();
            end_spans(80, 0);
            // The receiver counts a request before its answer reaches botanu: wait for both.
            assert!(poll_until(Duration::from_secs(20), || botanu
                .stats()
                .exported
                == 80));
            print_stats(&botanu);
            println!("MAX_IN_FLIGHT\t{}", receiver.max_in_flight());
            botanu.shutdown().unwrap();
        }
        "gzip-default" | "gzip-on" => {
            let config = if scenario == "gzip-on" {
                config.with_gzip(true).with_gzip_level(6)
            } else {
                config
            };
            let botanu = botanu_core::enable_with(config).unwrap();
            end_spans(3, 1);
            botanu.force_flush().unwrap();
            let requests = receiver.requests();
            let encoding = requests[0].headers.get("content-encoding").cloned();
            println!("ENCODING\t{}", encoding.as_deref().unwrap_or("none"));
            println!("RECEIVED\t{}", receiver.accepted());
            botanu.shutdown().unwrap();
        }
        "reclaim" => {
            // Exported spans go back to the app's threads to be dropped, one per span they
            // end; at most a batch waits, and an idle export thread drops them itself.
            let botanu = botanu_core::enable_with(
                config
                    .with_schedule_delay(Duration::from_secs(1))
                    .with_max_export_batch_size(8),
            )
            .unwrap();
            let marker: Arc<str> = Arc::from("marker");
            let held = || Arc::strong_count(&marker) - 1;
            let tracer = botanu_core::tracer();
            let end_marked = |n: usize| {
                for _ in 0..n {
                    let mut span = tracer.start("work");
                    span.set_attribute(KeyValue::new(
                        "app.marker",
                        StringValue::from(marker.clone()),
                    ));
                    span.end();
                }
            };
            let exported = |n: u64| {
                assert!(poll_until(Duration::from_secs(20), || botanu
                    .stats()
                    .exported
                    == n));
                // Settled: the export thread is done with the batch.
                botanu.force_flush().unwrap();
            };
            end_marked(8);
            exported(8);
            println!("HELD_EXPORTED\t{}", held());
            end_spans(3, 0);
            println!("HELD_AFTER_ENDS\t{}", held());
            poll_until(Duration::from_secs(10), || held() == 0);
            println!("HELD_IDLE\t{}", held());
            end_marked(24);
            exported(8 + 3 + 24);
            println!("HELD_BOUND\t{}", held());
            botanu.shutdown().unwrap();
            println!("HELD_SHUTDOWN\t{}", held());
            println!("RECEIVED\t{}", receiver.accepted());
        }
        "reclaim-bytes" => {
            // Exported spans waiting for the app's threads are bounded in bytes too: a
            // sixteenth of the queue's byte bound (64 KiB here), two spans of ~24 KB.
            let botanu = botanu_core::enable_with(
                config
                    .with_schedule_delay(Duration::from_secs(60))
                    .with_max_export_batch_size(8)
                    .with_max_queue_bytes(1 << 20),
            )
            .unwrap();
            let marker: Arc<str> = Arc::from("marker");
            let tracer = botanu_core::tracer();
            for _ in 0..8 {
                let mut span = tracer.start("work");
                span.set_attribute(KeyValue::new(
                    "app.marker",
                    StringValue::from(marker.clone()),
                ));
                for i in 0..3 {
                    span.set_attribute(chunk(i));
                }
                span.end();
            }
            assert!(poll_until(Duration::from_secs(20), || botanu
                .stats()
                .exported
                == 8));
            botanu.force_flush().unwrap();
            println!("HELD_BYTES\t{}", Arc::strong_count(&marker) - 1);
            botanu.shutdown().unwrap();
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn value(out: &str, key: &str) -> u64 {
    let line = lines_with(out, &format!("{key}\t"));
    line.iter()
        .next()
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
        .parse()
        .unwrap()
}

fn run(scenario: &str) -> String {
    run_child("scenario", &[("SCENARIO", scenario.to_owned())])
}

#[test]
fn the_queue_is_bounded_in_bytes_and_every_drop_is_counted() {
    let out = run("bytes");
    let (queued, exported, failed, dropped, lost) = (
        value(&out, "QUEUED"),
        value(&out, "EXPORTED"),
        value(&out, "FAILED"),
        value(&out, "DROPPED"),
        value(&out, "LOST"),
    );
    assert_eq!(queued, 100, "{out}");
    // ~80 KB each against 1 MiB: at most 13 held at once, so most were dropped.
    assert!(
        (80..100).contains(&dropped),
        "dropped {dropped} of 100:\n{out}"
    );
    assert_eq!(queued, exported + failed + dropped + lost, "{out}");
    assert_eq!(exported, value(&out, "RECEIVED"), "{out}");
    assert_eq!(failed + lost, 0, "{out}");
    assert_eq!(value(&out, "LOGGED"), 1, "one rate-limited line:\n{out}");
}

#[test]
fn an_oversized_batch_is_split_and_every_span_arrives() {
    let out = run("split");
    assert_eq!(value(&out, "EXPORTED"), 50, "{out}");
    assert_eq!(value(&out, "RECEIVED"), 50, "{out}");
    assert_eq!(value(&out, "FAILED") + value(&out, "DROPPED"), 0, "{out}");
    // ~80 KB a span, 256 KiB a request: three spans each.
    let requests = value(&out, "REQUESTS");
    assert!((16..=25).contains(&requests), "{requests} requests:\n{out}");
    assert!(value(&out, "LARGEST") <= 256 << 10, "{out}");
}

#[test]
fn a_slow_collector_gets_concurrent_requests_within_the_bound() {
    let out = run("slow");
    assert_eq!(value(&out, "EXPORTED"), 80, "{out}");
    let in_flight = value(&out, "MAX_IN_FLIGHT");
    assert!(
        (2..=3).contains(&in_flight),
        "{in_flight} requests at once, configured 3:\n{out}"
    );
}

#[test]
fn exported_spans_are_dropped_by_the_app_threads_within_a_bound() {
    let out = run("reclaim");
    // The batch waits to be dropped; each span the app ends drops one.
    assert_eq!(value(&out, "HELD_EXPORTED"), 8, "{out}");
    assert_eq!(value(&out, "HELD_AFTER_ENDS"), 5, "{out}");
    // With no span ends, the export thread drops them when its schedule comes round.
    assert_eq!(value(&out, "HELD_IDLE"), 0, "{out}");
    // Never more than a batch (8) waits, and shutdown drops what does.
    assert!(value(&out, "HELD_BOUND") <= 8, "{out}");
    assert_eq!(value(&out, "HELD_SHUTDOWN"), 0, "{out}");
    assert_eq!(value(&out, "RECEIVED"), 35, "{out}");
    let out = run("reclaim-bytes");
    assert_eq!(value(&out, "HELD_BYTES"), 2, "{out}");
}

#[test]
fn compression_none_on_loopback_unless_asked() {
    let out = run("gzip-default");
    assert_eq!(lines_with(&out, "ENCODING\t").first().unwrap(), "none");
    assert_eq!(value(&out, "RECEIVED"), 3);
    let out = run("gzip-on");
    assert_eq!(lines_with(&out, "ENCODING\t").first().unwrap(), "gzip");
    assert_eq!(value(&out, "RECEIVED"), 3);
}
