//! The HTTP adapter kit: what every HTTP framework adapter needs, written once. An adapter
//! names its request type ([`Framework`]), holds an [`HttpRuns`] (the builder users
//! configure), calls [`HttpRuns::start`] per request, polls the handler with
//! [`RequestRun::poll`], turns the response head into a [`ResponseRun`] and polls the body
//! with [`ResponseRun::poll_body`]. Ids, skip rules, trust, response classification and the
//! `error.type` rule are decided here, so every adapter records the same run for the same
//! request.

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};

use super::guard::{error_class_of, guard_callback, poll_in_run};
use super::{bounded, ActiveRun, RunEnd, RunSpec};
use crate::run::{RunContext, RunStatus};

/// The headers the kit reads itself, through [`Framework::header_named`]: what a framework
/// that prepares header names once prepares.
pub const KIT_HEADERS: [&str; 5] = [
    "traceparent",
    "tracestate",
    "baggage",
    "x-request-id",
    "content-type",
];

/// Response header naming the run (`x-botanu-run-id`).
pub const RUN_ID_HEADER: &str = "x-botanu-run-id";

/// An HTTP framework's request head, as the kit reads it. Implemented by a marker type of the
/// adapter (e.g. [`Http`] for `http::request::Parts`, `botanu_actix::Actix` for actix-web's
/// `HttpRequest`).
pub trait Framework: 'static {
    /// What extractors see: the request head, never the body.
    type Request: ?Sized + 'static;
    /// Whether [`route`](Self::route) knows a request's route before the handler runs; requests
    /// with no route are then served without a run (unless the app says otherwise).
    const KNOWS_ROUTES: bool = false;
    /// The value of header `name` (lowercase); `None` when absent or not visible ASCII.
    fn header<'r>(req: &'r Self::Request, name: &str) -> Option<&'r str>;
    /// [`header`](Self::header) by a name prepared once: how the kit looks up the headers it
    /// reads itself ([`KIT_HEADERS`]). The default asks `header`; a framework on the `http`
    /// crate's header map looks the name up as is.
    fn header_named<'r>(req: &'r Self::Request, name: &http::HeaderName) -> Option<&'r str> {
        Self::header(req, name.as_str())
    }
    /// The names of the request's headers.
    fn header_names(req: &Self::Request) -> Vec<&str>;
    /// The request method (`GET`, `POST`, …).
    fn method(req: &Self::Request) -> &str;
    /// The request path, without the query.
    fn path(req: &Self::Request) -> &str;
    /// The query string, without `?`.
    fn query(req: &Self::Request) -> Option<&str>;
    /// The route template the framework matched (never the raw path), when it knows one.
    fn route(_req: &Self::Request) -> Option<String> {
        None
    }
}

/// [`Framework`] for `http::request::Parts`: Tower, hyper, axum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

impl Framework for Http {
    type Request = http::request::Parts;

    fn header<'r>(req: &'r Self::Request, name: &str) -> Option<&'r str> {
        req.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn header_named<'r>(req: &'r Self::Request, name: &http::HeaderName) -> Option<&'r str> {
        req.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn header_names(req: &Self::Request) -> Vec<&str> {
        req.headers.keys().map(http::HeaderName::as_str).collect()
    }
    fn method(req: &Self::Request) -> &str {
        req.method.as_str()
    }
    fn path(req: &Self::Request) -> &str {
        req.uri.path()
    }
    fn query(req: &Self::Request) -> Option<&str> {
        req.uri.query()
    }
}

/// Finds one value (an event, customer or tenant id, a route) in a request head.
///
/// Any `Fn(&Request) -> Option<String> + Send + Sync` closure is an extractor;
/// [`header`] and [`query`] are ready-made, and adapters add their own (path parameters).
pub trait Extract<F: Framework>: Send + Sync + 'static {
    /// The value, if the request has one.
    fn extract(&self, req: &F::Request) -> Option<String>;
}

impl<F, X> Extract<F> for X
where
    F: Framework,
    X: Fn(&F::Request) -> Option<String> + Send + Sync + 'static,
{
    fn extract(&self, req: &F::Request) -> Option<String> {
        self(req)
    }
}

/// The value of a request header, trimmed (non-UTF-8 or empty values count as absent).
#[derive(Debug, Clone, Copy)]
pub struct Header(&'static str);

/// Extracts the value of header `name`.
///
/// # Panics
/// If `name` is not a valid lowercase header name: a programming error caught at startup.
pub fn header(name: &'static str) -> Header {
    // Validates `name` (http's own rules): panics here, not on a request.
    let _ = http::HeaderName::from_static(name);
    Header(name)
}

impl<F: Framework> Extract<F> for Header {
    fn extract(&self, req: &F::Request) -> Option<String> {
        F::header(req, self.0)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

/// The value of a query-string parameter, percent-decoded (`+` as space).
#[derive(Debug, Clone, Copy)]
pub struct Query(&'static str);

/// Extracts the value of query parameter `name`.
pub fn query(name: &'static str) -> Query {
    Query(name)
}

impl<F: Framework> Extract<F> for Query {
    fn extract(&self, req: &F::Request) -> Option<String> {
        query_param(F::query(req)?, self.0)
    }
}

/// The value of parameter `name` in a URL query string, percent-decoded with `+` as space;
/// `None` when absent or empty.
fn query_param(query: &str, name: &str) -> Option<String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name)
            .then(|| decode(v))
            .filter(|v| !v.is_empty())
    })
}

/// How a response ends its run: the one rule every adapter applies, pluggable like
/// tower-http's `ClassifyResponse`.
pub trait ClassifyResponse: Send + Sync + 'static {
    /// The class of a response with this status and these headers.
    fn classify(&self, status: u16, headers: &dyn Extractor) -> ResponseClass;

    /// The class once the response's trailers are known (`class` is what
    /// [`classify`](Self::classify) said). By default gRPC's rule: a `grpc-status` other than
    /// `0` (OK) fails the run with the code's name as `error.type` (`UNAVAILABLE`); without
    /// one, `class` stands.
    fn classify_trailers(&self, class: ResponseClass, trailers: &dyn Extractor) -> ResponseClass {
        grpc_class(trailers).unwrap_or(class)
    }
}

/// gRPC's verdict from a `grpc-status` header or trailer: `0` (OK) succeeds, any other code
/// fails the run with the code's canonical name as `error.type` (`UNAVAILABLE` for 14).
fn grpc_class(headers: &dyn Extractor) -> Option<ResponseClass> {
    let code = grpc_status(headers)?;
    Some(if code == 0 {
        ResponseClass::Success
    } else {
        ResponseClass::Failure(Cow::Borrowed(grpc_code_name(code)))
    })
}

/// The canonical name of a gRPC status code (`UNKNOWN` for codes outside the 17).
fn grpc_code_name(code: u32) -> &'static str {
    GRPC_CODES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// The `grpc-status` code, if there is a valid one.
fn grpc_status(headers: &dyn Extractor) -> Option<u32> {
    headers.get("grpc-status")?.trim().parse().ok()
}

/// gRPC's canonical code names, by code.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Whether a `content-type` is gRPC's (`application/grpc`, `application/grpc+proto`, …).
fn is_grpc(content_type: &str) -> bool {
    content_type
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case("application/grpc"))
}

/// Adds the run-span attributes of a gRPC call to `path` (`/package.Service/Method`).
fn push_rpc_attributes(attributes: &mut Vec<KeyValue>, path: &str) {
    attributes.push(KeyValue::new("rpc.system", "grpc"));
    if let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        attributes.push(KeyValue::new("rpc.service", service.to_owned()));
        attributes.push(KeyValue::new("rpc.method", method.to_owned()));
    }
}

/// What a [`ClassifyResponse`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseClass {
    /// The run succeeded.
    Success,
    /// The run failed; the value is its `error.type` (for HTTP, the status code).
    Failure(Cow<'static, str>),
}

/// The default classifier: 5xx responses fail the run (`error.type` = the status code), as
/// OpenTelemetry's HTTP server conventions say; 4xx are the client's error, not the run's.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrorsAsFailures;

impl ClassifyResponse for ServerErrorsAsFailures {
    fn classify(&self, status: u16, headers: &dyn Extractor) -> ResponseClass {
        StatusInRangeAsFailures::new(500..=599).classify(status, headers)
    }
}

/// Responses with a status in a range fail the run (`error.type` = the status code), e.g.
/// `StatusInRangeAsFailures::new(400..=599)` to count client errors as failures too.
///
/// ```
/// use botanu_core::adapter::classify::{ClassifyResponse, ResponseClass, StatusInRangeAsFailures};
/// let c = StatusInRangeAsFailures::new(400..=599);
/// let none = std::collections::HashMap::<String, String>::new();
/// assert_eq!(c.classify(404, &none), ResponseClass::Failure("404".into()));
/// assert_eq!(c.classify(302, &none), ResponseClass::Success);
/// ```
#[derive(Debug, Clone)]
pub struct StatusInRangeAsFailures(RangeInclusive<u16>);

impl StatusInRangeAsFailures {
    /// Statuses in `range` are failures.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        StatusInRangeAsFailures(range)
    }
}

impl ClassifyResponse for StatusInRangeAsFailures {
    fn classify(&self, status: u16, _headers: &dyn Extractor) -> ResponseClass {
        if self.0.contains(&status) {
            ResponseClass::Failure(Cow::Owned(status.to_string()))
        } else {
            ResponseClass::Success
        }
    }
}

type Slot<F> = Option<Arc<dyn Extract<F>>>;
type SkipFn<F> = Arc<dyn Fn(&<F as Framework>::Request) -> bool + Send + Sync>;

/// What a request's run starts from: the workflow, the extractors and the rules. Adapters
/// hold one inside the type users build (`BotanuLayer`, `Botanu`) and expose its builder
/// methods; cloning it is one reference count.
#[must_use]
pub struct HttpRuns<F: Framework> {
    settings: Arc<Settings<F>>,
}

struct Settings<F: Framework> {
    workflow: Arc<str>,
    /// `botanu.run/{workflow}`, made once for the process (see `interned_run_span_name`).
    span_name: Option<&'static str>,
    event_id: Slot<F>,
    customer_id: Slot<F>,
    tenant_id: Slot<F>,
    route: Slot<F>,
    trust_inbound: bool,
    run_id_header: bool,
    skip_unmatched: bool,
    skip: Option<SkipFn<F>>,
    classify: Arc<dyn ClassifyResponse>,
}

impl<F: Framework> Clone for Settings<F> {
    fn clone(&self) -> Self {
        Settings {
            workflow: self.workflow.clone(),
            span_name: self.span_name,
            event_id: self.event_id.clone(),
            customer_id: self.customer_id.clone(),
            tenant_id: self.tenant_id.clone(),
            route: self.route.clone(),
            trust_inbound: self.trust_inbound,
            run_id_header: self.run_id_header,
            skip_unmatched: self.skip_unmatched,
            skip: self.skip.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<F: Framework> Clone for HttpRuns<F> {
    fn clone(&self) -> Self {
        HttpRuns {
            settings: self.settings.clone(),
        }
    }
}

impl<F: Framework> std::fmt::Debug for HttpRuns<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &*self.settings;
        f.debug_struct("HttpRuns")
            .field("workflow", &s.workflow)
            .field("event_id", &s.event_id.is_some())
            .field("customer_id", &s.customer_id.is_some())
            .field("tenant_id", &s.tenant_id.is_some())
            .field("route", &s.route.is_some())
            .field("trust_inbound", &s.trust_inbound)
            .field("run_id_header", &s.run_id_header)
            .field("skip_unmatched", &s.skip_unmatched)
            .field("skip", &s.skip.is_some())
            .finish_non_exhaustive()
    }
}

impl<F: Framework> HttpRuns<F> {
    /// Runs of `workflow`, with no extractor, untrusted callers, the `x-botanu-run-id`
    /// response header, and 5xx as failures. Has no side effect: botanu is installed (from
    /// the environment, unless the app installed it) when the first request is served.
    pub fn new(workflow: impl Into<String>) -> Self {
        let workflow: Arc<str> = workflow.into().into();
        HttpRuns {
            settings: Arc::new(Settings {
                span_name: super::interned_run_span_name(&workflow),
                workflow,
                event_id: None,
                customer_id: None,
                tenant_id: None,
                route: None,
                trust_inbound: false,
                run_id_header: true,
                skip_unmatched: F::KNOWS_ROUTES,
                skip: None,
                classify: Arc::new(ServerErrorsAsFailures),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings<F>)) -> Self {
        f(Arc::make_mut(&mut self.settings));
        self
    }

    /// The workflow's name.
    pub fn workflow(&self) -> &str {
        &self.settings.workflow
    }
    /// Sets the event id extractor.
    pub fn event_id(self, extractor: impl Extract<F>) -> Self {
        self.edit(|s| s.event_id = Some(Arc::new(extractor)))
    }
    /// Sets the customer id extractor.
    pub fn customer_id(self, extractor: impl Extract<F>) -> Self {
        self.edit(|s| s.customer_id = Some(Arc::new(extractor)))
    }
    /// Sets the tenant id extractor.
    pub fn tenant_id(self, extractor: impl Extract<F>) -> Self {
        self.edit(|s| s.tenant_id = Some(Arc::new(extractor)))
    }
    /// Sets the route extractor; requests it finds no route for are then served without a
    /// run (see [`runs_for_unmatched`](Self::runs_for_unmatched)).
    pub fn route(self, extractor: impl Extract<F>) -> Self {
        self.edit(|s| {
            s.route = Some(Arc::new(extractor));
            s.skip_unmatched = true;
        })
    }
    /// Whether callers are trusted to say whose work a request is.
    pub fn trust_inbound(self, trust: bool) -> Self {
        self.edit(|s| s.trust_inbound = trust)
    }
    /// Whether responses carry [`RUN_ID_HEADER`].
    pub fn run_id_header(self, enabled: bool) -> Self {
        self.edit(|s| s.run_id_header = enabled)
    }
    /// Requests for which `predicate` is true are served without a run.
    pub fn skip(self, predicate: impl Fn(&F::Request) -> bool + Send + Sync + 'static) -> Self {
        self.edit(|s| s.skip = Some(Arc::new(predicate)))
    }
    /// Whether requests no route matched are runs.
    pub fn runs_for_unmatched(self, runs: bool) -> Self {
        self.edit(|s| s.skip_unmatched = !runs)
    }
    /// How responses end their run (default [`ServerErrorsAsFailures`]).
    pub fn classify(self, classifier: impl ClassifyResponse) -> Self {
        self.edit(|s| s.classify = Arc::new(classifier))
    }

    /// Starts the run of a request, or `None` when it is served without one: botanu disabled
    /// or not installable, the skip predicate, or no route while unmatched requests are
    /// skipped. Installs botanu from the environment on the first request when nothing
    /// installed it. The app's callbacks run guarded: a panic is logged and counts as "no
    /// value" (a panicking skip predicate skips).
    pub fn start(&self, req: &F::Request) -> Option<RequestRun> {
        if !crate::otel::install::active_or_install() {
            return None;
        }
        let s = &*self.settings;
        let route = match &s.route {
            Some(x) => guard_callback("route extractor", || x.extract(req)).flatten(),
            None => F::route(req),
        };
        let skipped = (s.skip_unmatched && route.is_none())
            || s.skip
                .as_ref()
                .is_some_and(|p| guard_callback("skip predicate", || p(req)).unwrap_or(true));
        if skipped {
            return None;
        }
        let id = |what: &'static str, x: &Slot<F>| {
            x.as_ref()
                .and_then(|x| guard_callback(what, || x.extract(req)).flatten())
        };
        let route_known = route.is_some();
        let method = F::method(req);
        let mut attributes = http_request_attributes(method, F::path(req), route);
        // gRPC calls are POSTs with a gRPC content type.
        let grpc = method == "POST"
            && F::header_named(req, &http::header::CONTENT_TYPE).is_some_and(is_grpc);
        if grpc {
            push_rpc_attributes(&mut attributes, F::path(req));
        }
        let event_id = id("event_id extractor", &s.event_id);
        // The request id is looked up only when it is needed.
        let fallback = match event_id {
            Some(_) => None,
            None => F::header_named(req, &X_REQUEST_ID).map(str::to_owned),
        };
        // Written out rather than chained through the builder's methods, each of which
        // would move the whole spec.
        let spec = RunSpec {
            workflow: s.workflow.clone(),
            event_id: bounded(event_id),
            customer_id: bounded(id("customer_id extractor", &s.customer_id)),
            tenant_id: bounded(id("tenant_id extractor", &s.tenant_id)),
            fallback_event_id: bounded(fallback),
            trust_inbound: s.trust_inbound,
            extractors: [
                s.event_id.is_some(),
                s.customer_id.is_some(),
                s.tenant_id.is_some(),
            ],
            kind: SpanKind::Server,
            attributes,
            workflow_version: None,
            retry_of: None,
            span_name: s.span_name,
        };
        let active = spec.start_request(&RequestHeaders::<F>(req));
        Some(RequestRun {
            active,
            run_id_header: s.run_id_header,
            route_known,
            classify: s.classify.clone(),
            grpc,
        })
    }
}

/// A request's headers as an OpenTelemetry [`Extractor`].
struct RequestHeaders<'r, F: Framework>(&'r F::Request);

/// `x-request-id`, the run's event id when nothing else names one.
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
/// The inbound headers botanu's propagator reads, prepared once.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
const BAGGAGE: http::HeaderName = http::HeaderName::from_static("baggage");

impl<F: Framework> Extractor for RequestHeaders<'_, F> {
    fn get(&self, key: &str) -> Option<&str> {
        // The propagator's keys are looked up by prepared names (no parsing per request).
        let prepared = match key {
            "traceparent" => &TRACEPARENT,
            "tracestate" => &TRACESTATE,
            "baggage" => &BAGGAGE,
            _ => return F::header(self.0, key),
        };
        F::header_named(self.0, prepared)
    }
    fn keys(&self) -> Vec<&str> {
        F::header_names(self.0)
    }
}

/// The run-span attributes of an HTTP request (`http.request.method`, `url.path`, and
/// `http.route` when the route template is known).
fn http_request_attributes(method: &str, path: &str, route: Option<String>) -> Vec<KeyValue> {
    // Room for the route, a gRPC call's three `rpc.*` attributes and the run's own (the run
    // span's attributes are written into this vector): no growth.
    let mut attributes = Vec::with_capacity(18);
    attributes.push(KeyValue::new("http.request.method", static_method(method)));
    attributes.push(KeyValue::new("url.path", path.to_owned()));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route));
    }
    attributes
}

/// Standard method names as static strings (no allocation per request); others are copied.
fn static_method(method: &str) -> opentelemetry::StringValue {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|m| **m == method) {
        Some(m) => (*m).into(),
        None => method.to_owned().into(),
    }
}

/// A request's run while the handler runs (between [`HttpRuns::start`] and the response
/// head). Dropped without an answer, the run ends as canceled.
#[derive(Debug)]
pub struct RequestRun {
    active: ActiveRun,
    run_id_header: bool,
    route_known: bool,
    classify: Arc<dyn ClassifyResponse>,
    /// A gRPC call: its status may come in the response head (a trailers-only answer).
    grpc: bool,
}

impl std::fmt::Debug for dyn ClassifyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClassifyResponse")
    }
}

impl RequestRun {
    /// The run (adapters put a clone in the request's extensions for handlers).
    pub fn run(&self) -> &RunContext {
        self.active.run()
    }

    /// The run's context: call the inner service and poll its future under it.
    pub fn context(&self) -> &Context {
        self.active.context()
    }

    /// Whether the route was known when the run started; when not, an adapter whose framework
    /// routes later adds `http.route` with [`ResponseRun::add_attribute`].
    pub fn route_known(&self) -> bool {
        self.route_known
    }

    /// The value of the [`RUN_ID_HEADER`] response header, when the app wants it.
    pub fn run_id_header(&self) -> Option<&str> {
        self.run_id_header.then(|| self.active.run().run_id())
    }

    /// Polls the handler's future (`poll`) under the run held in `slot`. If the handler
    /// panics, the run ends as a failure (`error.type` = `panic`) and the panic continues.
    pub fn poll<T>(slot: &mut Option<RequestRun>, poll: impl FnOnce() -> T) -> T {
        let Some(cx) = slot.as_ref().map(|r| r.context().clone()) else {
            return poll();
        };
        poll_in_run(&cx, poll, || slot.take().map(|r| r.active))
    }

    /// The service failed without a response (the connection is closed): the run fails with
    /// `error.type` = the error's type name (`E`, without module paths).
    pub fn fail<E: ?Sized>(self, message: Option<String>) {
        let mut end = RunEnd::failure(error_class_of::<E>()).exception();
        if let Some(m) = message {
            end = end.message(m);
        }
        self.active.finish(end);
    }

    /// The response head is known: the run continues while the body streams. `headers` are
    /// the response's (a classifier may read them).
    pub fn respond(self, status: u16, headers: &dyn Extractor) -> ResponseRun {
        let class = self.classify.classify(status, headers);
        let mut run = ResponseRun {
            active: Some(self.active),
            status,
            class,
            message: None,
            attributes: Vec::new(),
            classify: self.classify,
        };
        // A gRPC error without a body ("trailers-only") carries its status in the head: the
        // head is its trailers too.
        if self.grpc {
            run.trailers(headers);
        }
        run
    }
}

/// The tail of an HTTP run once the response head is known: it ends the run exactly once when
/// the response body ends (the classifier's verdict, or failure for a body error) and as
/// canceled when dropped before that (the client went away). `http.response.status_code` is
/// recorded in every case.
#[derive(Debug)]
pub struct ResponseRun {
    active: Option<ActiveRun>,
    status: u16,
    class: ResponseClass,
    message: Option<String>,
    attributes: Vec<KeyValue>,
    classify: Arc<dyn ClassifyResponse>,
}

impl ResponseRun {
    /// The run's context while the run is open.
    pub fn context(&self) -> Option<&Context> {
        self.active.as_ref().map(ActiveRun::context)
    }

    /// An attribute written when the run ends (e.g. a route only known after routing).
    pub fn add_attribute(&mut self, kv: KeyValue) {
        self.attributes.push(kv);
    }

    /// The message of the span status if the run fails (default `HTTP {status}`).
    pub fn set_message(&mut self, message: String) {
        self.message = Some(message);
    }

    /// The response's trailers arrived (gRPC's status is there): the classifier's verdict
    /// again, with them ([`ClassifyResponse::classify_trailers`]).
    pub fn trailers(&mut self, trailers: &dyn Extractor) {
        let class = std::mem::replace(&mut self.class, ResponseClass::Success);
        self.class = self.classify.classify_trailers(class, trailers);
        self.record_grpc_status(trailers);
    }

    /// Records a `grpc-status` (and its `grpc-message` as the failure message) when `headers`
    /// carry one.
    fn record_grpc_status(&mut self, headers: &dyn Extractor) {
        let Some(code) = grpc_status(headers) else {
            return;
        };
        self.attributes
            .push(KeyValue::new("rpc.grpc.status_code", i64::from(code)));
        if code != 0 {
            // The status reads `UNAVAILABLE: <grpc-message>`.
            let message = headers
                .get("grpc-message")
                .map(|m| {
                    percent_encoding::percent_decode_str(m)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .filter(|m| !m.is_empty());
            self.message = Some(message.unwrap_or_else(|| format!("gRPC status {code}")));
        }
    }

    /// The body ended (or there is none): the classifier's verdict.
    pub fn end(&mut self) {
        let end = match &self.class {
            ResponseClass::Success => RunEnd::new(RunStatus::Success),
            ResponseClass::Failure(error_type) => {
                let message = self
                    .message
                    .take()
                    .unwrap_or_else(|| format!("HTTP {}", self.status));
                RunEnd::failure(error_type.clone()).message(message)
            }
        };
        self.finish(end);
    }

    /// Polls one piece of the response body (`poll` on `body`) under the run held in `slot`,
    /// and ends the run when the stream ends (`None`, or a piece after which `ended` says so) or
    /// fails (`error.type` = the body error's type name). A piece that is the trailers
    /// (`trailers` returns them) goes to [`ResponseRun::trailers`] first.
    pub fn poll_body<B: ?Sized, T, E>(
        slot: &mut Option<ResponseRun>,
        mut body: Pin<&mut B>,
        poll: impl FnOnce(Pin<&mut B>) -> Poll<Option<Result<T, E>>>,
        ended: impl FnOnce(&B) -> bool,
        trailers: impl FnOnce(&T) -> Option<&http::HeaderMap>,
    ) -> Poll<Option<Result<T, E>>> {
        let Some(cx) = slot.as_ref().and_then(ResponseRun::context).cloned() else {
            return poll(body);
        };
        let polled = {
            let _inside = cx.attach();
            poll(body.as_mut())
        };
        if let Some(run) = slot.as_mut() {
            if let Poll::Ready(Some(Ok(piece))) = &polled {
                if let Some(t) = trailers(piece) {
                    run.trailers(&opentelemetry_http::HeaderExtractor(t));
                }
            }
            match &polled {
                Poll::Ready(None) => run.end(),
                Poll::Ready(Some(Err(_))) => run.finish(
                    RunEnd::failure(error_class_of::<E>())
                        .message("response body failed")
                        .exception(),
                ),
                Poll::Ready(Some(Ok(_))) if ended(&body) => run.end(),
                _ => {}
            }
        }
        polled
    }

    fn finish(&mut self, mut end: RunEnd) {
        if let Some(active) = self.active.take() {
            end = end.response_status(self.status);
            for kv in self.attributes.drain(..) {
                end = end.attribute(kv);
            }
            active.finish(end);
        }
    }
}

impl Drop for ResponseRun {
    fn drop(&mut self) {
        if self.active.is_none() {
            // Ended already (the common case): nothing to build.
            return;
        }
        self.finish(
            RunEnd::new(RunStatus::Canceled)
                .message("response body dropped before its end (client went away)"),
        );
    }
}

/// Response headers when there are none to read (e.g. an error turned into a response later).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Extractor for NoHeaders {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> http::request::Parts {
        http::Request::builder()
            .uri(uri)
            .header("x-customer-id", " acme ")
            .header("x-empty", "")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn get<X: Extract<Http>>(x: X, p: &http::request::Parts) -> Option<String> {
        x.extract(p)
    }

    #[test]
    fn headers_and_queries() {
        let p = parts("/t?customer=a%20b+c&x=1&flag&bad=%zz&end=%4");
        assert_eq!(get(header("x-customer-id"), &p).as_deref(), Some("acme"));
        assert_eq!(get(header("x-empty"), &p), None);
        assert_eq!(get(header("x-missing"), &p), None);
        assert_eq!(get(query("customer"), &p).as_deref(), Some("a b c"));
        assert_eq!(get(query("x"), &p).as_deref(), Some("1"));
        assert_eq!(get(query("flag"), &p), None);
        assert_eq!(get(query("bad"), &p).as_deref(), Some("%zz"));
        assert_eq!(get(query("end"), &p).as_deref(), Some("%4"));
        assert_eq!(get(query("nope"), &parts("/t")), None);
        let closure = |p: &http::request::Parts| Some(p.uri.path().to_owned());
        assert_eq!(get(closure, &p).as_deref(), Some("/t"));
    }

    #[test]
    fn prepared_header_names_find_what_plain_names_find() {
        let (p, ()) = http::Request::builder()
            .header(
                "Traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("tracestate", "k=v")
            .header("baggage", "botanu.run_id=r")
            .header("x-request-id", "req-1")
            .header("content-type", "application/grpc")
            .header("x-other", "o")
            .body(())
            .unwrap()
            .into_parts();
        let headers = RequestHeaders::<Http>(&p);
        for name in KIT_HEADERS.into_iter().chain(["x-other", "x-missing"]) {
            let prepared = http::HeaderName::from_static(name);
            assert_eq!(Http::header_named(&p, &prepared), Http::header(&p, name));
            assert_eq!(headers.get(name), Http::header(&p, name), "{name}");
        }
        assert_eq!(headers.get("baggage"), Some("botanu.run_id=r"));
        assert_eq!(Http::header_named(&p, &X_REQUEST_ID), Some("req-1"));
    }

    #[test]
    #[should_panic]
    fn an_invalid_header_name_panics_at_build_time() {
        let _ = header("Not A Header");
    }

    #[test]
    fn classifiers() {
        let none = NoHeaders;
        let default = ServerErrorsAsFailures;
        assert_eq!(default.classify(200, &none), ResponseClass::Success);
        assert_eq!(default.classify(404, &none), ResponseClass::Success);
        assert_eq!(
            default.classify(503, &none),
            ResponseClass::Failure("503".into())
        );
        let strict = StatusInRangeAsFailures::new(400..=599);
        assert_eq!(
            strict.classify(429, &none),
            ResponseClass::Failure("429".into())
        );
        assert_eq!(strict.classify(399, &none), ResponseClass::Success);
    }

    #[test]
    fn grpc_status_decides_grpc_responses() {
        use std::collections::HashMap;
        let headers = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(is_grpc("application/grpc"));
        assert!(is_grpc("application/grpc+proto"));
        assert!(is_grpc("Application/GRPC"));
        assert!(!is_grpc("application/json"));
        assert!(!is_grpc("application/gr"));
        // gRPC's status decides through `classify_trailers` (a trailers-only answer's head goes
        // there too); the HTTP rule alone does not read it.
        let classify = ServerErrorsAsFailures;
        let ok = || ResponseClass::Success;
        assert_eq!(
            classify.classify(200, &headers(&[("grpc-status", "14")])),
            ResponseClass::Success
        );
        assert_eq!(
            classify.classify_trailers(ok(), &headers(&[("grpc-status", "14")])),
            ResponseClass::Failure("UNAVAILABLE".into())
        );
        assert_eq!(
            classify.classify_trailers(ok(), &headers(&[("grpc-status", "0")])),
            ResponseClass::Success
        );
        assert_eq!(
            classify.classify_trailers(ok(), &headers(&[("grpc-status", "99")])),
            ResponseClass::Failure("UNKNOWN".into()),
            "a code outside the 17"
        );
        assert_eq!(
            classify.classify_trailers(ok(), &headers(&[("grpc-status", "x")])),
            ResponseClass::Success,
            "not a status: the head's verdict stands"
        );
        assert_eq!(
            classify.classify_trailers(ok(), &headers(&[("grpc-status", "13")])),
            ResponseClass::Failure("INTERNAL".into())
        );
        assert_eq!(classify.classify_trailers(ok(), &headers(&[])), ok());
        let mut attributes = Vec::new();
        push_rpc_attributes(&mut attributes, "/support.Support/Resolve");
        assert_eq!(attributes.len(), 3);
        assert_eq!(attributes[1].value.as_str(), "support.Support");
        assert_eq!(attributes[2].value.as_str(), "Resolve");
        let mut odd = Vec::new();
        push_rpc_attributes(&mut odd, "/odd");
        assert_eq!(odd.len(), 1, "a path that names no method");
    }
}
