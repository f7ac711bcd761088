//! Wire compatibility of the baggage codec with the reference Python SDK, using the
//! vectors produced by running that SDK (`fixtures/baggage-vectors.json`), plus the W3C limits
//! and the run ↔ context binding.

use std::collections::{BTreeMap, HashMap};

use botanu_core::propagation::{decode_header, encode_header, MAX_HEADER_BYTES};
use botanu_core::{BaggagePropagator, RunContext};
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::Context;
use proptest::prelude::*;

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/baggage-vectors.json")).unwrap()
}

fn to_map(b: &Baggage) -> BTreeMap<String, String> {
    b.iter()
        .map(|(k, (v, _))| (k.as_str().to_owned(), v.as_str().to_owned()))
        .collect()
}

/// What the reference SDK's decoder (OpenTelemetry Python's W3C propagator, `unquote_plus`
/// on each value) makes of a header: `+` is a space, `%XX` a byte, metadata stays in the value.
fn python_decode(header: &str) -> BTreeMap<String, String> {
    fn unquote_plus(s: &str) -> String {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    header
        .split(',')
        .filter_map(|m| m.trim().split_once('='))
        .map(|(k, v)| (unquote_plus(k.trim()), unquote_plus(v.trim())))
        .collect()
}

fn header_of(cx: &Context) -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    BaggagePropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("baggage")
}

fn run_from_entries(entries: &serde_json::Map<String, serde_json::Value>) -> RunContext {
    let s = |k: &str| entries[k].as_str().unwrap().to_owned();
    let mut b = RunContext::builder(s("botanu.workflow"))
        .run_id(s("botanu.run_id"))
        .event_id(s("botanu.event_id"))
        .customer_id(s("botanu.customer_id"))
        .environment(s("botanu.environment"));
    if let Some(t) = entries.get("botanu.tenant_id") {
        b = b.tenant_id(t.as_str().unwrap());
    }
    if let Some(p) = entries.get("botanu.parent_run_id") {
        b = b.parent_run_id(p.as_str().unwrap());
    }
    b.build()
}

#[test]
fn encode_vectors_are_read_back_exactly_by_python_and_by_rust() {
    let v = vectors();
    let mut checked = 0;
    for case in v["encode"].as_array().unwrap() {
        let Some(entries) = case.get("baggage_entries").and_then(|e| e.as_object()) else {
            continue;
        };
        let expected: BTreeMap<String, String> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let run = run_from_entries(entries);
        assert_eq!(
            run.to_baggage()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
            expected,
            "to_baggage gives the reference entries"
        );

        let ours = header_of(&run.to_context(&Context::new())).unwrap();
        // A Python receiver decodes our header to exactly the entries.
        assert_eq!(python_decode(&ours), expected, "python reads {ours}");
        // We decode our own header and Python's header to exactly the entries.
        assert_eq!(to_map(&decode_header(&ours)), expected, "rust reads {ours}");
        let python_header = case["python_header"].as_str().unwrap();
        assert_eq!(
            to_map(&decode_header(python_header)),
            expected,
            "rust reads python's {python_header}"
        );
        // And the run survives the trip through Python's header.
        let back = RunContext::from_baggage(&decode_header(python_header)).unwrap();
        assert_eq!(back.run_id(), run.run_id());
        assert_eq!(back.workflow(), run.workflow());
        assert_eq!(back.event_id(), run.event_id());
        assert_eq!(back.customer_id(), run.customer_id());
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn our_encoding_escapes_plus_percent_and_space() {
    let h = encode_header([
        ("botanu.workflow", "a+b"),
        ("botanu.event_id", "evt 1,2;3"),
        ("botanu.customer_id", "cust=x%y"),
    ])
    .unwrap();
    assert_eq!(
        h,
        "botanu.workflow=a%2Bb,botanu.event_id=evt%201%2C2%3B3,botanu.customer_id=cust%3Dx%25y"
    );
}

#[test]
fn retry_vector_keys_match_reference() {
    let v = vectors();
    let case = v["encode"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("baggage_keys").is_some())
        .unwrap();
    let mut expected: Vec<&str> = case["baggage_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    expected.sort_unstable();
    let first = RunContext::builder("Support")
        .event_id("e")
        .customer_id("c")
        .environment("production")
        .build();
    let second = RunContext::retry(&first);
    let mut keys: Vec<&str> = second.to_baggage().iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    assert_eq!(keys, expected);
}

#[test]
fn decode_vectors_match_python_except_w3c_metadata() {
    let v = vectors();
    for case in v["decode"].as_array().unwrap() {
        let header = case["header"].as_str().unwrap();
        let python: BTreeMap<String, String> = case["python_decodes_to"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        if header.contains("...(") {
            // The oversized vector is described, not given: rebuild a 9016-byte header.
            let big = format!("botanu.workflow={}", "x".repeat(9016 - 16));
            assert_eq!(big.len(), 9016);
            assert!(big.len() > MAX_HEADER_BYTES);
            assert!(
                decode_header(&big).is_empty(),
                "over-long header dropped whole"
            );
            assert!(python.is_empty());
            continue;
        }
        let ours = decode_header(header);
        if header.contains(";prop=1") {
            // Expected difference: W3C says `;prop=1` is member metadata, which we keep as
            // metadata; Python keeps it inside the value.
            assert_eq!(ours.get("botanu.customer_id").unwrap().as_str(), "café");
            let (_, meta) = ours.get_with_metadata("botanu.customer_id").unwrap();
            assert_eq!(meta.as_str(), "prop=1");
            assert_eq!(python["botanu.customer_id"], "café;prop=1");
            assert_eq!(ours.get("other").unwrap().as_str(), python["other"]);
            continue;
        }
        assert_eq!(to_map(&ours), python, "header {header}");
    }
}

#[test]
fn plus_is_literal_outside_botanu_keys() {
    let b = decode_header("botanu.workflow=a+b,other=c+d,botanu.event_id=x%2By");
    assert_eq!(b.get("botanu.workflow").unwrap().as_str(), "a b");
    assert_eq!(b.get("other").unwrap().as_str(), "c+d");
    assert_eq!(b.get("botanu.event_id").unwrap().as_str(), "x+y");
}

#[test]
fn malformed_headers_never_panic_and_keep_good_members() {
    for header in [
        "",
        ",,,",
        "=",
        "==,=,;",
        "botanu.workflow",
        "botanu.workflow=%",
        "botanu.workflow=%zz,botanu.run_id=r",
        "botanu.workflow=%C3%28",
        "botanu.workflow=\u{0}\u{7f}",
        "k=v;;;;",
        "+++=+++",
    ] {
        let _ = decode_header(header);
    }
    let b = decode_header("botanu.workflow=%C3%28,botanu.run_id=r");
    assert_eq!(b.get("botanu.run_id").unwrap().as_str(), "r");
    assert!(
        b.get("botanu.workflow").is_none(),
        "invalid UTF-8 member skipped"
    );
}

#[test]
fn inbound_members_beyond_64_are_ignored() {
    let header: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
    let b = decode_header(&header.join(","));
    assert_eq!(b.len(), 64);
}

#[test]
fn to_context_layers_over_outer_baggage_and_current_returns_the_run() {
    let outer = RunContext::builder("Outer")
        .event_id("e")
        .tenant_id("t-outer")
        .attempt(2)
        .root_run_id("root-outer")
        .build();
    let unrelated = Context::new().with_baggage([opentelemetry::KeyValue::new("user.key", "u")]);
    let outer_cx = outer.to_context(&unrelated);
    let inner = RunContext::builder("Inner")
        .parent_run_id(outer.run_id())
        .build();
    let inner_cx = inner.to_context(&outer_cx);
    let b = inner_cx.baggage();
    assert_eq!(b.get("botanu.run_id").unwrap().as_str(), inner.run_id());
    assert_eq!(b.get("botanu.workflow").unwrap().as_str(), "Inner");
    assert_eq!(
        b.get("botanu.parent_run_id").unwrap().as_str(),
        outer.run_id()
    );
    // Unrelated entries and the outer tenant survive (reference behaviour, VX2)...
    assert_eq!(b.get("user.key").unwrap().as_str(), "u");
    assert_eq!(b.get("botanu.tenant_id").unwrap().as_str(), "t-outer");
    // ...but the outer run's retry-chain keys do not describe the inner run.
    assert!(b.get("botanu.attempt").is_none());
    assert!(b.get("botanu.root_run_id").is_none());

    // current() is the very run object: cancelling it is seen by the owner.
    {
        let _g = inner_cx.attach();
        let current = RunContext::current().unwrap();
        assert_eq!(current.run_id(), inner.run_id());
        current.cancel();
    }
    assert!(inner.is_cancelled());
    assert!(RunContext::current().is_none(), "restored after the guard");

    // A context with only inbound baggage gives a rebuilt run.
    let inbound = BaggagePropagator::new().extract_with_context(&Context::new(), &{
        let mut h = HashMap::new();
        h.insert(
            "baggage".to_owned(),
            "botanu.run_id=r1,botanu.workflow=Python+Frontdesk".to_owned(),
        );
        h
    });
    let rebuilt = RunContext::from_context(&inbound).unwrap();
    assert_eq!(rebuilt.run_id(), "r1");
    assert_eq!(rebuilt.workflow(), "Python Frontdesk");
}

#[test]
fn run_keys_survive_when_outbound_baggage_is_full() {
    // 64 foreign members already in the context: the run's keys are still sent.
    let foreign: Vec<opentelemetry::KeyValue> = (0..64)
        .map(|i| opentelemetry::KeyValue::new(format!("k{i}"), "v"))
        .collect();
    let run = RunContext::new("w", "e", "c");
    let cx = run.to_context(&Context::new().with_baggage(foreign));
    let header = header_of(&cx).unwrap();
    assert!(header.starts_with(&format!("botanu.run_id={}", run.run_id())));
    assert!(header.split(',').count() <= 64);
    assert!(header.len() <= MAX_HEADER_BYTES);
    assert_eq!(
        to_map(&decode_header(&header))["botanu.customer_id"],
        "c".to_owned()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any run, with any Unicode in its ids, survives encode → header → decode → from_baggage,
    /// both through our decoder and through Python's.
    #[test]
    fn run_round_trips_through_the_header(
        workflow in "[^\u{0}]{1,40}",
        event in "\\PC{0,40}",
        customer in "[ -~]{0,20}",
        tenant in proptest::option::of("[a-z+% ,;=é]{1,10}"),
        attempt in 1i64..5,
    ) {
        let workflow_trimmed = workflow.trim().to_owned();
        prop_assume!(!workflow_trimmed.is_empty());
        // W3C trims surrounding whitespace on both sides of the wire; use trimmed values.
        let event = event.trim().to_owned();
        let customer = customer.trim().to_owned();
        let mut b = RunContext::builder(workflow_trimmed.clone())
            .event_id(event.clone())
            .customer_id(customer.clone())
            .environment("production")
            .attempt(attempt);
        if let Some(t) = &tenant {
            b = b.tenant_id(t.trim());
        }
        let run = b.build();
        let header = header_of(&run.to_context(&Context::new())).unwrap();
        let back = RunContext::from_baggage(&decode_header(&header)).unwrap();
        prop_assert_eq!(back.run_id(), run.run_id());
        prop_assert_eq!(back.workflow(), workflow_trimmed.as_str());
        prop_assert_eq!(back.event_id(), event.as_str());
        prop_assert_eq!(back.customer_id(), customer.as_str());
        prop_assert_eq!(back.attempt(), attempt);
        prop_assert_eq!(back.tenant_id(), tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()));
        let py = python_decode(&header);
        prop_assert_eq!(py.get("botanu.event_id").map(String::as_str), Some(event.as_str()));
        prop_assert_eq!(py.get("botanu.workflow").map(String::as_str), Some(workflow_trimmed.as_str()));
    }

    /// Arbitrary header text never panics the decoder, and what it yields re-encodes within
    /// the W3C limits.
    #[test]
    fn arbitrary_headers_are_safe(header in "\\PC{0,300}") {
        let b = decode_header(&header);
        let cx = Context::new().with_baggage(b.iter().map(|(k, (v, _))| {
            opentelemetry::KeyValue::new(k.clone(), v.as_str().to_owned())
        }).collect::<Vec<_>>());
        if let Some(h) = header_of(&cx) {
            prop_assert!(h.len() <= MAX_HEADER_BYTES);
            prop_assert!(h.split(',').count() <= 64);
        }
        let _ = RunContext::from_baggage(&b);
    }
}
