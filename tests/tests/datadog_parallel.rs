//! Beside Datadog's OpenTelemetry SDK (parallel mode; ARCHITECTURE.md, "Install modes"): an axum app traced by
//! `datadog_opentelemetry::tracing().init()` — handler spans from the global tracer, Datadog's
//! propagator, a reqwest call downstream — adopts botanu with `enable()`, `BotanuLayer` and
//! `BotanuPropagation`. The fake agent on 127.0.0.1 (msgpack payloads decoded) must receive
//! the same traces as without botanu: span names, resources, parent links, tags (no botanu
//! tag); the downstream service the same Datadog headers; and botanu's collector every run.
//!
//! Each variant runs in a child process (Datadog's init sets the global provider and
//! propagator once per process).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use botanu_axum::{path_param, BotanuLayer};
use botanu_core::{BotanuConfig, Mode};
use botanu_tests::child::{lines_with, run_child};
use botanu_tests::datadog_agent::{DdSpan, FakeAgent};
use botanu_tests::http::{serve, AppInjects};
use botanu_tests::receiver::Receiver;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use opentelemetry::Context;

const REQUESTS: usize = 60;

#[derive(Clone)]
struct AppState {
    client: reqwest_middleware::ClientWithMiddleware,
    downstream: std::net::SocketAddr,
}

async fn handle_ticket(axum::extract::State(app): axum::extract::State<AppState>) -> &'static str {
    let tracer = opentelemetry::global::tracer("support-desk");
    let cx = Context::current_with_span(tracer.start("handle_ticket"));
    async {
        tracer
            .start_with_context("db.query", &Context::current())
            .end();
        app.client
            .get(format!("http://{}/billing", app.downstream))
            .send()
            .await
            .expect("downstream");
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();
    "ok"
}

#[test]
#[ignore = "run by datadog_sees_the_same_traces_with_botanu in a child process"]
fn dd_child() {
    let Ok(variant) = std::env::var("DD_VARIANT") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(workload(variant == "botanu"));
}

async fn workload(with_botanu: bool) {
    let agent = FakeAgent::start().await;
    let botanus_collector = Receiver::start().unwrap();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<http::HeaderMap>>> = Default::default();
    let record = seen.clone();
    let downstream = serve(Router::new().route(
        "/billing",
        axum::routing::get(move |headers: http::HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(headers);
                "ok"
            }
        }),
    ))
    .await;

    // Datadog, configured for the fake agent only (set before any other thread reads the
    // environment): every trace kept, no telemetry, remote configuration or stats.
    for (k, v) in [
        ("DD_TRACE_AGENT_URL", agent.url()),
        ("DD_AGENT_HOST", "127.0.0.1".to_owned()),
        ("DD_DOGSTATSD_HOST", "127.0.0.1".to_owned()),
        ("DD_DOGSTATSD_PORT", agent.statsd_port().to_string()),
        ("DD_SERVICE", "support-desk".to_owned()),
        ("DD_TRACE_SAMPLE_RATE", "1.0".to_owned()),
        ("DD_TRACE_RATE_LIMIT", "100000".to_owned()),
        ("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false".to_owned()),
        ("DD_REMOTE_CONFIGURATION_ENABLED", "false".to_owned()),
        ("DD_TRACE_STATS_COMPUTATION_ENABLED", "false".to_owned()),
    ] {
        std::env::set_var(k, v);
    }
    let dd = datadog_opentelemetry::tracing().init();

    // botanu, as documented for a provider it cannot rebuild: enable() after it.
    let botanu = with_botanu.then(|| {
        botanu_core::enable_with(
            BotanuConfig::from_env()
                .with_endpoint(botanus_collector.endpoint())
                .with_schedule_delay(Duration::from_millis(50)),
        )
        .expect("botanu")
    });
    if let Some(b) = &botanu {
        assert_eq!(b.mode(), Mode::Parallel, "{}", b.describe());
    }

    let mut client =
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(AppInjects);
    if with_botanu {
        client = client.with(botanu_core::BotanuPropagation::new());
    }
    let mut app = Router::new()
        .route("/tickets/{id}", post(handle_ticket))
        .with_state(AppState {
            client: client.build(),
            downstream,
        });
    if with_botanu {
        app = app.layer(BotanuLayer::workflow("Customer Support").event_id(path_param("id")));
    }
    let addr = serve(app).await;
    let caller = reqwest::Client::new();
    for i in 0..REQUESTS {
        let r = caller
            .post(format!("http://{addr}/tickets/T-{i}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    if let Some(b) = &botanu {
        b.shutdown().unwrap();
    }
    dd.shutdown_with_timeout(Duration::from_secs(10)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while agent.spans().len() < 2 * REQUESTS && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let spans = agent.spans();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for line in describe(&spans) {
        *lines.entry(line).or_default() += 1;
    }
    for (line, n) in &lines {
        println!("DD\t{line}\t×{n}");
    }
    let names: BTreeMap<String, &str> = spans
        .iter()
        .map(|s| (s.span_id.to_string(), s.name.as_str()))
        .collect();
    let mut down: BTreeMap<String, usize> = BTreeMap::new();
    for headers in seen.lock().unwrap().iter() {
        let mut sent: Vec<&str> = headers
            .keys()
            .map(|k| k.as_str())
            .filter(|k| k.starts_with("x-datadog") || *k == "traceparent" || *k == "tracestate")
            .collect();
        sent.sort_unstable();
        let parent = headers
            .get("x-datadog-parent-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|id| names.get(id).copied())
            .unwrap_or("(not at the agent)");
        *down
            .entry(format!("{}\tparent {parent}", sent.join(",")))
            .or_default() += 1;
        if with_botanu {
            let baggage = headers
                .get("baggage")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                baggage.contains("botanu.run_id="),
                "botanu's baggage goes to the internal service too: {baggage:?}"
            );
        }
    }
    for (line, n) in &down {
        println!("DOWN\t{line}\t×{n}");
    }

    if with_botanu {
        let ours = botanus_collector.spans();
        let runs: Vec<_> = ours
            .iter()
            .filter(|s| s.name == "botanu.run/Customer Support")
            .collect();
        assert_eq!(runs.len(), REQUESTS, "botanu's collector gets every run");
        assert!(ours.iter().all(|s| s.attr("botanu.run_id").is_some()));
        // Datadog's spans belong to Datadog: none reaches botanu's collector.
        assert!(ours
            .iter()
            .all(|s| s.name != "handle_ticket" && s.name != "db.query"));
    }
}

/// One line per span the agent received: service, name, resource, where its parent is, the
/// tag keys (meta and metrics).
fn describe(spans: &[DdSpan]) -> Vec<String> {
    let ids: BTreeMap<(u64, u64), &DdSpan> =
        spans.iter().map(|s| ((s.trace_id, s.span_id), s)).collect();
    spans
        .iter()
        .map(|s| {
            let parent = if s.parent_id == 0 {
                "root".to_owned()
            } else if let Some(p) = ids.get(&(s.trace_id, s.parent_id)) {
                format!("child of {}", p.name)
            } else {
                "DANGLING parent".to_owned()
            };
            let meta: Vec<&str> = s.meta.keys().map(String::as_str).collect();
            let metrics: Vec<&str> = s.metrics.keys().map(String::as_str).collect();
            format!(
                "{}\t{}\t{}\t{parent}\tmeta {}\tmetrics {}",
                s.service,
                s.name,
                s.resource,
                meta.join(","),
                metrics.join(",")
            )
        })
        .collect()
}

#[test]
fn datadog_sees_the_same_traces_with_botanu() {
    let (without, with) = std::thread::scope(|s| {
        let without = s.spawn(|| run_child("dd_child", &[("DD_VARIANT", "plain".into())]));
        let with = s.spawn(|| run_child("dd_child", &[("DD_VARIANT", "botanu".into())]));
        (without.join().unwrap(), with.join().unwrap())
    });
    let (dd_without, dd_with) = (lines_with(&without, "DD\t"), lines_with(&with, "DD\t"));
    let total = |lines: &std::collections::BTreeSet<String>| -> usize {
        lines
            .iter()
            .map(|l| l.rsplit_once('×').unwrap().1.parse::<usize>().unwrap())
            .sum()
    };
    assert_eq!(total(&dd_without), 2 * REQUESTS, "{dd_without:#?}");
    assert!(
        dd_without.iter().all(|l| !l.contains("DANGLING")),
        "{dd_without:#?}"
    );
    assert_eq!(
        dd_with, dd_without,
        "Datadog's agent gets the same traces with botanu"
    );
    assert!(dd_with.iter().all(|l| !l.contains("botanu")));
    assert_eq!(
        lines_with(&with, "DOWN\t"),
        lines_with(&without, "DOWN\t"),
        "the downstream service gets the same Datadog headers"
    );
}
