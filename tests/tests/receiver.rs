//! The in-repo OTLP/HTTP receiver itself: protobuf and gzip bodies, wrong paths and bodies,
//! error and delay modes, waiting with a timeout. Requests are written by hand over a loopback
//! socket so the receiver is checked independently of botanu's exporter.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use botanu_tests::receiver::{Receiver, Val};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn request_body(names: &[&str]) -> Vec<u8> {
    let kv = |k: &str, v: any_value::Value| KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("svc".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: names
                    .iter()
                    .map(|n| Span {
                        name: n.to_string(),
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        attributes: vec![kv("n", any_value::Value::IntValue(7))],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// POSTs `body` and returns the status code.
fn post(r: &Receiver, path: &str, body: &[u8], gzip: bool) -> u16 {
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let encoding = if gzip {
        "Content-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn receives_protobuf_and_gzip() {
    let r = Receiver::start().unwrap();
    assert_eq!(
        post(&r, "/v1/traces", &request_body(&["a", "b"]), false),
        200
    );
    assert_eq!(
        post(&r, "/v1/traces", &gzip(&request_body(&["c"])), true),
        200
    );
    assert!(r.wait_for_spans(3, Duration::from_secs(5)));
    assert_eq!(r.accepted(), 3);
    let spans = r.spans();
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(spans[0].trace_id, "01".repeat(16));
    assert_eq!(spans[0].attributes.get("n"), Some(&Val::Int(7)));
    assert_eq!(spans[0].resource_attr("service.name"), Some("svc"));
    assert_eq!(r.requests()[1].headers["content-encoding"], "gzip");
}

#[test]
fn rejects_bad_paths_and_bodies() {
    let r = Receiver::start().unwrap();
    assert_eq!(post(&r, "/v1/logs", &request_body(&["a"]), false), 404);
    assert_eq!(post(&r, "/v1/traces", b"\xff\xff not protobuf", false), 400);
    assert_eq!(post(&r, "/v1/traces", b"not gzip", true), 400);
    assert!(r.spans().is_empty());
    assert_eq!(r.requests().len(), 3);
}

#[test]
fn simulates_outages_and_delays() {
    let r = Receiver::start().unwrap();
    r.respond_with(503);
    assert_eq!(post(&r, "/v1/traces", &request_body(&["lost"]), false), 503);
    assert!(
        r.spans().is_empty(),
        "spans of a failed request are not kept"
    );
    assert_eq!(r.requests()[0].spans, 1);
    r.accept();
    r.delay(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(post(&r, "/v1/traces", &request_body(&["late"]), false), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // wait_for gives up at its timeout when the condition never holds.
    let started = Instant::now();
    assert!(!r.wait_for(Duration::from_millis(100), |s| s.len() > 5));
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn counting_receiver_keeps_counts_only() {
    let r = Receiver::start_counting().unwrap();
    assert_eq!(
        post(&r, "/v1/traces", &request_body(&["a", "b"]), false),
        200
    );
    r.respond_with(503);
    assert_eq!(post(&r, "/v1/traces", &request_body(&["lost"]), false), 503);
    r.accept();
    assert_eq!(
        post(
            &r,
            "/v1/traces",
            &gzip(&request_body(&["c", "d", "e"])),
            true
        ),
        200
    );
    assert_eq!(post(&r, "/v1/traces", b"junk", false), 400);
    // Spans are counted across resources and scopes without being decoded.
    let mut several = ExportTraceServiceRequest::decode(&request_body(&["f", "g"])[..]).unwrap();
    let mut second = several.resource_spans[0].clone();
    second.scope_spans.push(second.scope_spans[0].clone());
    several.resource_spans.push(second);
    assert_eq!(post(&r, "/v1/traces", &several.encode_to_vec(), false), 200);
    // A span whose name claims 5 bytes of 1: the outline is whole, the span is not.
    let torn_span = [0x0A, 0x07, 0x12, 0x05, 0x12, 0x03, 0x0A, 0x05, b'a'];
    assert_eq!(post(&r, "/v1/traces", &torn_span, false), 400);
    assert!(r.wait_for_accepted(11, Duration::from_secs(5)));
    assert_eq!(r.accepted(), 11, "the 503 answer's span is not counted");
    assert!(r.spans().is_empty() && r.requests().is_empty());
}

#[test]
fn stops_listening_when_dropped() {
    let r = Receiver::start().unwrap();
    let addr = r.addr();
    drop(r);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}
