//! Outbound propagation with reqwest (`BotanuPropagation`) against loopback servers, and runs
//! across spawned tasks. Host names are mapped to 127.0.0.1 with reqwest's `resolve`, so a
//! "public API" name and an internal name both reach local test servers.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{BotanuPropagation, RunContext, RunStatus};
use botanu_tests::env::TestEnv;
use botanu_tests::http::{echo_propagation, serve};
use botanu_tests::receiver::Val;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;

async fn echo_server() -> SocketAddr {
    serve(Router::new().route("/echo", get(echo_propagation)).route(
        "/down",
        get(|| async { (http::StatusCode::BAD_GATEWAY, "down") }),
    ))
    .await
}

fn client(
    addr: SocketAddr,
    propagation: BotanuPropagation,
) -> reqwest_middleware::ClientWithMiddleware {
    let inner = reqwest::Client::builder()
        .resolve("billing.svc", addr)
        .resolve("api.openai.com", addr)
        .build()
        .unwrap();
    reqwest_middleware::ClientBuilder::new(inner)
        .with(propagation)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_only_to_allowed_hosts_and_client_spans_in_the_run() {
    let env = TestEnv::get();
    let addr = echo_server().await;
    let port = addr.port();
    let client = client(addr, BotanuPropagation::new());

    let active = RunSpec::new("Outbound")
        .event_id(Some("out-1".into()))
        .customer_id(Some("acme".into()))
        .start(&Context::new());
    let run_id = active.run().run_id().to_owned();
    let trace_id = active
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string();
    let cx = active.context().clone();
    let (internal, public, down) = async {
        let internal = client
            .get(format!("http://billing.svc:{port}/echo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let public = client
            .get(format!(
                "http://api.openai.com:{port}/echo?api_key=sk-secret"
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let down = client
            .get(format!("http://billing.svc:{port}/down"))
            .send()
            .await
            .unwrap()
            .status();
        (internal, public, down)
    }
    .with_context(cx)
    .await;
    active.finish(RunEnd::new(RunStatus::Success));

    let (tp, baggage) = internal.split_once('|').unwrap();
    assert_eq!(tp.split('-').nth(1), Some(trace_id.as_str()));
    let decoded = botanu_core::propagation::decode_header(baggage);
    assert_eq!(
        decoded.get("botanu.run_id").map(|v| v.as_str()),
        Some(run_id.as_str())
    );
    assert_eq!(
        decoded.get("botanu.customer_id").map(|v| v.as_str()),
        Some("acme")
    );
    assert_eq!(
        decoded.get("botanu.event_id").map(|v| v.as_str()),
        Some("out-1")
    );
    assert_eq!(
        decoded.get("botanu.workflow").map(|v| v.as_str()),
        Some("Outbound")
    );

    let (tp, baggage) = public.split_once('|').unwrap();
    assert_eq!(
        tp.split('-').nth(1),
        Some(trace_id.as_str()),
        "traceparent everywhere"
    );
    assert_eq!(baggage, "", "no baggage to a public API");
    assert_eq!(down.as_u16(), 502);

    // Client spans: in the run, enriched, with redacted URLs and statuses.
    let (_, spans) = env.run("botanu.run/Outbound", "out-1", 4);
    let clients: Vec<_> = spans.iter().filter(|s| s.kind == 3).collect();
    assert_eq!(clients.len(), 3);
    for s in &clients {
        assert_eq!(s.name, "GET");
        assert_eq!(s.attr("botanu.run_id"), Some(run_id.as_str()));
        assert_eq!(s.attr("botanu.customer_id"), Some("acme"));
        assert_eq!(
            s.attributes.get("server.port"),
            Some(&Val::Int(i64::from(port)))
        );
    }
    let public_span = clients
        .iter()
        .find(|s| s.attr("server.address") == Some("api.openai.com"))
        .unwrap();
    assert_eq!(
        public_span.attr("url.full"),
        Some(format!("http://api.openai.com:{port}/echo?api_key=REDACTED").as_str())
    );
    assert_eq!(
        public_span.attributes.get("http.response.status_code"),
        Some(&Val::Int(200))
    );
    let down_span = clients
        .iter()
        .find(|s| s.attr("url.full").is_some_and(|u| u.ends_with("/down")))
        .unwrap();
    assert_eq!(down_span.attr("error.type"), Some("502"));
    assert_eq!(down_span.status.0, 2);
    // The traceparent sent downstream names the client span as parent.
    assert!(internal.contains(&clients[0].trace_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_are_recorded_and_client_spans_can_be_off() {
    let env = TestEnv::get();
    let addr = echo_server().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let with_spans = client(addr, BotanuPropagation::new());
    let without = client(addr, BotanuPropagation::new().with_client_spans(false));
    let active = RunSpec::new("Outbound errors")
        .event_id(Some("out-2".into()))
        .start(&Context::new());
    let cx = active.context().clone();
    let echoed = async {
        assert!(with_spans
            .get(format!("http://127.0.0.1:{dead}/nothing"))
            .send()
            .await
            .is_err());
        without
            .get(format!("http://billing.svc:{}/echo", addr.port()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    .with_context(cx)
    .await;
    active.finish(RunEnd::new(RunStatus::Success));
    assert!(
        echoed.contains("botanu.event_id=out-2"),
        "propagation without a span: {echoed}"
    );
    let (_, spans) = env.run("botanu.run/Outbound errors", "out-2", 2);
    let clients: Vec<_> = spans.iter().filter(|s| s.kind == 3).collect();
    assert_eq!(clients.len(), 1, "only the client with spans recorded one");
    assert_eq!(clients[0].attr("error.type"), Some("connect"));
    assert_eq!(clients[0].status.0, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_work_keeps_the_run_only_through_the_helpers() {
    let run = RunContext::new("Spawn", "spawn-1", "acme");
    let cx = run.to_context(&Context::new());
    let (plain, helper, blocking, bound) = async {
        let plain = tokio::spawn(async { RunContext::current().map(|r| r.run_id().to_owned()) });
        let helper =
            botanu_core::spawn(async { RunContext::current().map(|r| r.run_id().to_owned()) });
        let blocking =
            botanu_core::spawn_blocking(|| RunContext::current().map(|r| r.run_id().to_owned()));
        use botanu_core::InCurrentRun;
        let bound = tokio::spawn(
            async { RunContext::current().map(|r| r.run_id().to_owned()) }.in_current_run(),
        );
        (
            plain.await.unwrap(),
            helper.await.unwrap(),
            blocking.await.unwrap(),
            bound.await.unwrap(),
        )
    }
    .with_context(cx)
    .await;
    assert_eq!(plain, None, "plain tokio::spawn loses the run");
    assert_eq!(helper.as_deref(), Some(run.run_id()));
    assert_eq!(blocking.as_deref(), Some(run.run_id()));
    assert_eq!(bound.as_deref(), Some(run.run_id()));
}
