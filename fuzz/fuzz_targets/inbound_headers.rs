//! Arbitrary inbound `traceparent`, `tracestate`, `baggage`, `x-request-id` and extractor-visible
//! headers through the run lifecycle the tower/axum/actix adapters use: never panics, and the
//! run always exists with a non-empty event id.
#![no_main]

use botanu_core::adapter::{extract_inbound, RunEnd, RunSpec};
use botanu_core::RunStatus;
use libfuzzer_sys::fuzz_target;
use opentelemetry_http::HeaderExtractor;

fuzz_target!(|data: &[u8]| {
    let names = ["traceparent", "tracestate", "baggage", "x-request-id", "x-customer-id"];
    let mut headers = http::HeaderMap::new();
    for (name, part) in names.iter().zip(data.split(|b| *b == 0)) {
        if let Ok(v) = http::HeaderValue::from_bytes(part) {
            headers.insert(*name, v);
        }
    }
    let inbound = extract_inbound(&HeaderExtractor(&headers));
    let customer = headers
        .get("x-customer-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let active = RunSpec::new("Fuzz")
        .customer_id(customer)
        .fallback_event_id(request_id)
        .start(&inbound);
    assert!(!active.run().event_id().is_empty());
    active.finish(RunEnd::new(RunStatus::Success));
});
