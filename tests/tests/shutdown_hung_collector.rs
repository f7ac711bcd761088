//! No span lost without a count: a collector that accepts connections and never answers
//! (hung) while the app shuts down. Shutdown waits `shutdown_timeout`, not longer; the spans
//! still queued then are counted as lost, in `stats()` and in the shutdown line, so
//! `queued == exported + failed + dropped + lost` holds — and keeps holding when the export
//! under way finally times out.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use botanu_core::{BotanuConfig, RunContext};
use botanu_tests::LogCapture;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;

const SPANS: u64 = 200;

#[test]
fn a_hung_collector_at_shutdown_loses_spans_with_a_count() {
    let logs = LogCapture::install();
    // Accepts, reads nothing, answers nothing; keeps every connection open.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming() {
            held.push(stream);
        }
    });
    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_schedule_delay(Duration::from_secs(60))
            .with_export_timeout(Duration::from_secs(3))
            .with_shutdown_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let run = RunContext::new("Support", "t-1", "acme");
    let cx = run.to_context(&Context::new());
    for _ in 0..SPANS {
        botanu_core::tracer().start_with_context("work", &cx);
    }
    assert_eq!(botanu.stats().lost, 0, "nothing is lost before shutdown");

    let started = Instant::now();
    assert_eq!(
        botanu.shutdown(),
        Err(botanu_core::Error::Shutdown(
            botanu_core::Incomplete::Timeout(Duration::from_millis(300))
        )),
        "shutdown says it did not finish, and why"
    );
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "shutdown waited {waited:?}"
    );

    let s = botanu.stats();
    assert_eq!(s.queued, SPANS);
    assert_eq!(s.exported, 0);
    assert!(s.lost > 0, "{s:?}");
    assert_eq!(
        s.queued,
        s.exported + s.failed + s.dropped + s.lost,
        "{s:?}"
    );
    let line = logs.matching("botanu export stopped");
    assert_eq!(line.len(), 1, "{:?}", logs.lines());
    assert!(line[0].contains(&format!("lost={}", s.lost)), "{line:?}");

    // The export under way times out later: the spans move from lost to failed, and the
    // identity still holds.
    assert!(botanu_tests::poll_until(Duration::from_secs(8), || {
        botanu.stats().failed == SPANS
    }));
    let s = botanu.stats();
    assert_eq!(
        s.queued,
        s.exported + s.failed + s.dropped + s.lost,
        "{s:?}"
    );
    assert_eq!(s.lost, 0);
}
