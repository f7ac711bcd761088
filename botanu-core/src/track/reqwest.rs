//! [`BotanuPropagation`]: the run crosses outbound `reqwest` calls (feature `reqwest`).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;
use pin_project_lite::pin_project;
use reqwest_middleware::{Middleware, Next};

use crate::llm::LlmEndpoints;
use crate::propagation::PropagationPolicy;
use crate::track::wire::{Tap, WireCall};

/// A [`reqwest_middleware::Middleware`] that injects `traceparent` (every host) and the run's
/// baggage (hosts the [`PropagationPolicy`] allows) into each outbound request, and by default
/// records a client span (`http.request.method`, `server.address`, `server.port`, `url.full`
/// with query values redacted, `http.response.status_code`; error status on 5xx and transport
/// errors). Never panics on header values: ones that cannot be sent are left out.
///
/// **LLM calls are recognised on the wire:** a `POST` to a provider of the
/// [`LlmEndpoints`] table (OpenAI, Azure OpenAI, Anthropic, Mistral, Groq, OpenRouter, local
/// Ollama and vLLM, plus hosts the app adds) is recorded as the GenAI span `llm::call` makes:
/// provider, request model and parameters from the JSON request; usage (input, output, cached
/// tokens), response model, id and finish reasons from the response, plain or SSE-streamed
/// (time to first token too); errors with the provider's error type. The body is observed as
/// the app reads it (the app gets the same bytes); usage a response does not carry is recorded
/// as unknown (`botanu.usage.unknown`), never guessed; a stream the app drops early ends the
/// span as canceled. A request made inside an `llm::call` the app wrote is not recorded twice.
///
/// ```no_run
/// # async fn demo() -> Result<(), reqwest_middleware::Error> {
/// use botanu_core::BotanuPropagation;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BotanuPropagation::new())
///     .build();
/// client.get("http://billing.svc/invoices").send().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BotanuPropagation {
    policy: Option<PropagationPolicy>,
    client_spans: bool,
    llm: LlmEndpoints,
}

impl Default for BotanuPropagation {
    fn default() -> Self {
        BotanuPropagation {
            policy: None,
            client_spans: true,
            llm: LlmEndpoints::default(),
        }
    }
}

impl BotanuPropagation {
    /// With the process-wide policy and client spans.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `policy` instead of the process-wide one.
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
}

/// `url.full` without credentials and with every query value replaced by `REDACTED`.
fn redacted_url(url: &reqwest::Url) -> String {
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

#[async_trait::async_trait]
impl Middleware for BotanuPropagation {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let parent = Context::current();
        let active = self.client_spans && crate::otel::install::is_active();
        let url = req.url();
        let mut attributes = Vec::new();
        if active {
            attributes.push(KeyValue::new(
                "http.request.method",
                req.method().as_str().to_owned(),
            ));
            attributes.push(KeyValue::new("url.full", redacted_url(url)));
            if let Some(host) = url.host_str() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        // A provider call: the GenAI span is the request's client span.
        let recognised = if active && !crate::track::inside_llm_call(&parent) {
            self.llm.recognise(req.method().as_str(), url)
        } else {
            None
        };
        let wire = recognised.map(|r| r.start(req.body().and_then(reqwest::Body::as_bytes)));
        if let Some(call) = &wire {
            call.set_attributes(std::mem::take(&mut attributes));
        }
        let cx = if active && wire.is_none() {
            let tracer = crate::otel::install::own_tracer(crate::otel::install::SCOPE_NAME);
            Some(crate::otel::own_span::start(
                tracer,
                tracer
                    .span_builder(req.method().as_str().to_owned())
                    .with_kind(SpanKind::Client)
                    .with_attributes(attributes),
                &parent,
            ))
        } else {
            None
        };
        // The client span is the `traceparent` parent only when botanu owns the tracing; with
        // an app pipeline, the request carries the app's current span as it would without
        // botanu (the app's collector never receives botanu's client span).
        let inject_cx = match (&wire, &cx) {
            (Some(call), _) => call.context(),
            (None, Some(entered)) => &entered.work_cx,
            (None, None) => &parent,
        };
        let host = req.url().host_str().map(str::to_owned);
        let policy = self
            .policy
            .as_ref()
            .unwrap_or_else(|| PropagationPolicy::global());
        policy.inject(
            inject_cx,
            host.as_deref(),
            &mut HeaderInjector(req.headers_mut()),
        );

        if let Some(call) = wire {
            let work_cx = call.context().clone();
            return match next.run(req, extensions).with_context(work_cx).await {
                Ok(response) => Ok(observe(response, call)),
                Err(e) => {
                    call.failed(transport_class(&e), &e.to_string());
                    Err(e)
                }
            };
        }
        let Some(entered) = cx else {
            return next.run(req, extensions).await;
        };
        let result = next
            .run(req, extensions)
            .with_context(entered.work_cx.clone())
            .await;
        let span = entered.span_cx.span();
        match &result {
            Ok(response) => {
                let status = response.status();
                span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if status.is_server_error() {
                    span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
                    span.set_status(Status::error(format!("HTTP {status}")));
                }
            }
            Err(e) => {
                span.set_attribute(KeyValue::new("error.type", transport_class(e)));
                span.set_status(Status::error(e.to_string()));
            }
        }
        span.end();
        result
    }
}

fn transport_class(e: &reqwest_middleware::Error) -> &'static str {
    match e {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(_) => "transport",
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}

/// `response` with its body observed by the call's tap (the app reads the same bytes).
fn observe(response: reqwest::Response, call: WireCall) -> reqwest::Response {
    use reqwest::ResponseBuilderExt as _;
    let status = response.status().as_u16();
    let event_stream = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let tap = call.respond(status, event_stream);
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    // The URL travels in an extension only reqwest can make: take it from a carrier.
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    let observed = ObservedBody {
        inner: body,
        tap: Some(tap),
    };
    reqwest::Response::from(http::Response::from_parts(
        parts,
        reqwest::Body::wrap(observed),
    ))
}

pin_project! {
    /// A response body the app reads while the call's tap watches it go by.
    struct ObservedBody {
        #[pin]
        inner: reqwest::Body,
        tap: Option<Tap>,
    }
}

impl http_body::Body for ObservedBody {
    type Data = bytes::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let Some(tap) = this.tap.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        tap.data(data);
                    }
                    if this.inner.is_end_stream() {
                        tap.end();
                    }
                }
                Poll::Ready(Some(Err(e))) => tap.body_error(&e.to_string()),
                Poll::Ready(None) => tap.end(),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let u =
            reqwest::Url::parse("https://user:pw@api.example.com/v1/x?api_key=sekrit&q=a%20b#f")
                .unwrap();
        let r = redacted_url(&u);
        assert_eq!(
            r,
            "https://api.example.com/v1/x?api_key=REDACTED&q=REDACTED#f"
        );
        let plain = reqwest::Url::parse("http://billing.svc/invoices").unwrap();
        assert_eq!(redacted_url(&plain), "http://billing.svc/invoices");
    }
}
