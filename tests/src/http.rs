//! HTTP helpers for end-to-end tests: serve an app on 127.0.0.1 and call it with a real
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

/// An axum handler that answers with the `traceparent` and `baggage` headers it received, as
/// `"<traceparent>|<baggage>"` (empty for a missing one): what a downstream service was sent.
pub async fn echo_propagation(headers: http::HeaderMap) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    format!("{}|{}", h("traceparent"), h("baggage"))
}

/// An app's own outbound propagation, as apps write it without botanu: the global propagator
/// injects the current context into each reqwest request (a `reqwest_middleware` middleware).
/// Tests compare what a downstream service gets with and without botanu through it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppInjects;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for AppInjects {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let cx = opentelemetry::Context::current();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(
                &cx,
                &mut opentelemetry_http::HeaderInjector(req.headers_mut()),
            )
        });
        next.run(req, extensions).await
    }
}

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

/// An actix-web server on 127.0.0.1 (a free port, one worker) on its own thread; stopped
/// and joined when dropped.
pub struct ActixServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ActixServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ActixServer {
    /// Binds 127.0.0.1 (a free port) and runs the server `start` makes from the listener,
    /// e.g. `|l| Ok(HttpServer::new(app).workers(1).disable_signals().listen(l)?.run())`.
    pub fn start<F>(start: F) -> ActixServer
    where
        F: FnOnce(std::net::TcpListener) -> std::io::Result<actix_web::dev::Server>
            + Send
            + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = start(listener).expect("start the actix server");
                let _ = tx.send(server.handle());
                let _ = server.await;
            })
        });
        let handle = rx.recv().expect("actix server started");
        ActixServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop from a helper thread with its own runtime: drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn raw_get(addr: SocketAddr, path: &str, event: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut raw = tokio::net::TcpStream::connect(addr).await.expect("connect");
    raw.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nx-event: {event}\r\n\r\n").as_bytes())
        .await
        .expect("write request");
    raw
}

/// A client that sends `GET path` (with header `x-event: event`) and goes away 200 ms later,
/// before any response.
pub async fn leave_before_response(addr: SocketAddr, path: &str, event: &str) {
    let raw = raw_get(addr, path, event).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(raw);
}

/// A client that sends `GET path` (with header `x-event: event`), reads the start of the
/// response and goes away mid-stream.
pub async fn leave_mid_stream(addr: SocketAddr, path: &str, event: &str) {
    use tokio::io::AsyncReadExt;
    let mut raw = raw_get(addr, path, event).await;
    let mut buf = [0u8; 512];
    let _ = raw.read(&mut buf).await.expect("read the response head");
    drop(raw);
}
