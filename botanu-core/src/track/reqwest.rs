//! [`BotanuPropagation`]: the run crosses outbound `reqwest` calls (feature `reqwest`).

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;
use reqwest_middleware::{Middleware, Next};

use crate::propagation::PropagationPolicy;

/// A [`reqwest_middleware::Middleware`] that injects `traceparent` (every host) and the run's
/// baggage (hosts the [`PropagationPolicy`] allows) into each outbound request, and by default
/// records a client span (`http.request.method`, `server.address`, `server.port`, `url.full`
/// with query values redacted, `http.response.status_code`; error status on 5xx and transport
/// errors). Never panics on header values: ones that cannot be sent are left out.
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
}

impl Default for BotanuPropagation {
    fn default() -> Self {
        BotanuPropagation {
            policy: None,
            client_spans: true,
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

    /// Whether to record a client span per request (default true).
    pub fn with_client_spans(mut self, enabled: bool) -> Self {
        self.client_spans = enabled;
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
        let cx = if self.client_spans && crate::otel::install::is_active() {
            let tracer = crate::otel::install::own_tracer(crate::otel::install::SCOPE_NAME);
            let url = req.url();
            let mut attributes = vec![
                KeyValue::new("http.request.method", req.method().as_str().to_owned()),
                KeyValue::new("url.full", redacted_url(url)),
            ];
            if let Some(host) = url.host_str() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
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
        let inject_cx = cx.as_ref().map_or(&parent, |e| &e.work_cx);
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
                let class = match e {
                    reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
                    reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
                    reqwest_middleware::Error::Reqwest(_) => "transport",
                    reqwest_middleware::Error::Middleware(_) => "middleware",
                };
                span.set_attribute(KeyValue::new("error.type", class));
                span.set_status(Status::error(e.to_string()));
            }
        }
        span.end();
        result
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
