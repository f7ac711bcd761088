//! Every documented install order works: building a router with the layer has no side
//! effect, so an app may install botanu (`Botanu::builder()`, `enable_with`) before or after
//! building its router; with no install at all, the first request installs botanu from the
//! environment. Each order runs in a process of its own (one global install per process).

use std::time::Duration;

use axum::Router;
use botanu_axum::{extract, BotanuLayer};
use botanu_core::{Botanu, BotanuConfig, Mode};
use botanu_tests::child::run_child;
use botanu_tests::receiver::Receiver;
use botanu_tests::{attr_str, CollectAll};
use opentelemetry::global;
use opentelemetry::trace::Tracer;
use tower::ServiceExt;

fn router() -> Router {
    Router::new()
        .route(
            "/tickets/{id}",
            axum::routing::get(|| async {
                global::tracer("app").in_span("work", |_| {});
                "ok"
            }),
        )
        .layer(BotanuLayer::workflow("Install Order").event_id(extract::header("x-event")))
}

/// Serves one request with event id `event` through `app`; returns the run id header.
fn serve_one(app: Router, event: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(
            app.oneshot(
                http::Request::builder()
                    .uri("/tickets/1")
                    .header("x-event", event)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            ),
        )
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("x-botanu-run-id")
        .expect("the request was a run")
        .to_str()
        .unwrap()
        .to_owned()
}

fn config(receiver: &Receiver) -> BotanuConfig {
    BotanuConfig::default()
        .with_endpoint(receiver.endpoint())
        .with_service_name("install-order")
        .with_schedule_delay(Duration::from_millis(20))
}

/// The run span of `event` as `receiver` got it, with its resource's service name.
fn exported_run(receiver: &Receiver, event: &str) -> (String, Option<String>) {
    let found = |spans: &[botanu_tests::receiver::ReceivedSpan]| {
        spans
            .iter()
            .find(|s| {
                s.name == "botanu.run/Install Order" && s.attr("botanu.event_id") == Some(event)
            })
            .map(|s| {
                (
                    s.attr("botanu.run_id").unwrap_or_default().to_owned(),
                    s.resource_attr("service.name").map(str::to_owned),
                )
            })
    };
    assert!(
        receiver.wait_for(Duration::from_secs(10), |spans| found(spans).is_some()),
        "the run of {event} reached botanu's collector"
    );
    found(&receiver.spans()).unwrap()
}

#[test]
#[ignore = "a child process of the tests below"]
fn scenario() {
    let receiver = Receiver::start().unwrap();
    match std::env::var("SCENARIO").unwrap().as_str() {
        // The app's own pipeline installed after the router is built: migrated mode, botanu
        // sees its run, the app's processor sees exactly its own span.
        "builder_after_router" => {
            let app = router();
            assert!(
                Botanu::get().is_none(),
                "building the router installed nothing"
            );
            let theirs = CollectAll::new();
            let botanu = Botanu::builder()
                .with_config(config(&receiver))
                .with_span_processor(theirs.clone())
                .install()
                .expect("installing after building the router works");
            assert_eq!(botanu.mode(), Mode::Migrated);
            let run_id = serve_one(app, "order-builder");
            assert_eq!(exported_run(&receiver, "order-builder").0, run_id);
            botanu.force_flush().unwrap();
            let spans = theirs.spans();
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
            assert_eq!(
                names,
                ["work"],
                "the app's processor sees its own spans only"
            );
            assert_eq!(attr_str(&spans[0], "botanu.run_id"), None);
        }
        // `enable_with` after the router: the app's configuration, not the environment's.
        "enable_with_after_router" => {
            let app = router();
            let botanu = botanu_core::enable_with(config(&receiver)).unwrap();
            assert_eq!(botanu.mode(), Mode::Greenfield);
            assert_eq!(botanu.config().service_name(), Some("install-order"));
            let run_id = serve_one(app, "order-enable");
            let (exported, service) = exported_run(&receiver, "order-enable");
            assert_eq!(exported, run_id);
            assert_eq!(service.as_deref(), Some("install-order"));
        }
        // Nothing installed: the first request installs botanu from the environment; an
        // install after serving began is refused with a clear error.
        "first_request_installs" => {
            let app = router();
            assert!(Botanu::get().is_none());
            std::env::set_var("BOTANU_COLLECTOR_ENDPOINT", receiver.endpoint());
            std::env::set_var("OTEL_SERVICE_NAME", "from-env");
            std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "20");
            let run_id = serve_one(app, "order-env");
            let botanu = Botanu::get().expect("the first request installed botanu");
            assert_eq!(botanu.mode(), Mode::Greenfield);
            let (exported, service) = exported_run(&receiver, "order-env");
            assert_eq!(exported, run_id);
            assert_eq!(service.as_deref(), Some("from-env"));
            assert_eq!(
                Botanu::builder().install().unwrap_err(),
                botanu_core::Error::AlreadyInstalled
            );
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn botanu_builder_after_building_the_router() {
    run_child("scenario", &[("SCENARIO", "builder_after_router".into())]);
}

#[test]
fn enable_with_after_building_the_router() {
    run_child(
        "scenario",
        &[("SCENARIO", "enable_with_after_router".into())],
    );
}

#[test]
fn the_first_request_installs_from_the_environment() {
    run_child("scenario", &[("SCENARIO", "first_request_installs".into())]);
}
