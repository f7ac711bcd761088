//! `support.Support`, a small gRPC service for the gRPC demo and tests (feature `grpc`): the
//! messages (written with prost's derive, so nothing needs `protoc`) and the routing tonic's
//! generated server code would do, over handler functions the caller supplies.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::{Request, Response, Status};

/// A support ticket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ticket {
    /// What the customer asks.
    #[prost(string, tag = "1")]
    pub question: String,
}

/// An answer, or one update of a stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Answer {
    /// The text.
    #[prost(string, tag = "1")]
    pub text: String,
}

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// The stream `Watch` answers with.
pub type Updates = Pin<Box<dyn futures_core::Stream<Item = Result<Answer, Status>> + Send>>;
/// The unary handler.
pub type ResolveFn = fn(Request<Ticket>) -> BoxFuture<Result<Response<Answer>, Status>>;
/// The server-streaming handler.
pub type WatchFn = fn(Request<Ticket>) -> BoxFuture<Result<Response<Updates>, Status>>;

/// The full method paths.
pub const RESOLVE: &str = "/support.Support/Resolve";
/// See [`RESOLVE`].
pub const WATCH: &str = "/support.Support/Watch";

/// The codec a client of `support.Support` sends with.
pub fn client_codec() -> tonic_prost::ProstCodec<Ticket, Answer> {
    tonic_prost::ProstCodec::default()
}

/// `support.Support` with a unary `Resolve` and a server-streaming `Watch`.
#[derive(Clone, Copy)]
pub struct Support {
    /// `Resolve`.
    pub resolve: ResolveFn,
    /// `Watch`.
    pub watch: WatchFn,
}

impl std::fmt::Debug for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Support")
    }
}

impl tonic::server::NamedService for Support {
    const NAME: &'static str = "support.Support";
}

impl<B> tower_service::Service<http::Request<B>> for Support
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let codec = tonic_prost::ProstCodec::<Answer, Ticket>::default();
        let Support { resolve, watch } = *self;
        match req.uri().path() {
            RESOLVE => Box::pin(async move {
                Ok(tonic::server::Grpc::new(codec)
                    .unary(tower::service_fn(resolve), req)
                    .await)
            }),
            WATCH => Box::pin(async move {
                Ok(tonic::server::Grpc::new(codec)
                    .server_streaming(tower::service_fn(watch), req)
                    .await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// Serves `service` under `layer` on 127.0.0.1 (a free port) until the returned sender is
/// dropped or sent to.
pub async fn serve<L, ResBody>(
    layer: L,
    service: Support,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    L: tower_layer::Layer<Support> + Clone + Send + 'static,
    L::Service: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    <L::Service as tower_service::Service<http::Request<tonic::body::Body>>>::Future: Send,
    <L::Service as tower_service::Service<http::Request<tonic::body::Body>>>::Error:
        Into<tonic::codegen::StdError> + Send,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .serve_with_incoming_shutdown(
                service,
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    (addr, stop)
}
