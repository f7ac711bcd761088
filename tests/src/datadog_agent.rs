//! A fake Datadog agent on 127.0.0.1: accepts trace payloads (msgpack, v0.4 and v0.5) the way
//! the agent does and keeps the decoded spans, so tests can compare what Datadog would show.
//! It also answers `/info` and absorbs DogStatsD packets on a UDP port of its own.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::routing::{any, get};
use axum::Router;
use rmpv::Value;

/// A span as the agent received it.
#[derive(Debug, Clone, PartialEq)]
pub struct DdSpan {
    /// `service`.
    pub service: String,
    /// `name` (the operation).
    pub name: String,
    /// `resource`.
    pub resource: String,
    /// Low 64 bits of the trace id.
    pub trace_id: u64,
    /// Span id.
    pub span_id: u64,
    /// Parent span id (0 for a root).
    pub parent_id: u64,
    /// `error`.
    pub error: i64,
    /// String tags.
    pub meta: BTreeMap<String, String>,
    /// Numeric tags.
    pub metrics: BTreeMap<String, f64>,
}

/// The fake agent. Stops with the tokio runtime it was started on.
#[derive(Debug)]
pub struct FakeAgent {
    addr: SocketAddr,
    statsd: UdpSocket,
    spans: Arc<Mutex<Vec<DdSpan>>>,
}

impl FakeAgent {
    /// Serves on a free port of 127.0.0.1 on the current tokio runtime.
    pub async fn start() -> FakeAgent {
        let spans: Arc<Mutex<Vec<DdSpan>>> = Arc::default();
        let app = Router::new()
            .route(
                "/info",
                get(|| async { r#"{"version":"7.99.0","endpoints":["/v0.4/traces","/v0.5/traces"],"client_drop_p0s":false}"# }),
            )
            .route("/v0.4/traces", traces(spans.clone(), decode_v04))
            .route("/v0.5/traces", traces(spans.clone(), decode_v05))
            .fallback(|| async { "" });
        let addr = crate::http::serve(app).await;
        let statsd = UdpSocket::bind("127.0.0.1:0").expect("bind the DogStatsD port");
        FakeAgent {
            addr,
            statsd,
            spans,
        }
    }

    /// `http://127.0.0.1:PORT`, for `DD_TRACE_AGENT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The UDP port DogStatsD packets go to (`DD_DOGSTATSD_PORT`).
    pub fn statsd_port(&self) -> u16 {
        self.statsd.local_addr().expect("local addr").port()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<DdSpan> {
        self.spans.lock().unwrap().clone()
    }
}

/// A traces endpoint: decodes the payload with `decode` and keeps the spans.
fn traces(
    spans: Arc<Mutex<Vec<DdSpan>>>,
    decode: fn(&[u8]) -> Vec<DdSpan>,
) -> axum::routing::MethodRouter {
    any(move |body: Bytes| {
        let spans = spans.clone();
        async move {
            spans.lock().unwrap().extend(decode(&body));
            r#"{"rate_by_service":{}}"#
        }
    })
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i as u64))
        .unwrap_or(0)
}

fn as_string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_i64().map(|i| i as f64))
        .or_else(|| v.as_u64().map(|i| i as f64))
        .unwrap_or(f64::NAN)
}

/// Decodes a v0.4 payload: an array of traces, each an array of spans as maps.
pub fn decode_v04(body: &[u8]) -> Vec<DdSpan> {
    let Ok(Value::Array(traces)) = rmpv::decode::read_value(&mut &body[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for trace in traces.iter().filter_map(Value::as_array) {
        for span in trace.iter().filter_map(Value::as_map) {
            let field = |name: &str| {
                span.iter()
                    .find(|(k, _)| k.as_str() == Some(name))
                    .map(|(_, v)| v)
            };
            let map = |name: &str| -> Vec<(String, Value)> {
                field(name)
                    .and_then(Value::as_map)
                    .map(|m| m.iter().map(|(k, v)| (as_string(k), v.clone())).collect())
                    .unwrap_or_default()
            };
            out.push(DdSpan {
                service: field("service").map(as_string).unwrap_or_default(),
                name: field("name").map(as_string).unwrap_or_default(),
                resource: field("resource").map(as_string).unwrap_or_default(),
                trace_id: field("trace_id").map(as_u64).unwrap_or(0),
                span_id: field("span_id").map(as_u64).unwrap_or(0),
                parent_id: field("parent_id").map(as_u64).unwrap_or(0),
                error: field("error").and_then(Value::as_i64).unwrap_or(0),
                meta: map("meta")
                    .into_iter()
                    .map(|(k, v)| (k, as_string(&v)))
                    .collect(),
                metrics: map("metrics")
                    .into_iter()
                    .map(|(k, v)| (k, as_f64(&v)))
                    .collect(),
            });
        }
    }
    out
}

/// Decodes a v0.5 payload: `[strings, traces]`, each span a 12-element array whose strings are
/// indexes into `strings`.
pub fn decode_v05(body: &[u8]) -> Vec<DdSpan> {
    let Ok(Value::Array(top)) = rmpv::decode::read_value(&mut &body[..]) else {
        return Vec::new();
    };
    let (Some(strings), Some(traces)) = (
        top.first().and_then(Value::as_array),
        top.get(1).and_then(Value::as_array),
    ) else {
        return Vec::new();
    };
    let s = |v: &Value| {
        strings
            .get(as_u64(v) as usize)
            .map(as_string)
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for trace in traces.iter().filter_map(Value::as_array) {
        for span in trace.iter().filter_map(Value::as_array) {
            if span.len() < 12 {
                continue;
            }
            let pairs = |v: &Value| v.as_map().cloned().unwrap_or_default();
            out.push(DdSpan {
                service: s(&span[0]),
                name: s(&span[1]),
                resource: s(&span[2]),
                trace_id: as_u64(&span[3]),
                span_id: as_u64(&span[4]),
                parent_id: as_u64(&span[5]),
                error: span[8].as_i64().unwrap_or(0),
                meta: pairs(&span[9]).iter().map(|(k, v)| (s(k), s(v))).collect(),
                metrics: pairs(&span[10])
                    .iter()
                    .map(|(k, v)| (s(k), as_f64(v)))
                    .collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    #[test]
    fn v04_and_v05_payloads_decode_to_the_same_span() {
        let s = |x: &str| Value::from(x);
        let v04 = Value::Array(vec![Value::Array(vec![Value::Map(vec![
            (s("service"), s("desk")),
            (s("name"), s("handle")),
            (s("resource"), s("POST /t")),
            (s("trace_id"), Value::from(7u64)),
            (s("span_id"), Value::from(8u64)),
            (s("parent_id"), Value::from(0u64)),
            (s("error"), Value::from(0)),
            (s("meta"), Value::Map(vec![(s("language"), s("rust"))])),
            (
                s("metrics"),
                Value::Map(vec![(s("_sampling_priority_v1"), Value::from(1.0))]),
            ),
        ])])]);
        let strings = Value::Array(vec![
            s(""),
            s("desk"),
            s("handle"),
            s("POST /t"),
            s("language"),
            s("rust"),
            s("_sampling_priority_v1"),
        ]);
        let span = Value::Array(vec![
            Value::from(1),
            Value::from(2),
            Value::from(3),
            Value::from(7u64),
            Value::from(8u64),
            Value::from(0u64),
            Value::from(0),
            Value::from(0),
            Value::from(0),
            Value::Map(vec![(Value::from(4), Value::from(5))]),
            Value::Map(vec![(Value::from(6), Value::from(1.0))]),
            Value::from(0),
        ]);
        let v05 = Value::Array(vec![strings, Value::Array(vec![Value::Array(vec![span])])]);
        let a = decode_v04(&encode(&v04));
        let b = decode_v05(&encode(&v05));
        assert_eq!(a.len(), 1);
        assert_eq!(a, b);
        assert_eq!(a[0].meta["language"], "rust");
        assert_eq!(a[0].metrics["_sampling_priority_v1"], 1.0);
        assert!(decode_v04(b"not msgpack").is_empty());
        assert!(decode_v05(&[0x92, 0x01]).is_empty());
    }
}
