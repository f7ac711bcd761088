//! HTTP helpers for end-to-end tests: the loopback client and server helpers of
//! [`botanu_receiver::http`] (re-exported), and what only tests need — a downstream that
//! echoes propagation headers, an app's own outbound propagation, an actix server, clients
//! that go away early.

use std::net::SocketAddr;

pub use botanu_receiver::http::*;

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
