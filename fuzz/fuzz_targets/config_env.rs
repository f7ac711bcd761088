//! Configuration from arbitrary env-like maps: never panics; resolves or names a variable.
#![no_main]

use botanu_core::{BotanuConfig, Error};
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 14] = [
    "BOTANU_API_KEY",
    "BOTANU_COLLECTOR_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "BOTANU_CONTENT_CAPTURE_RATE",
    "BOTANU_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "BOTANU_DISABLED",
    "BOTANU_ENVIRONMENT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "BOTANU_PII_SCRUB_DISABLE_PATTERNS",
    "BOTANU_PII_SCRUB_REPLACEMENT",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let values: Vec<&str> = text.split('\n').collect();
    let lookup = |k: &str| {
        VARS.iter()
            .position(|v| *v == k)
            .and_then(|i| values.get(i))
            .map(|v| v.to_string())
    };
    let config = BotanuConfig::from_lookup(lookup);
    let _ = format!("{config:?}");
    let _ = config.scrubber().map(|s| s.scrub(text).len());
    match botanu_core::__bench::traces_endpoint(&config) {
        Ok(endpoint) => assert!(endpoint.starts_with("http")),
        Err(Error::Config { variable, .. }) => assert!(!variable.is_empty()),
        Err(e) => panic!("unexpected error {e}"),
    }
});
