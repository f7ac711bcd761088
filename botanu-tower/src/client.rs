//! [`ClientLayer`]: the outbound side for `http::Request` clients with spans: propagation, a
//! client span per request, and LLM provider calls recognised on the wire.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::adapter::outbound::{
    ClientCall, ClientOptions, Observed, RequestTap, ResponseTap,
};
use http::{Request, Response};
use opentelemetry::context::{FutureExt as _, WithContext};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// What [`PropagateLayer`](crate::PropagateLayer) does (`traceparent` to every host, the run's
/// baggage to hosts the `PropagationPolicy` allows), plus a client span per request
/// (`http.request.method`, `url.full` with query values redacted, `server.address`,
/// `server.port`, `http.response.status_code`; error status on 5xx and transport errors), and
/// **LLM provider calls recognised on the wire**: a `POST` to a provider of the
/// `LlmEndpoints` table is recorded as the GenAI span `llm::call` makes, from the JSON
/// request (model, parameters) and the plain or SSE-streamed response (usage, response model,
/// finish reasons, time to first token), as botanu-core's `BotanuPropagation` does for reqwest. Both bodies
/// are observed as they stream, never buffered in their place: the server and the app get the
/// same bytes.
///
/// The inner service receives `Request<`[`ClientRequestBody<B>`]`>` and the caller gets
/// `Response<`[`ClientResponseBody<B>`]`>`; clients generic over their body type (hyper-util's)
/// take it as it is. For a client with one fixed body type (tonic's `Channel`), use
/// [`PropagateLayer`](crate::PropagateLayer), which leaves bodies alone.
///
/// ```no_run
/// use botanu_tower::ClientLayer;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::ServiceBuilder;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = ServiceBuilder::new()
///     .layer(ClientLayer::new())
///     .service(Client::builder(TokioExecutor::new()).build_http());
/// let request = http::Request::post("http://localhost:11434/v1/chat/completions")
///     .body(Full::<Bytes>::from(r#"{"model":"llama3","messages":[]}"#))?;
/// let response = tower::ServiceExt::oneshot(client, request).await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientLayer {
    options: ClientOptions,
}

impl ClientLayer {
    /// With the process-wide policy, client spans and the default provider table.
    pub fn new() -> Self {
        Self::default()
    }

    botanu_core::client_options_builder!(options);
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            options: self.options.clone(),
        }
    }
}

/// The service of [`ClientLayer`].
#[derive(Debug, Clone)]
pub struct ClientService<S> {
    inner: S,
    options: ClientOptions,
}

/// The request's URL: its URI when absolute, else the `Host` header with the URI's path.
fn url_of<B>(req: &Request<B>) -> Option<url::Url> {
    let uri = req.uri();
    if uri.authority().is_some() {
        return url::Url::parse(&uri.to_string()).ok();
    }
    let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    url::Url::parse(&format!("http://{host}{path}")).ok()
}

impl<S, B, RB> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<ClientRequestBody<B>>, Response = Response<RB>>,
    S::Error: Display,
{
    type Response = Response<ClientResponseBody<RB>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The URL (a string and a parse) is built only for a request that gets a span.
        let url = self.options.records().then(|| url_of(&req)).flatten();
        let call = match url {
            Some(url) => ClientCall::start(&self.options, req.method(), &url, None),
            None => ClientCall::untracked(),
        };
        let (mut parts, body) = req.into_parts();
        let host = crate::propagate::host_of(&parts.uri, &parts.headers);
        call.inject(&self.options, host.as_deref(), &mut parts.headers);
        let body = Observed::new(body, call.request_tap());
        let cx = call.context().clone();
        let inner = {
            let _guard = cx.clone().attach();
            self.inner.call(Request::from_parts(parts, body))
        };
        ClientFuture {
            inner: inner.with_context(cx),
            call: Some(call),
        }
    }
}

pin_project! {
    /// The response future of [`ClientService`].
    pub struct ClientFuture<F> {
        #[pin]
        inner: WithContext<F>,
        call: Option<ClientCall>,
    }
}

impl<F, RB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: Display,
{
    type Output = Result<Response<ClientResponseBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let Some(call) = this.call.take() else {
            // Polled again after completion: pass the inner future's answer through.
            return Poll::Ready(result.map(|r| r.map(|inner| Observed::new(inner, None))));
        };
        Poll::Ready(match result {
            Ok(response) => {
                let tap = call.respond(response.status(), response.headers());
                Ok(response.map(|inner| Observed::new(inner, tap)))
            }
            Err(e) => {
                call.failed("transport", &e.to_string());
                Err(e)
            }
        })
    }
}

/// The request body the inner service of [`ClientLayer`] receives.
pub type ClientRequestBody<B> = Observed<B, RequestTap>;

/// The response body callers of [`ClientLayer`]'s service receive.
pub type ClientResponseBody<B> = Observed<B, ResponseTap>;
