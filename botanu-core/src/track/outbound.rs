//! Outbound HTTP calls, written once for every client integration (`BotanuPropagation` for
//! reqwest, botanu-tower's `ClientLayer`, the async-openai service): the run's headers
//! injected under the [`PropagationPolicy`], a client span per request, and LLM provider calls
//! recognised on the wire ([`LlmEndpoints`]) as the GenAI span `llm::call` makes.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;

use crate::llm::LlmEndpoints;
use crate::propagation::PropagationPolicy;
use crate::track::wire::{RequestTap, ResponseTap, WireCall};

/// What an outbound client integration does: which [`PropagationPolicy`] decides where baggage
/// goes, whether each request gets a client span, and which hosts are LLM providers.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    policy: Option<PropagationPolicy>,
    client_spans: bool,
    llm: LlmEndpoints,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            policy: None,
            client_spans: true,
            llm: LlmEndpoints::default(),
        }
    }
}

impl ClientOptions {
    /// Uses `policy` instead of the process-wide one ([`PropagationPolicy::global`]).
    pub fn with_policy(mut self, policy: PropagationPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Whether to record a client span per request (default true; off also turns LLM call
    /// recognition off).
    pub fn with_client_spans(mut self, enabled: bool) -> Self {
        self.client_spans = enabled;
        self
    }

    /// Which hosts are LLM providers whose calls are recognised (default
    /// [`LlmEndpoints::default`]; [`LlmEndpoints::none`] turns recognition off).
    pub fn with_llm_endpoints(mut self, endpoints: LlmEndpoints) -> Self {
        self.llm = endpoints;
        self
    }

    /// Whether a request gets a span now (client spans on, botanu active): a client whose
    /// URL costs work to build can skip it otherwise ([`ClientCall::untracked`]).
    pub fn records(&self) -> bool {
        self.client_spans && crate::otel::install::is_active()
    }

    fn policy(&self) -> &PropagationPolicy {
        self.policy
            .as_ref()
            .unwrap_or_else(|| PropagationPolicy::global())
    }
}

/// One outbound request in flight: started before the request is sent (its headers are
/// written then), ended by [`respond`](Self::respond) or [`failed`](Self::failed). Dropped
/// without either, its span ends as it is.
#[derive(Debug)]
pub struct ClientCall {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// botanu is not active, or client spans are off: headers only.
    Plain(Context),
    /// A plain HTTP client span.
    Span(crate::otel::own_span::Entered),
    /// A recognised LLM provider call.
    Llm(WireCall),
}

impl ClientCall {
    /// Starts the call of `method` to `url` from the current context; then
    /// [`inject`](Self::inject) writes its headers. `body` is the request body when it is in
    /// memory; a recognised call whose body streams reads it through
    /// [`request_tap`](Self::request_tap).
    pub fn start(
        options: &ClientOptions,
        method: &http::Method,
        url: &url::Url,
        body: Option<&[u8]>,
    ) -> ClientCall {
        let parent = Context::current();
        let kind = if !options.records() {
            Kind::Plain(parent)
        } else {
            let mut attributes = vec![
                KeyValue::new("http.request.method", method.as_str().to_owned()),
                KeyValue::new("url.full", redacted_url(url)),
            ];
            if let Some(host) = url.host_str() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
            // A provider call: the GenAI span is the request's client span.
            let recognised = if crate::track::inside_llm_call(&parent) {
                None
            } else {
                options.llm.recognise(method.as_str(), url)
            };
            match recognised {
                Some(r) => {
                    let call = r.start(body);
                    call.set_attributes(attributes);
                    Kind::Llm(call)
                }
                None => {
                    let tracer = crate::otel::install::own_tracer(crate::semconv::scopes::RUN);
                    Kind::Span(crate::otel::own_span::start(
                        tracer,
                        tracer
                            .span_builder(method.as_str().to_owned())
                            .with_kind(SpanKind::Client)
                            .with_attributes(attributes),
                        &parent,
                    ))
                }
            }
        };
        ClientCall { kind }
    }

    /// A request without a span (botanu not recording, or no host in its URI or headers):
    /// headers only.
    pub fn untracked() -> ClientCall {
        ClientCall {
            kind: Kind::Plain(Context::current()),
        }
    }

    /// Writes the call's headers for a request to `host`: `traceparent` to every host, baggage
    /// to hosts the options' policy allows. Values that cannot be sent are left out.
    pub fn inject(
        &self,
        options: &ClientOptions,
        host: Option<&str>,
        headers: &mut http::HeaderMap,
    ) {
        options
            .policy()
            .inject(self.context(), host, &mut HeaderInjector(headers));
    }

    /// The context to send the request under. The client span is its parent only when botanu
    /// owns the tracing; with an app pipeline, the request carries the app's current span as
    /// it would without botanu (the app's collector never receives botanu's client span).
    pub fn context(&self) -> &Context {
        match &self.kind {
            Kind::Plain(cx) => cx,
            Kind::Span(entered) => &entered.work_cx,
            Kind::Llm(call) => call.context(),
        }
    }

    /// For a recognised provider call whose request body streams: the observer of that body
    /// (model and parameters are read from it when it ends).
    pub fn request_tap(&self) -> Option<RequestTap> {
        match &self.kind {
            Kind::Llm(call) => Some(call.request_tap()),
            _ => None,
        }
    }

    /// The response head arrived. A client span ends here; a recognised provider call returns
    /// the observer of the response body, which records the call when the body ends.
    pub fn respond(
        self,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) -> Option<ResponseTap> {
        match self.kind {
            Kind::Plain(_) => None,
            Kind::Span(entered) => {
                let span = entered.span_cx.span();
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if status.is_server_error() {
                    span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
                    span.set_status(Status::error(format!("HTTP {status}")));
                }
                span.end();
                None
            }
            Kind::Llm(call) => {
                let event_stream = headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
                Some(call.respond(status.as_u16(), event_stream))
            }
        }
    }

    /// The request failed without a response: `class` is `error.type` (`timeout`, `connect`,
    /// `transport`, …).
    pub fn failed(self, class: &str, message: &str) {
        match self.kind {
            Kind::Plain(_) => {}
            Kind::Span(entered) => {
                let span = entered.span_cx.span();
                span.set_attribute(KeyValue::new("error.type", class.to_owned()));
                span.set_status(Status::error(message.to_owned()));
                span.end();
            }
            Kind::Llm(call) => call.failed(class, message),
        }
    }
}

pin_project_lite::pin_project! {
    /// A body that goes by while a recognised LLM call watches it: a request body (its model
    /// and parameters, through a [`RequestTap`]) or a response body (its usage, through a
    /// [`ResponseTap`]). Without a tap it passes the body through untouched. Data and frames
    /// are the inner body's, polled as the reader polls.
    pub struct Observed<B, T> {
        #[pin]
        inner: B,
        tap: Option<T>,
    }
}

impl<B, T> Observed<B, T> {
    /// `inner`, watched by `tap` (none: passed through).
    pub fn new(inner: B, tap: Option<T>) -> Self {
        Observed { inner, tap }
    }
}

mod sealed {
    /// What a tap is told of a polled frame.
    pub trait Observer {
        fn data(&mut self, bytes: &[u8]);
        fn end(&mut self);
        fn error(&mut self, message: &str);
    }
}
use sealed::Observer;

impl Observer for RequestTap {
    fn data(&mut self, bytes: &[u8]) {
        RequestTap::data(self, bytes);
    }
    fn end(&mut self) {
        RequestTap::end(self);
    }
    fn error(&mut self, _message: &str) {
        // The request failed while being sent; the transport error ends the call.
    }
}

impl Observer for ResponseTap {
    fn data(&mut self, bytes: &[u8]) {
        ResponseTap::data(self, bytes);
    }
    fn end(&mut self) {
        ResponseTap::end(self);
    }
    fn error(&mut self, message: &str) {
        self.body_error(message);
    }
}

/// What `Body::poll_frame` returns for a body `B`.
type Polled<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

impl<B, T> Body for Observed<B, T>
where
    B: Body,
    B::Data: AsRef<[u8]>,
    B::Error: std::fmt::Display,
    T: Observer,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Polled<B> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let Some(tap) = this.tap.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        tap.data(data.as_ref());
                    }
                    if this.inner.is_end_stream() {
                        tap.end();
                    }
                }
                Poll::Ready(Some(Err(e))) => tap.error(&e.to_string()),
                Poll::Ready(None) => tap.end(),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `url.full` without credentials and with every query value replaced by `REDACTED`.
pub(crate) fn redacted_url(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        for name in names {
            pairs.append_pair(&name, "REDACTED");
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let u = url::Url::parse("https://user:pw@api.example.com/v1/x?api_key=sekrit&q=a%20b#f")
            .unwrap();
        let r = redacted_url(&u);
        assert_eq!(
            r,
            "https://api.example.com/v1/x?api_key=REDACTED&q=REDACTED#f"
        );
        let plain = url::Url::parse("http://billing.svc/invoices").unwrap();
        assert_eq!(redacted_url(&plain), "http://billing.svc/invoices");
    }
}
