//! The API key is not sent to a host outside the trusted list, over real HTTP.
//!
//! `http://127.1:<port>` is a host string that is not in the trusted list (the rule compares
//! the configured host, as the reference SDK does) while still reaching the receiver on
//! 127.0.0.1, so the test can see what such a host would receive.

use std::time::Duration;

use botanu_core::{BotanuConfig, RunContext};
use botanu_tests::receiver::Receiver;
use botanu_tests::LogCapture;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;

const API_KEY: &str = "btnu_live_do_not_leak_42";

#[test]
fn api_key_is_withheld_from_an_untrusted_host() {
    let logs = LogCapture::install();
    let receiver = Receiver::start().unwrap();
    let untrusted = format!("http://127.1:{}", receiver.addr().port());
    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_api_key(API_KEY)
            .with_endpoint(untrusted)
            .with_schedule_delay(Duration::from_millis(20)),
    )
    .unwrap();
    let run = RunContext::new("Support", "t-1", "acme");
    botanu_core::tracer().start_with_context("work", &run.to_context(&Context::new()));
    botanu.force_flush().unwrap();
    assert!(receiver.wait_for_spans(1, Duration::from_secs(10)));
    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(!r.headers.contains_key("authorization"), "{:?}", r.headers);
        assert!(r.headers.values().all(|v| !v.contains(API_KEY)));
    }
    let withheld = logs.matching("key is withheld");
    assert_eq!(withheld.len(), 1, "{:?}", logs.lines());
    assert!(withheld[0].contains("127.1"));
    assert!(logs.lines().iter().all(|l| !l.contains(API_KEY)));
    botanu.shutdown().unwrap();
}
