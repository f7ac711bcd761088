//! Property test: arbitrary inbound headers through the tower layer itself — `traceparent`,
//! `tracestate`, `baggage` (with and without `botanu.*` members, oversized), `x-request-id`
//! and the extractor-visible headers, as any bytes a `HeaderValue` can hold. For every input the
//! handler runs inside a fresh run, the response passes through untouched, ids the app extracts
//! win over inbound baggage, the run id is never taken from the request, and every run span
//! reaches the collector.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use botanu_core::RunContext;
use botanu_tests::env::TestEnv;
use botanu_tower::{extract, BotanuLayer};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use tower::{service_fn, ServiceBuilder, ServiceExt};

const CASES: u32 = 256;

/// A header value from arbitrary bytes: bytes a header cannot hold become spaces.
fn header_value(bytes: &[u8]) -> HeaderValue {
    let cleaned: Vec<u8> = bytes
        .iter()
        .map(|&b| {
            if b == b'\t' || (b >= 0x20 && b != 0x7f) {
                b
            } else {
                b' '
            }
        })
        .collect();
    HeaderValue::from_bytes(&cleaned).expect("cleaned bytes are a valid header value")
}

/// Header bytes that are sometimes well-formed-looking, sometimes random, sometimes huge.
fn header_bytes(looks_like: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        looks_like.prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 4_000..12_000),
    ]
}

/// (header name, bytes) pairs for one request; any of them may be missing.
fn inbound() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let traceparent = header_bytes("0[0-9a-f]-[0-9a-fA-F]{32}-[0-9a-f]{16}-0[0-3]( .*)?");
    let tracestate = header_bytes("[a-z]{1,8}=[ -~]{0,20}(,[a-z@]{1,8}=[ -~]{0,10}){0,40}");
    let baggage = header_bytes(
        "(botanu\\.(run_id|workflow|event_id|customer_id|tenant_id|attempt|deadline|cancelled)|k[0-9])=[ -~]{0,40}(;p=[ -~]{0,5})?(,botanu\\.customer_id=[%+ a-z]{0,10}){0,3}",
    );
    let request_id = header_bytes("[ -~]{0,40}");
    let customer = header_bytes("[ -~]{0,20}");
    (
        proptest::option::of(traceparent),
        proptest::option::of(tracestate),
        proptest::option::of(baggage),
        proptest::option::of(request_id),
        proptest::option::of(customer),
    )
        .prop_map(|(tp, ts, bg, rid, cust)| {
            [
                ("traceparent", tp),
                ("tracestate", ts),
                ("baggage", bg),
                ("x-request-id", rid),
                ("x-customer", cust),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect()
        })
}

/// Sends one request with `headers` through the layer and checks the run the handler saw.
fn one_request(
    rt: &tokio::runtime::Runtime,
    headers: &[(&'static str, Vec<u8>)],
) -> Result<(), TestCaseError> {
    let mut request = Request::builder()
        .uri("/prop")
        .body(Full::new(Bytes::new()))
        .unwrap();
    for (name, bytes) in headers {
        request.headers_mut().insert(*name, header_value(bytes));
    }
    // What the app's extractor will see (trimmed, UTF-8, non-empty), if anything.
    let extracted = request
        .headers()
        .get("x-customer")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);

    let svc = ServiceBuilder::new()
        .layer(BotanuLayer::workflow("Prop").customer_id(extract::header("x-customer")))
        .service(service_fn(|_req: Request<Full<Bytes>>| async {
            let run = RunContext::current().expect("the handler runs inside a run");
            let body = format!("{}|{}", run.run_id(), run.customer_id());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        }));
    let response = rt.block_on(svc.oneshot(request)).unwrap();
    prop_assert_eq!(response.status(), StatusCode::OK);
    let header_run_id = response
        .headers()
        .get("x-botanu-run-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = rt
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let (run_id, customer) = body.split_once('|').unwrap();

    // A fresh UUIDv7, whatever baggage said, and the one the response names.
    let parsed = uuid::Uuid::parse_str(run_id).expect("run id is a UUID");
    prop_assert_eq!(parsed.get_version_num(), 7);
    prop_assert_eq!(header_run_id.as_deref(), Some(run_id));
    // The app's extracted id wins over any inbound `botanu.customer_id`.
    if let Some(extracted) = &extracted {
        prop_assert_eq!(customer, extracted.as_str());
    }
    Ok(())
}

#[test]
fn any_inbound_headers_give_a_sound_run_and_every_run_is_exported() {
    let env = TestEnv::get();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let served = AtomicUsize::new(0);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let result = runner.run(&inbound(), |headers| {
        served.fetch_add(1, Ordering::Relaxed);
        one_request(&rt, &headers)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let served = served.into_inner();
    assert!(served >= CASES as usize, "{served}");
    let _ = env.botanu.force_flush();
    let exported = |spans: &[botanu_tests::receiver::ReceivedSpan]| {
        spans.iter().filter(|s| s.name == "botanu.run/Prop").count()
    };
    assert!(
        env.receiver
            .wait_for(Duration::from_secs(10), |s| exported(s) == served),
        "{} of {served} run spans exported",
        exported(&env.receiver.spans())
    );
}
