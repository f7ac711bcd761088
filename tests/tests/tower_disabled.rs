//! With botanu disabled the layer is a pass-through: same response, no run header, no run.

use std::convert::Infallible;

use botanu_core::BotanuConfig;
use botanu_tower::BotanuLayer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{service_fn, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn disabled_layer_passes_requests_through() {
    botanu_core::enable_with(BotanuConfig::default().with_disabled(true)).unwrap();
    let svc = ServiceBuilder::new()
        .layer(BotanuLayer::workflow("Off"))
        .service(service_fn(|_req: http::Request<Full<Bytes>>| async {
            assert!(botanu_core::RunContext::current().is_none());
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
        }));
    let response = svc
        .oneshot(http::Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    assert!(!response.headers().contains_key("x-botanu-run-id"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
}
