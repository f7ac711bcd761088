//! Runnable demos of botanu-rs (see `examples/`). The repository README is included here so
//! that its code is compiled and run as a doctest.
#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]

use botanu_tests::receiver::Receiver;

/// Whether the environment names a collector (`OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `BOTANU_COLLECTOR_ENDPOINT`) or an API key: then demos export there.
pub fn collector_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "BOTANU_COLLECTOR_ENDPOINT",
        "BOTANU_API_KEY",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
}

/// The in-repo OTLP receiver on 127.0.0.1, unless a collector is configured.
pub fn local_receiver_unless_configured() -> Option<Receiver> {
    (!collector_configured()).then(|| Receiver::start().expect("start the local OTLP receiver"))
}
