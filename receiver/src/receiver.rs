//! An OTLP/HTTP receiver on loopback, for tests and demos.
//!
//! It binds `127.0.0.1:0`, accepts `POST /v1/traces` with protobuf bodies (gzip too), decodes
//! them with `opentelemetry-proto`, and keeps every span with its resource and attributes.
//! Tests wait for a condition with a timeout, and can make it answer with an error status or
//! a delay to simulate an outage. [`Receiver::start_tls`] serves HTTPS with a fresh
//! self-signed certificate; [`Receiver::start_counting`] keeps only counts, for load runs of
//! millions of spans. It runs on its own thread and stops when dropped.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;

/// Largest request body accepted (bigger requests get 413).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// An attribute value as received.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else (arrays, maps, bytes), debug-formatted.
    Other(String),
}

impl Val {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A span event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// Event name.
    pub name: String,
    /// Event attributes.
    pub attributes: BTreeMap<String, Val>,
}

/// A span as received, with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// Span name.
    pub name: String,
    /// Trace id as 32 lowercase hex digits.
    pub trace_id: String,
    /// Span id as 16 lowercase hex digits.
    pub span_id: String,
    /// Parent span id (empty for a root).
    pub parent_span_id: String,
    /// OTLP span kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// W3C trace flags carried by the span (bit 0 = sampled).
    pub flags: u32,
    /// Span attributes.
    pub attributes: BTreeMap<String, Val>,
    /// Span events.
    pub events: Vec<ReceivedEvent>,
    /// OTLP status code (0 unset, 1 ok, 2 error) and message.
    pub status: (i32, String),
    /// Resource attributes.
    pub resource: BTreeMap<String, Val>,
    /// Instrumentation scope name.
    pub scope: String,
}

impl ReceivedSpan {
    /// The string value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Val::as_str)
    }
    /// The string value of resource attribute `key`.
    pub fn resource_attr(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(Val::as_str)
    }
    /// The integer value of attribute `key`.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key) {
            Some(Val::Int(v)) => Some(*v),
            _ => None,
        }
    }
}

/// The span called `name` among `spans`; panics with the names there are when there is none.
pub fn span_named<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// One request the receiver answered.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// Request path.
    pub path: String,
    /// Request headers (names lower-cased).
    pub headers: BTreeMap<String, String>,
    /// Status the receiver answered with.
    pub status: u16,
    /// Spans in the request (also when it was answered with an error).
    pub spans: usize,
    /// Size of the body as sent (compressed when it was).
    pub body_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
struct Behaviour {
    status: u16,
    delay: Duration,
}

#[derive(Debug, Default)]
struct Store {
    spans: Vec<ReceivedSpan>,
    requests: Vec<ReceivedRequest>,
    /// Spans accepted (answered 2xx), kept or not.
    accepted: usize,
}

#[derive(Debug)]
struct Shared {
    /// Whether spans and requests are kept (not only counted).
    keep: bool,
    store: Mutex<Store>,
    changed: Condvar,
    behaviour: Mutex<Behaviour>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

/// The receiver. Dropping it stops the server and joins its thread.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tls: Option<TlsFiles>,
}

/// What accepts TLS connections: nothing without feature `tls` (no value exists).
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
enum Acceptor {}

/// The self-signed certificate of an HTTPS receiver, as a PEM file to trust.
#[derive(Debug)]
struct TlsFiles {
    ca_pem: std::path::PathBuf,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1` with a free port.
    pub fn start() -> std::io::Result<Receiver> {
        Self::start_with(None, true)
    }

    /// Starts a receiver that keeps only the number of spans it accepted
    /// ([`Receiver::accepted`]): its memory stays flat however long it runs, and it walks each
    /// span's fields without decoding them, so it costs a load run little CPU.
    pub fn start_counting() -> std::io::Result<Receiver> {
        Self::start_with(None, false)
    }

    /// Starts an HTTPS receiver on `127.0.0.1` with a fresh self-signed certificate for
    /// `127.0.0.1`; [`Receiver::ca_pem`] is the PEM file a client must trust (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn start_tls() -> std::io::Result<Receiver> {
        let err = |e: String| std::io::Error::other(e);
        let key = rcgen::KeyPair::generate().map_err(|e| err(e.to_string()))?;
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .map_err(|e| err(e.to_string()))?;
        let cert = params.self_signed(&key).map_err(|e| err(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .map_err(|e| err(e.to_string()))?;
        let mut receiver = Self::start_with(
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            true,
        )?;
        let ca_pem = std::env::temp_dir().join(format!(
            "botanu-receiver-{}-{}.pem",
            std::process::id(),
            receiver.addr.port()
        ));
        std::fs::write(&ca_pem, cert.pem())?;
        receiver.tls = Some(TlsFiles { ca_pem });
        Ok(receiver)
    }

    /// For an HTTPS receiver, the PEM file of its certificate.
    pub fn ca_pem(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().map(|t| t.ca_pem.as_path())
    }

    fn start_with(tls: Option<Acceptor>, keep: bool) -> std::io::Result<Receiver> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keep,
            store: Mutex::default(),
            changed: Condvar::new(),
            behaviour: Mutex::new(Behaviour {
                status: 200,
                delay: Duration::ZERO,
            }),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || runtime.block_on(serve(listener, server_shared, stopped, tls)))?;
        Ok(Receiver {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
            tls: None,
        })
    }

    /// The base endpoint, e.g. `http://127.0.0.1:43127` (exporters append `/v1/traces`).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every span received so far (from requests answered 2xx).
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.lock().requests.clone()
    }

    /// Waits until `condition` holds for the spans received, or `timeout` passes. Returns
    /// whether it holds.
    pub fn wait_for(&self, timeout: Duration, condition: impl Fn(&[ReceivedSpan]) -> bool) -> bool {
        self.wait_until(timeout, |store| condition(&store.spans))
    }

    /// Spans accepted so far (answered 2xx), also by a counting receiver.
    pub fn accepted(&self) -> usize {
        self.lock().accepted
    }

    /// Waits until at least `n` spans were accepted (works for a counting receiver too).
    pub fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |store| store.accepted >= n)
    }

    fn wait_until(&self, timeout: Duration, condition: impl Fn(&Store) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut store = self.lock();
        loop {
            if condition(&store) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            store = self
                .shared
                .changed
                .wait_timeout(store, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until at least `n` spans were received.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.len() >= n)
    }

    /// Answers every later request with `status` (e.g. 503) without keeping its spans.
    pub fn respond_with(&self, status: u16) {
        self.behaviour().status = status;
    }

    /// The most export requests the receiver was answering at one time.
    pub fn max_in_flight(&self) -> usize {
        self.shared
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Delays every later answer by `delay`.
    pub fn delay(&self, delay: Duration) {
        self.behaviour().delay = delay;
    }

    /// Back to accepting everything at once.
    pub fn accept(&self) {
        *self.behaviour() = Behaviour {
            status: 200,
            delay: Duration::ZERO,
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn behaviour(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.shared
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(tls) = self.tls.take() {
            let _ = std::fs::remove_file(tls.ca_pem);
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    tls: Option<Acceptor>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        }
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match never {},
                    }
                });
            }
        }
    }
    connections.abort_all();
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use std::sync::atomic::Ordering;
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = answer_request(shared, req).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer_request(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let behaviour = *shared.behaviour.lock().unwrap_or_else(|e| e.into_inner());
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    let path = req.uri().path().to_owned();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, Bytes::new()),
    };
    let decoded = if path != "/v1/traces" {
        Err(StatusCode::NOT_FOUND)
    } else {
        decode(&body, gzip, shared.keep).map_err(|_| StatusCode::BAD_REQUEST)
    };
    let (status, count, spans) = match decoded {
        Err(status) => (status, 0, Vec::new()),
        Ok((count, spans)) => (
            StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::OK),
            count,
            spans,
        ),
    };
    {
        let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        if shared.keep {
            store.requests.push(ReceivedRequest {
                path,
                headers,
                status: status.as_u16(),
                spans: count,
                body_bytes: body.len(),
            });
        }
        if status.is_success() {
            store.accepted += count;
            store.spans.extend(spans);
        }
    }
    shared.changed.notify_all();
    let body = if status.is_success() {
        Bytes::from(ExportTraceServiceResponse::default().encode_to_vec())
    } else {
        Bytes::new()
    };
    answer(status, body)
}

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

/// The number of spans in a request and, when `keep`, the spans themselves.
fn decode(body: &[u8], gzip: bool, keep: bool) -> Result<(usize, Vec<ReceivedSpan>), String> {
    let mut raw = Vec::new();
    let bytes = if gzip {
        flate2::read::GzDecoder::new(body)
            .take(MAX_BODY as u64)
            .read_to_end(&mut raw)
            .map_err(|e| e.to_string())?;
        &raw[..]
    } else {
        body
    };
    if !keep {
        return Ok((count::spans(bytes)?, Vec::new()));
    }
    let request = ExportTraceServiceRequest::decode(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            let scope = ss.scope.map(|s| s.name).unwrap_or_default();
            for span in ss.spans {
                out.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    flags: span.flags,
                    attributes: attrs(&span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| ReceivedEvent {
                            name: e.name,
                            attributes: attrs(&e.attributes),
                        })
                        .collect(),
                    status: span.status.map(|s| (s.code, s.message)).unwrap_or_default(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    Ok((out.len(), out))
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, Val> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), val(kv.value.as_ref())))
        .collect()
}

fn val(v: Option<&AnyValue>) -> Val {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Val::Str(s.clone()),
        Some(any_value::Value::IntValue(i)) => Val::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Val::Double(*d),
        Some(any_value::Value::BoolValue(b)) => Val::Bool(*b),
        other => Val::Other(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counting spans without decoding them, so that a load run's receiver takes as little CPU as
/// it can from the load generator it shares a core with.
///
/// The outline of an `ExportTraceServiceRequest` down to its spans, as prost messages: prost
/// skips every field they do not name, and walks each span's fields without keeping any (a
/// malformed span is still an error). The tests decode fully ([`Receiver::start`]).
mod count {
    use prost::Message;

    /// `ExportTraceServiceRequest`: `resource_spans` is field 1.
    #[derive(Clone, PartialEq, Message)]
    struct Request {
        #[prost(message, repeated, tag = "1")]
        resource_spans: Vec<ResourceSpans>,
    }

    /// `ResourceSpans`: `scope_spans` is field 2.
    #[derive(Clone, PartialEq, Message)]
    struct ResourceSpans {
        #[prost(message, repeated, tag = "2")]
        scope_spans: Vec<ScopeSpans>,
    }

    /// `ScopeSpans`: `spans` is field 2.
    #[derive(Clone, PartialEq, Message)]
    struct ScopeSpans {
        #[prost(message, repeated, tag = "2")]
        spans: Vec<Span>,
    }

    /// A span, none of its fields kept.
    #[derive(Clone, PartialEq, Message)]
    struct Span {}

    /// The number of spans in an encoded `ExportTraceServiceRequest`.
    pub(super) fn spans(bytes: &[u8]) -> Result<usize, String> {
        let request = Request::decode(bytes).map_err(|e| e.to_string())?;
        Ok(request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum())
    }
}
