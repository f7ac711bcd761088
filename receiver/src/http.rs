//! Loopback HTTP helpers for demos and tests: serve an app on 127.0.0.1 and call it with a real
//! client whose resolver sends **every host name to 127.0.0.1**, so tests can call
//! `billing.svc` or `api.openai.com` and still only ever touch loopback.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A resolver that answers 127.0.0.1 for every name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loopback;

impl tower_service::Service<Name> for Loopback {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _name: Name) -> Self::Future {
        Box::pin(async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter()) })
    }
}

/// The client type tests use (wrap it in layers such as `PropagateLayer`).
pub type LoopbackClient = Client<HttpConnector<Loopback>, Full<Bytes>>;

/// A client whose every host resolves to 127.0.0.1.
pub fn loopback_client() -> LoopbackClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new_with_resolver(Loopback))
}

/// Serves `app` on 127.0.0.1 (a free port) on the current tokio runtime; returns the address.
/// The server stops with the runtime (each test has its own).
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body as text.
    pub body: String,
}

/// Sends `req` with `client` (any tower service over `http::Request<Full<Bytes>>`) and reads
/// the whole response.
pub async fn send<S, B>(client: &mut S, req: http::Request<Full<Bytes>>) -> Result<Reply, String>
where
    S: tower_service::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Display,
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    std::future::poll_fn(|cx| client.poll_ready(cx))
        .await
        .map_err(|e| e.to_string())?;
    let response = client.call(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A request builder with a body.
pub fn request(method: &str, uri: &str) -> http::request::Builder {
    http::Request::builder().method(method).uri(uri)
}

/// A finished request with a text body.
pub fn body(builder: http::request::Builder, text: &str) -> http::Request<Full<Bytes>> {
    builder
        .body(Full::new(Bytes::from(text.to_owned())))
        .expect("valid request")
}
