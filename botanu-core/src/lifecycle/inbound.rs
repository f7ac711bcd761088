//! The inbound context of a request: strict W3C `traceparent`, the app's trace formats through
//! the global propagator, and botanu's Python-compatible baggage rules.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::{global, Context};

use crate::BaggagePropagator;

/// The inbound context of a request: trace context through the global propagator (so the
/// app's formats, e.g. B3, keep working) and baggage through botanu's Python-compatible
/// [`BaggagePropagator`]. Malformed or oversized headers are ignored, never an error.
pub fn extract_inbound(headers: &dyn Extractor) -> Context {
    let strict = StrictTraceparent(headers);
    global::get_text_map_propagator(|p| {
        if crate::otel::install::is_own_propagator(p) {
            // botanu's own propagator reads `traceparent` (with `tracestate`) and `baggage`
            // (botanu's rules): without either header there is nothing to extract.
            if headers.get(TRACEPARENT).is_none() && headers.get("baggage").is_none() {
                return Context::current();
            }
            return p.extract(&strict);
        }
        extract_baggage(&p.extract(&strict), headers)
    })
}

/// The inbound headers with a `traceparent` that is not valid W3C trace context hidden, so
/// that the propagator (which accepts e.g. `00-1-2-01` as trace id `0…01`) starts a new trace
/// instead of continuing a forged or broken one.
struct StrictTraceparent<'a>(&'a dyn Extractor);

impl StrictTraceparent<'_> {
    fn hides(&self, key: &str) -> bool {
        key.eq_ignore_ascii_case(TRACEPARENT)
            && self.0.get(TRACEPARENT).is_some_and(|v| {
                let valid = is_valid_traceparent(v);
                if !valid {
                    tracing::debug!(target: "botanu", "inbound traceparent is not valid W3C trace context; the request starts a new trace");
                }
                !valid
            })
    }
}

impl Extractor for StrictTraceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if self.hides(key) {
            None
        } else {
            self.0.get(key)
        }
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .into_iter()
            .filter(|k| !self.hides(k))
            .collect()
    }
}

const TRACEPARENT: &str = "traceparent";

/// W3C Trace Context `traceparent`: `version-traceid-parentid-flags`, lowercase hex of exactly
/// 2, 32, 16 and 2 digits, version `ff` invalid, ids not all zeros; version `00` has nothing
/// after the flags, a later version may have more after a `-`.
pub(crate) fn is_valid_traceparent(value: &str) -> bool {
    let value = value.trim();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) = (
        value.get(0..2),
        value.get(3..35),
        value.get(36..52),
        value.get(53..55),
    ) else {
        return false;
    };
    let dashes = [2, 35, 52].iter().all(|&i| value.as_bytes()[i] == b'-');
    let rest_ok = match value.len() {
        55 => true,
        _ => version != "00" && value.as_bytes().get(55) == Some(&b'-'),
    };
    dashes
        && rest_ok
        && hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2)
}

/// `cx` with the inbound baggage of `headers` (botanu's Python-compatible codec), its trace
/// context untouched.
pub(super) fn extract_baggage(cx: &Context, headers: &dyn Extractor) -> Context {
    if headers.get("baggage").is_none() {
        return cx.clone();
    }
    BaggagePropagator::new().extract_with_context(cx, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_validation() {
        for valid in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        ] {
            assert!(is_valid_traceparent(valid), "{valid}");
        }
        for invalid in [
            "00-1-2-01",
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(!is_valid_traceparent(invalid), "{invalid}");
        }
    }

    #[test]
    fn an_invalid_traceparent_is_not_continued() {
        use opentelemetry::trace::TraceContextExt;
        global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let headers =
            |tp: &str| std::collections::HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
        // What the upstream propagator alone makes of it: a "valid" trace 0…01.
        let upstream = global::get_text_map_propagator(|p| p.extract(&headers("00-1-2-01")));
        assert!(upstream.span().span_context().is_valid());
        let forged = extract_inbound(&headers("00-1-2-01"));
        assert!(!forged.span().span_context().is_valid());
        let good = extract_inbound(&headers(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert!(good.span().span_context().is_valid());
    }
}
