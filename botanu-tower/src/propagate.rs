//! [`PropagateLayer`]: outbound `traceparent` and baggage for `http::Request` clients.

use std::task::{Context as TaskContext, Poll};

use botanu_core::propagation::PropagationPolicy;
use http::Request;
use opentelemetry::Context;
use opentelemetry_http::HeaderInjector;
use tower_layer::Layer;
use tower_service::Service;

/// Injects the current context into each outbound request: `traceparent` to every host,
/// baggage (the run's `botanu.*` keys and any others) only to hosts the
/// [`PropagationPolicy`] allows. Header values that cannot be sent are left out, never a panic.
///
/// The host is the request URI's, else its `Host` header's. A client whose requests carry
/// only a path until a lower layer adds the origin (tonic's `Channel`) names it with
/// [`origin`](Self::origin); a request whose host is unknown gets no baggage.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use botanu_tower::PropagateLayer;
/// use tonic::transport::Endpoint;
///
/// let endpoint = Endpoint::from_static("http://billing.svc:50051");
/// let channel = tower::ServiceBuilder::new()
///     .layer(PropagateLayer::new().origin(endpoint.uri()))
///     .service(endpoint.connect().await?);
/// let client = tonic::client::Grpc::new(channel); // or a generated `…Client::new(channel)`
/// # let _ = client; Ok(()) }
/// ```
///
/// ```no_run
/// use botanu_tower::PropagateLayer;
/// use tower::ServiceBuilder;
/// # let client = tower::service_fn(|_req: http::Request<String>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// # });
/// let client = ServiceBuilder::new().layer(PropagateLayer::new()).service(client);
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Default)]
pub struct PropagateLayer {
    policy: Option<PropagationPolicy>,
    origin: Option<String>,
}

impl PropagateLayer {
    /// Uses the process-wide policy ([`PropagationPolicy::global`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `policy` instead of the process-wide one.
    pub fn with_policy(policy: PropagationPolicy) -> Self {
        PropagateLayer {
            policy: Some(policy),
            origin: None,
        }
    }

    /// The host requests go to when their URI names none (a client that adds the origin
    /// below this layer, such as tonic's `Channel`): the host of `uri`.
    pub fn origin(mut self, uri: &http::Uri) -> Self {
        self.origin = uri.host().map(str::to_owned);
        self
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = PropagateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateService {
            inner,
            policy: self.policy.clone(),
            origin: self.origin.clone(),
        }
    }
}

/// The service of [`PropagateLayer`].
#[derive(Debug, Clone)]
pub struct PropagateService<S> {
    inner: S,
    policy: Option<PropagationPolicy>,
    origin: Option<String>,
}

impl<S, B> Service<Request<B>> for PropagateService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let host = host_of(req.uri(), req.headers()).or_else(|| self.origin.clone());
        let policy = self
            .policy
            .as_ref()
            .unwrap_or_else(|| PropagationPolicy::global());
        Context::map_current(|cx| {
            policy.inject(cx, host.as_deref(), &mut HeaderInjector(req.headers_mut()))
        });
        self.inner.call(req)
    }
}

/// The host a request goes to: its URI's, else its `Host` header's.
pub(crate) fn host_of(uri: &http::Uri, headers: &http::HeaderMap) -> Option<String> {
    uri.host().map(str::to_owned).or_else(|| {
        headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned())
    })
}
