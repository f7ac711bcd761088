//! Baggage header text → decoded baggage → RunContext → re-encoded header: never panics, and
//! what is re-encoded stays within the W3C limits.
#![no_main]

use botanu_core::propagation::{decode_header, MAX_HEADER_BYTES, MAX_MEMBERS};
use botanu_core::{BaggagePropagator, RunContext};
use libfuzzer_sys::fuzz_target;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::Context;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let baggage = decode_header(header);
    if let Some(run) = RunContext::from_baggage(&baggage) {
        let cx = run.to_context(&Context::new());
        let mut out = std::collections::HashMap::new();
        BaggagePropagator::new().inject_context(&cx, &mut out);
        if let Some(h) = out.get("baggage") {
            assert!(h.len() <= MAX_HEADER_BYTES);
            assert!(h.split(',').count() <= MAX_MEMBERS);
        }
        let _ = run.to_span_attributes();
    }
});
