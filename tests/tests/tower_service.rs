//! botanu-tower on a plain Tower service (no framework): service errors, body errors, empty
//! bodies, a custom route extractor, with spans checked at the OTLP receiver.

use std::convert::Infallible;

use botanu_tests::env::{completed_attr, TestEnv};
use botanu_tests::receiver::{ReceivedSpan, Val};
use botanu_tower::{extract, BotanuLayer};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{service_fn, ServiceBuilder, ServiceExt};

fn run_of(event_id: &str) -> ReceivedSpan {
    TestEnv::get().run("botanu.run/", event_id, 1).0
}

#[derive(Debug)]
struct QuotaExceeded;

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("quota exceeded")
    }
}

type RouteFn = fn(&http::request::Parts) -> Option<String>;
type TowerLayer = BotanuLayer;

fn custom_route(_: &http::request::Parts) -> Option<String> {
    Some("/custom/{route}".to_owned())
}

fn layer() -> TowerLayer {
    BotanuLayer::workflow("Tower")
        .event_id(extract::header("x-event"))
        .route(custom_route as RouteFn)
}

fn req(event: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .uri("/custom/1")
        .header("x-event", event)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn service_error_is_a_failure_and_propagates() {
    let _ = TestEnv::get();
    let svc = ServiceBuilder::new().layer(layer()).service(service_fn(
        |_req: http::Request<Full<Bytes>>| async {
            Err::<http::Response<Full<Bytes>>, _>(QuotaExceeded)
        },
    ));
    let err = svc.oneshot(req("tower-err")).await.unwrap_err();
    assert_eq!(err.to_string(), "quota exceeded");
    let run = run_of("tower-err");
    assert_eq!(completed_attr(&run, "status").as_deref(), Some("failure"));
    assert_eq!(
        completed_attr(&run, "error_class").as_deref(),
        Some("QuotaExceeded")
    );
    assert_eq!(run.attr("error.type"), Some("QuotaExceeded"));
    assert_eq!(run.attr("http.route"), Some("/custom/{route}"));
}

#[tokio::test]
async fn empty_body_ends_the_run_without_being_polled() {
    let _ = TestEnv::get();
    let svc = ServiceBuilder::new().layer(layer()).service(service_fn(
        |_req: http::Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        },
    ));
    let response = svc.oneshot(req("tower-empty")).await.unwrap();
    assert!(response.headers().contains_key("x-botanu-run-id"));
    drop(response);
    let run = run_of("tower-empty");
    assert_eq!(completed_attr(&run, "status").as_deref(), Some("success"));
    assert_eq!(
        run.attributes.get("http.response.status_code"),
        Some(&Val::Int(200))
    );
}

#[tokio::test]
async fn body_error_is_a_failure() {
    let _ = TestEnv::get();
    let svc = ServiceBuilder::new().layer(layer()).service(service_fn(
        |_req: http::Request<Full<Bytes>>| async {
            let frames = futures_util::stream::iter(vec![
                Ok(http_body::Frame::data(Bytes::from_static(b"partial"))),
                Err(QuotaExceeded),
            ]);
            Ok::<_, Infallible>(http::Response::new(StreamBody::new(frames)))
        },
    ));
    let response = svc.oneshot(req("tower-body-err")).await.unwrap();
    assert!(response.into_body().collect().await.is_err());
    let run = run_of("tower-body-err");
    assert_eq!(completed_attr(&run, "status").as_deref(), Some("failure"));
    assert_eq!(
        completed_attr(&run, "error_class").as_deref(),
        Some("QuotaExceeded")
    );
}

/// `PropagateLayer` judges the host the client will connect to: numeric IPv4 forms of a public
/// address get no baggage, the same forms of a private one do. Decided by the policy: the inner
/// service records the headers and connects nowhere.
#[tokio::test(flavor = "current_thread")]
async fn propagate_layer_judges_numeric_hosts_as_addresses() {
    use opentelemetry::Context;
    let _ = TestEnv::get();
    let client = ServiceBuilder::new()
        .layer(botanu_tower::PropagateLayer::new())
        .service(service_fn(|req: http::Request<()>| async move {
            Ok::<_, Infallible>(req.headers().contains_key("baggage"))
        }));
    let run = botanu_core::RunContext::new("Numeric Hosts", "e-1", "acme");
    let _inside = run.to_context(&Context::current()).attach();
    for (url, gets_baggage) in [
        ("http://134744072/v1/chat", false),
        ("http://0x08080808/v1/chat", false),
        ("http://010.010.010.010/v1/chat", false),
        ("http://8.8.8.8/v1/chat", false),
        ("http://2130706433:9/internal", true),
        ("http://0x7f000001:9/internal", true),
        ("http://billing/internal", true),
    ] {
        let req = http::Request::builder().uri(url).body(()).unwrap();
        let sent = client.clone().oneshot(req).await.unwrap();
        assert_eq!(sent, gets_baggage, "{url}");
    }
}
