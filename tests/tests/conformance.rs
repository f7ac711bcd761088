//! One conformance suite, run against both adapters (botanu-axum and botanu-actix) serving the
//! same routes: the same cases must give the same exported runs — attribute names and values,
//! statuses, events, enriched child spans — for ids, fallbacks, streaming, failure, panic,
//! disconnect, spoofing and malformed headers. Then an actix service and an axum service call
//! each other and continue one run chain.

use std::collections::BTreeMap;
use std::time::Duration;

use botanu_tests::env::{completed_attr, TestEnv};
use botanu_tests::http::{
    body, leave_before_response, leave_mid_stream, loopback_client, request, send, serve,
    ActixServer,
};
use botanu_tests::receiver::{ReceivedSpan, Val};
use opentelemetry::global;
use opentelemetry::trace::Tracer;

const WORKFLOW: &str = "Conformance";

// ---- the two apps -------------------------------------------------------------------------

fn work_span() {
    global::tracer("app").in_span("work", |_| {});
}

fn chunk_span(i: u32) {
    global::tracer("app").in_span(format!("chunk {i}"), |_| {});
}

/// The app's verdict: a 200 whose business result is a failure.
fn verdict_failure() {
    botanu_core::emit_outcome(botanu_core::Outcome::failure("no_answer").reason("kb empty"));
}

/// The app's verdict through `RunContext::complete`, with everything it can carry.
fn verdict_partial() {
    botanu_core::RunContext::current().unwrap().complete(
        botanu_core::Outcome::partial()
            .value("tickets_resolved", 0.5)
            .confidence(0.4)
            .reason("escalated")
            .metadata("tier", "gold"),
    );
}

mod axum_app {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::Router;
    use botanu_axum::{emit_outcome, extract, BotanuLayer, Outcome};

    async fn ticket() -> &'static str {
        work_span();
        emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
        "ok"
    }
    async fn fail() -> (http::StatusCode, &'static str) {
        (http::StatusCode::SERVICE_UNAVAILABLE, "down")
    }
    async fn boom() -> &'static str {
        panic!("handler exploded")
    }
    async fn verdict_failure() -> &'static str {
        super::verdict_failure();
        "no answer found"
    }
    async fn verdict_partial() -> &'static str {
        super::verdict_partial();
        "escalated"
    }
    async fn verdict_overridden() -> (http::StatusCode, &'static str) {
        emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
        (http::StatusCode::BAD_GATEWAY, "model down")
    }
    async fn rejected() -> Result<&'static str, (http::StatusCode, &'static str)> {
        Err((http::StatusCode::BAD_REQUEST, "bad ticket"))
    }
    async fn unavailable() -> Result<&'static str, (http::StatusCode, &'static str)> {
        Err((http::StatusCode::SERVICE_UNAVAILABLE, "model down"))
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "late"
    }
    async fn stream() -> Body {
        Body::from_stream(futures_util::stream::unfold(0u32, |i| async move {
            if i == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            chunk_span(i);
            Some((Ok::<_, std::io::Error>(format!("part{i};")), i + 1))
        }))
    }

    async fn slow_stream() -> Body {
        Body::from_stream(futures_util::stream::unfold(0u32, |i| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Some((Ok::<_, std::io::Error>(format!("chunk{i}")), i + 1))
        }))
    }

    pub fn app() -> Router {
        Router::new()
            .route("/tickets/{id}", post(ticket))
            .route("/slow-stream", get(slow_stream))
            .route("/fail", get(fail))
            .route("/boom", get(boom))
            .route("/rejected", get(rejected))
            .route("/verdict-failure", get(verdict_failure))
            .route("/verdict-partial", get(verdict_partial))
            .route("/verdict-overridden", get(verdict_overridden))
            .route("/unavailable", get(unavailable))
            .route("/slow", get(slow))
            .route("/stream", get(stream))
            .layer(
                BotanuLayer::workflow(WORKFLOW)
                    .event_id(extract::header("x-event"))
                    .customer_id(extract::header("x-customer-id"))
                    .tenant_id(extract::query("tenant")),
            )
    }
}

mod actix_app {
    use super::*;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use botanu_actix::{emit_outcome, extract, Botanu, Outcome};

    async fn ticket() -> &'static str {
        work_span();
        emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
        "ok"
    }
    async fn fail() -> HttpResponse {
        HttpResponse::ServiceUnavailable().body("down")
    }
    async fn boom() -> &'static str {
        panic!("handler exploded")
    }
    async fn verdict_failure() -> &'static str {
        super::verdict_failure();
        "no answer found"
    }
    async fn verdict_partial() -> &'static str {
        super::verdict_partial();
        "escalated"
    }
    async fn verdict_overridden() -> HttpResponse {
        emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
        HttpResponse::BadGateway().body("model down")
    }
    // Errors as actix handlers return them: actix answers with the response they describe.
    async fn rejected() -> actix_web::Result<&'static str> {
        Err(actix_web::error::ErrorBadRequest("bad ticket"))
    }
    async fn unavailable() -> actix_web::Result<&'static str> {
        Err(actix_web::error::ErrorServiceUnavailable("model down"))
    }
    async fn slow() -> &'static str {
        actix_web::rt::time::sleep(Duration::from_secs(3)).await;
        "late"
    }
    async fn stream() -> HttpResponse {
        HttpResponse::Ok().streaming(futures_util::stream::unfold(0u32, |i| async move {
            if i == 3 {
                return None;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            chunk_span(i);
            Some((
                Ok::<_, std::io::Error>(actix_web::web::Bytes::from(format!("part{i};"))),
                i + 1,
            ))
        }))
    }

    async fn slow_stream() -> HttpResponse {
        HttpResponse::Ok().streaming(futures_util::stream::unfold(0u32, |i| async move {
            if i > 0 {
                actix_web::rt::time::sleep(Duration::from_secs(3)).await;
            }
            Some((
                Ok::<_, std::io::Error>(actix_web::web::Bytes::from(format!("chunk{i}"))),
                i + 1,
            ))
        }))
    }

    pub fn start() -> ActixServer {
        ActixServer::start(|listener| {
            Ok(HttpServer::new(|| {
                App::new()
                    .wrap(
                        Botanu::workflow(WORKFLOW)
                            .event_id(extract::header("x-event"))
                            .customer_id(extract::header("x-customer-id"))
                            .tenant_id(extract::query("tenant")),
                    )
                    .route("/tickets/{id}", web::post().to(ticket))
                    .route("/fail", web::get().to(fail))
                    .route("/boom", web::get().to(boom))
                    .route("/rejected", web::get().to(rejected))
                    .route("/verdict-failure", web::get().to(verdict_failure))
                    .route("/verdict-partial", web::get().to(verdict_partial))
                    .route("/verdict-overridden", web::get().to(verdict_overridden))
                    .route("/unavailable", web::get().to(unavailable))
                    .route("/slow", web::get().to(slow))
                    .route("/stream", web::get().to(stream))
                    .route("/slow-stream", web::get().to(slow_stream))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run())
        })
    }
}

// ---- the suite --------------------------------------------------------------------------

/// What a case's run looks like, with ids that differ between runs removed.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    name: String,
    attributes: BTreeMap<String, Val>,
    span_status: i32,
    events: Vec<String>,
    completed: BTreeMap<String, String>,
    /// Names of the other spans of the run, each checked to carry the run's keys.
    children: Vec<String>,
}

/// Attributes whose values legitimately differ between two runs.
const VOLATILE: [&str; 5] = [
    "botanu.run_id",
    "botanu.root_run_id",
    "botanu.run.start_time",
    "botanu.run.duration_ms",
    "botanu.event_id",
];

fn observe(run: &ReceivedSpan, spans: &[ReceivedSpan], event: &str) -> Observed {
    assert_eq!(run.attr("botanu.event_id"), Some(event));
    let mut children: Vec<String> = spans
        .iter()
        .filter(|s| s.span_id != run.span_id)
        .map(|s| {
            for key in [
                "botanu.run_id",
                "botanu.workflow",
                "botanu.event_id",
                "botanu.customer_id",
            ] {
                assert_eq!(s.attr(key), run.attr(key), "{key} on child {}", s.name);
            }
            s.name.clone()
        })
        .collect();
    children.sort();
    let mut events: Vec<String> = run.events.iter().map(|e| e.name.clone()).collect();
    events.sort();
    let completed = run
        .events
        .iter()
        .find(|e| e.name == "botanu.run.completed")
        .map(|e| {
            e.attributes
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "run_id" | "duration_ms"))
                .map(|(k, v)| (k.clone(), format!("{v:?}")))
                .collect()
        })
        .unwrap_or_default();
    Observed {
        name: run.name.clone(),
        attributes: run
            .attributes
            .iter()
            .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        span_status: run.status.0,
        events,
        completed,
        children,
    }
}

/// Runs every case against the app at `addr`; returns what each case's run looked like.
async fn run_suite(label: &str, addr: std::net::SocketAddr) -> BTreeMap<&'static str, Observed> {
    let env = TestEnv::get();
    let mut client = loopback_client();
    let ev = |case: &str| format!("{label}-{case}");
    let get = |path: &str, event: &str| {
        request("GET", &format!("http://{addr}{path}")).header("x-event", event.to_owned())
    };

    // ids from every extractor kind
    let r = send(
        &mut client,
        body(
            request("POST", &format!("http://{addr}/tickets/7?tenant=t-1"))
                .header("x-event", ev("ids"))
                .header("x-customer-id", "acme"),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.headers.contains_key("x-botanu-run-id"));
    // fallback: the event id comes from x-request-id
    let r = send(
        &mut client,
        body(
            request("POST", &format!("http://{addr}/tickets/8"))
                .header("x-request-id", ev("fallback")),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // 5xx
    assert_eq!(
        send(&mut client, body(get("/fail", &ev("fail")), ""))
            .await
            .unwrap()
            .status,
        503
    );
    // the app's verdict on a 200, and a 502 that wins over an emitted success
    for (path, case, status) in [
        ("/verdict-failure", "verdict-failure", 200),
        ("/verdict-partial", "verdict-partial", 200),
        ("/verdict-overridden", "verdict-overridden", 502),
    ] {
        let r = send(&mut client, body(get(path, &ev(case)), ""))
            .await
            .unwrap();
        assert_eq!(r.status, status, "{label} {case}");
    }
    // handler errors, as each framework's handlers return them: a client error and a 503
    for (path, case, status) in [
        ("/rejected", "rejected", 400),
        ("/unavailable", "unavailable", 503),
    ] {
        let r = send(&mut client, body(get(path, &ev(case)), ""))
            .await
            .unwrap();
        assert_eq!(r.status, status, "{label} {case}");
    }
    // panic: the connection goes away, the server keeps serving
    let _ = send(&mut client, body(get("/boom", &ev("panic")), "")).await;
    // streaming
    let r = send(&mut client, body(get("/stream", &ev("stream")), ""))
        .await
        .unwrap();
    assert_eq!(r.body, "part0;part1;part2;");
    // spoofing
    send(
        &mut client,
        body(
            request("POST", &format!("http://{addr}/tickets/9"))
                .header("x-event", ev("spoof"))
                .header("x-customer-id", "alice")
                .header("baggage", "botanu.customer_id=victim,botanu.tenant_id=evil"),
            "",
        ),
    )
    .await
    .unwrap();
    // malformed headers
    let r = send(
        &mut client,
        body(
            request("POST", &format!("http://{addr}/tickets/10"))
                .header("x-event", ev("malformed"))
                .header("traceparent", "00-zz-yy-01")
                .header("baggage", format!("k={}", "x".repeat(9000)))
                .header("tracestate", "=,=,="),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // the client goes away while the handler runs
    leave_before_response(addr, "/slow", &ev("gone")).await;
    // the client goes away mid-stream, after the response head
    leave_mid_stream(addr, "/slow-stream", &ev("midstream")).await;
    // the server still serves
    let r = send(&mut client, body(get("/fail", &ev("after")), ""))
        .await
        .unwrap();
    assert_eq!(r.status, 503);

    let cases: [(&'static str, usize); 15] = [
        ("verdict-failure", 1),
        ("verdict-partial", 1),
        ("verdict-overridden", 1),
        ("ids", 2),
        ("fallback", 2),
        ("fail", 1),
        ("rejected", 1),
        ("unavailable", 1),
        ("panic", 1),
        ("stream", 4),
        ("spoof", 2),
        ("malformed", 2),
        ("gone", 1),
        ("midstream", 1),
        ("after", 1),
    ];
    let mut out = BTreeMap::new();
    for (case, n) in cases {
        let (run, spans) = env.run("botanu.run/", &ev(case), n);
        out.insert(case, observe(&run, &spans, &ev(case)));
    }
    out
}

fn check_expectations(label: &str, runs: &BTreeMap<&'static str, Observed>) {
    let status = |case: &str| {
        runs[case]
            .completed
            .get("status")
            .cloned()
            .unwrap_or_default()
    };
    let attr = |case: &str, key: &str| runs[case].attributes.get(key).cloned();
    let s = |v: &str| Some(Val::Str(v.to_owned()));
    let ctx = |case: &str| format!("{label} {case}: {:#?}", runs[case]);

    assert_eq!(runs["ids"].name, format!("botanu.run/{WORKFLOW}"));
    assert_eq!(status("ids"), "Str(\"success\")", "{}", ctx("ids"));
    assert_eq!(
        attr("ids", "botanu.customer_id"),
        s("acme"),
        "{}",
        ctx("ids")
    );
    assert_eq!(attr("ids", "botanu.tenant_id"), s("t-1"));
    assert_eq!(
        attr("ids", "http.route"),
        s("/tickets/{id}"),
        "{}",
        ctx("ids")
    );
    assert_eq!(attr("ids", "http.request.method"), s("POST"));
    assert_eq!(attr("ids", "url.path"), s("/tickets/7"));
    assert_eq!(
        attr("ids", "http.response.status_code"),
        Some(Val::Int(200))
    );
    assert_eq!(
        attr("ids", "botanu.outcome.value_type"),
        s("tickets_resolved")
    );
    assert_eq!(runs["ids"].children, ["work"]);
    assert_eq!(runs["ids"].span_status, 1);
    assert!(runs["ids"]
        .events
        .contains(&"botanu.run.started".to_owned()));

    assert_eq!(
        attr("fallback", "botanu.customer_id"),
        None,
        "customer left unset"
    );

    assert_eq!(status("fail"), "Str(\"failure\")");
    assert_eq!(attr("fail", "error.type"), s("503"));
    assert_eq!(
        attr("fail", "http.response.status_code"),
        Some(Val::Int(503))
    );
    assert_eq!(runs["fail"].span_status, 2);

    // The app's verdict decides a run whose work succeeded; nothing it set is lost.
    assert_eq!(
        status("verdict-failure"),
        "Str(\"failure\")",
        "{}",
        ctx("verdict-failure")
    );
    assert_eq!(attr("verdict-failure", "error.type"), s("no_answer"));
    assert_eq!(
        attr("verdict-failure", "botanu.outcome.error_type"),
        s("no_answer")
    );
    assert_eq!(
        attr("verdict-failure", "botanu.outcome.reason"),
        s("kb empty")
    );
    assert_eq!(runs["verdict-failure"].span_status, 2);
    assert_eq!(
        status("verdict-partial"),
        "Str(\"partial\")",
        "{}",
        ctx("verdict-partial")
    );
    assert_eq!(
        attr("verdict-partial", "botanu.outcome.reason_code"),
        s("escalated")
    );
    assert_eq!(
        attr("verdict-partial", "botanu.outcome.confidence"),
        Some(Val::Double(0.4))
    );
    assert_eq!(
        attr("verdict-partial", "botanu.outcome.metadata.tier"),
        s("gold")
    );
    assert_eq!(
        attr("verdict-partial", "botanu.outcome.value_amount"),
        Some(Val::Double(0.5))
    );
    assert_eq!(attr("verdict-partial", "error.type"), None);
    // The work itself failed: that wins over the emitted success; the value is kept.
    assert_eq!(status("verdict-overridden"), "Str(\"failure\")");
    assert_eq!(attr("verdict-overridden", "error.type"), s("502"));
    assert_eq!(
        attr("verdict-overridden", "botanu.outcome.value_type"),
        s("tickets_resolved")
    );

    // One rule for both frameworks: the response the client gets decides (4xx is the
    // client's error, not the run's; 5xx fails it with the status code as error.type).
    assert_eq!(
        status("rejected"),
        "Str(\"success\")",
        "{}",
        ctx("rejected")
    );
    assert_eq!(attr("rejected", "error.type"), None);
    assert_eq!(
        attr("rejected", "http.response.status_code"),
        Some(Val::Int(400))
    );
    assert_eq!(runs["rejected"].span_status, 1);
    assert_eq!(status("unavailable"), "Str(\"failure\")");
    assert_eq!(attr("unavailable", "error.type"), s("503"));
    assert_eq!(
        attr("unavailable", "http.response.status_code"),
        Some(Val::Int(503))
    );
    assert_eq!(runs["unavailable"].span_status, 2);

    assert_eq!(status("panic"), "Str(\"failure\")", "{}", ctx("panic"));
    // A panic is an exception (recorded as the reference SDK records a raised one); a 5xx
    // response is not.
    assert!(
        runs["panic"].events.contains(&"exception".to_owned()),
        "{}",
        ctx("panic")
    );
    assert!(!runs["unavailable"].events.contains(&"exception".to_owned()));
    assert_eq!(
        runs["panic"]
            .completed
            .get("error_class")
            .map(String::as_str),
        Some("Str(\"panic\")")
    );

    assert_eq!(status("stream"), "Str(\"success\")");
    assert_eq!(runs["stream"].children, ["chunk 0", "chunk 1", "chunk 2"]);

    assert_eq!(attr("spoof", "botanu.customer_id"), s("alice"));
    assert_eq!(status("malformed"), "Str(\"success\")");
    assert_eq!(
        status("midstream"),
        "Str(\"canceled\")",
        "{}",
        ctx("midstream")
    );
    assert_eq!(
        attr("midstream", "http.response.status_code"),
        Some(Val::Int(200))
    );
    if label == "axum" {
        // hyper drops the handler future when the client goes away.
        assert_eq!(status("gone"), "Str(\"canceled\")", "{}", ctx("gone"));
    }
    assert_eq!(status("after"), "Str(\"failure\")");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_actix_export_the_same_runs() {
    let axum_addr = serve(axum_app::app()).await;
    let actix = actix_app::start();
    let axum_runs = run_suite("axum", axum_addr).await;
    let actix_runs = run_suite("actix", actix.addr()).await;
    check_expectations("axum", &axum_runs);
    check_expectations("actix", &actix_runs);
    // The one documented difference: actix-web keeps running a handler whose client went away
    // before the response (its dispatcher has no cancellation), so that run ends with the
    // handler's own status; hyper drops the future and the run is canceled.
    assert_eq!(
        actix_runs["gone"]
            .completed
            .get("status")
            .map(String::as_str),
        Some("Str(\"success\")")
    );
    for (case, axum_run) in axum_runs.iter().filter(|(case, _)| **case != "gone") {
        assert_eq!(
            axum_run, &actix_runs[case],
            "case {case}: axum and actix runs differ"
        );
    }
    drop(actix);
}

/// An actix service and an axum service calling each other continue one run chain:
/// axum (A) → actix (B) → axum (C), through `PropagateLayer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_and_axum_continue_one_run_chain() {
    use actix_web::{web, App, HttpServer};
    use axum::routing::get;
    use axum::Router;
    use botanu_axum::PropagateLayer;
    use tower::ServiceBuilder;

    let env = TestEnv::get();
    // C: axum, end of the chain.
    let c = serve(
        Router::new()
            .route("/c", get(|| async { "c" }))
            .layer(botanu_axum::BotanuLayer::workflow("Chain C").trust_inbound(true)),
    )
    .await;
    // B: actix, calls C.
    let b = ActixServer::start(move |listener| {
        Ok(HttpServer::new(move || {
            App::new()
                .wrap(botanu_actix::Botanu::workflow("Chain B").trust_inbound(true))
                .route(
                    "/b",
                    web::get().to(move || async move {
                        let mut client = ServiceBuilder::new()
                            .layer(PropagateLayer::new())
                            .service(loopback_client());
                        let r = send(
                            &mut client,
                            body(request("GET", &format!("http://{c}/c")), ""),
                        )
                        .await;
                        r.map(|r| r.body).unwrap_or_default()
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let b_addr = b.addr();
    // A: axum, calls B.
    let a = serve(
        Router::new()
            .route(
                "/a/{id}",
                get(move || async move {
                    let mut client = ServiceBuilder::new()
                        .layer(PropagateLayer::new())
                        .service(loopback_client());
                    send(
                        &mut client,
                        body(request("GET", &format!("http://{b_addr}/b")), ""),
                    )
                    .await
                    .map(|r| r.body)
                    .unwrap_or_default()
                }),
            )
            .layer(
                botanu_axum::BotanuLayer::workflow("Chain A")
                    .event_id(botanu_axum::path_param("id"))
                    .customer_id(botanu_axum::extract::header("x-customer-id")),
            ),
    )
    .await;
    let mut client = loopback_client();
    let r = send(
        &mut client,
        body(
            request("GET", &format!("http://{a}/a/chain-xyz")).header("x-customer-id", "initech"),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.body, "c");
    let (run_a, _) = env.run("botanu.run/Chain A", "chain-xyz", 1);
    let (run_b, _) = env.run("botanu.run/Chain B", "chain-xyz", 1);
    let (run_c, _) = env.run("botanu.run/Chain C", "chain-xyz", 1);
    assert_eq!(
        run_b.attr("botanu.parent_run_id"),
        run_a.attr("botanu.run_id")
    );
    assert_eq!(
        run_c.attr("botanu.parent_run_id"),
        run_b.attr("botanu.run_id")
    );
    for run in [&run_b, &run_c] {
        assert_eq!(run.trace_id, run_a.trace_id);
        assert_eq!(run.attr("botanu.customer_id"), Some("initech"));
        assert_eq!(completed_attr(run, "status").as_deref(), Some("success"));
    }
    drop(b);
}

/// actix specifics: `match_info` on a resource-level middleware, the `Run` extractor, and
/// helpers from a task started with `botanu_core::spawn`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_resource_middleware_match_info_and_run_extractor() {
    use actix_web::{web, App, HttpServer};
    use botanu_actix::{extract, set_correlation, Botanu, Run};

    let env = TestEnv::get();
    let server = ActixServer::start(|listener| {
        Ok(HttpServer::new(|| {
            App::new().service(
                web::resource("/tickets/{id}")
                    .wrap(
                        Botanu::workflow("Actix Resource")
                            .event_id(extract::match_info("id"))
                            .customer_id(extract::header("x-customer-id")),
                    )
                    .route(web::get().to(|run: Run| async move {
                        botanu_core::spawn(async {
                            work_span();
                            set_correlation([("zendesk_ticket_id", "99")]);
                        })
                        .await
                        .unwrap();
                        run.0.run_id().to_owned()
                    })),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let mut client = loopback_client();
    let r = send(
        &mut client,
        body(
            request("GET", &format!("http://{}/tickets/act-5", server.addr()))
                .header("x-customer-id", "umbrella"),
            "",
        ),
    )
    .await
    .unwrap();
    let (run, spans) = env.run("botanu.run/Actix Resource", "act-5", 2);
    assert_eq!(run.attr("botanu.run_id"), Some(r.body.as_str()));
    assert_eq!(r.headers["x-botanu-run-id"].to_str().unwrap(), r.body);
    assert_eq!(run.attr("http.route"), Some("/tickets/{id}"));
    assert_eq!(run.attr("botanu.correlation.zendesk_ticket_id"), Some("99"));
    let work = spans.iter().find(|s| s.name == "work").unwrap();
    assert_eq!(work.attr("botanu.customer_id"), Some("umbrella"));
    drop(server);
}

/// Scopes with different workflows in one actix app, and reqwest propagation from an actix
/// handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_scopes_with_different_workflows() {
    use actix_web::{web, App, HttpServer};
    use botanu_actix::{extract, Botanu};

    let env = TestEnv::get();
    let echo = serve(axum::Router::new().route(
        "/echo",
        axum::routing::get(botanu_tests::http::echo_propagation),
    ))
    .await;
    let server = ActixServer::start(move |listener| {
        Ok(HttpServer::new(move || {
            App::new()
                .service(
                    web::scope("/support")
                        .wrap(
                            Botanu::workflow("Scope Support").event_id(extract::header("x-event")),
                        )
                        .route(
                            "/ask",
                            web::get().to(move || async move {
                                let client =
                                    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                                        .with(botanu_core::BotanuPropagation::new())
                                        .build();
                                client
                                    .get(format!("http://{echo}/echo"))
                                    .send()
                                    .await
                                    .unwrap()
                                    .text()
                                    .await
                                    .unwrap()
                            }),
                        ),
                )
                .service(
                    web::scope("/sales")
                        .wrap(Botanu::workflow("Scope Sales").event_id(extract::header("x-event")))
                        .route("/quote", web::get().to(|| async { "quote" })),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let mut client = loopback_client();
    let addr = server.addr();
    let support = send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/support/ask")).header("x-event", "scope-1"),
            "",
        ),
    )
    .await
    .unwrap();
    send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/sales/quote")).header("x-event", "scope-2"),
            "",
        ),
    )
    .await
    .unwrap();
    let (support_run, spans) = env.run("botanu.run/Scope Support", "scope-1", 2);
    let (sales_run, _) = env.run("botanu.run/Scope Sales", "scope-2", 1);
    assert_eq!(support_run.attr("http.route"), Some("/support/ask"));
    assert_eq!(sales_run.attr("http.route"), Some("/sales/quote"));
    // The reqwest call from the actix handler carried the run and recorded a client span in it.
    assert!(
        support.body.contains("botanu.event_id=scope-1"),
        "{}",
        support.body
    );
    assert!(spans.iter().any(|s| s.kind == 3 && s.name == "GET"));
    drop(server);
}

/// Runs only for real work, on both adapters: requests no route matched (fallback / default
/// service: `/wp-login.php`, `/.env` probes) and requests the app's skip predicate names
/// (health checks) are served normally, without a run; matched routes are runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_and_skipped_requests_are_not_runs() {
    use actix_web::{web, App, HttpServer};

    let env = TestEnv::get();
    const SKIP_WORKFLOW: &str = "Only Real Work";
    let axum_app = axum::Router::new()
        .route("/tickets/{id}", axum::routing::get(|| async { "ticket" }))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .layer(
            botanu_axum::BotanuLayer::workflow(SKIP_WORKFLOW)
                .event_id(botanu_axum::extract::query("e"))
                .skip(|req: &http::request::Parts| req.uri.path() == "/healthz"),
        );
    let axum_addr = serve(axum_app).await;
    let actix = ActixServer::start(|listener| {
        Ok(HttpServer::new(|| {
            App::new()
                .wrap(
                    botanu_actix::Botanu::workflow(SKIP_WORKFLOW)
                        .event_id(botanu_actix::extract::query("e"))
                        .skip(|req: &actix_web::HttpRequest| req.path() == "/healthz"),
                )
                .route("/tickets/{id}", web::get().to(|| async { "ticket" }))
                .route("/healthz", web::get().to(|| async { "ok" }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let mut client = loopback_client();
    for (label, addr) in [("axum", axum_addr), ("actix", actix.addr())] {
        for (path, status, body_text) in [
            ("/wp-login.php", 404, None),
            ("/.env", 404, None),
            ("/healthz", 200, Some("ok")),
        ] {
            let r = send(
                &mut client,
                body(request("GET", &format!("http://{addr}{path}")), ""),
            )
            .await
            .unwrap();
            assert_eq!(r.status, status, "{label} {path}");
            if let Some(text) = body_text {
                assert_eq!(r.body, text);
            }
            assert!(
                !r.headers.contains_key("x-botanu-run-id"),
                "{label} {path} is not a run"
            );
        }
        let event = format!("{label}-real");
        let r = send(
            &mut client,
            body(
                request("GET", &format!("http://{addr}/tickets/t?e={event}")),
                "",
            ),
        )
        .await
        .unwrap();
        assert!(r.headers.contains_key("x-botanu-run-id"), "{label}");
        env.run(&format!("botanu.run/{SKIP_WORKFLOW}"), &event, 1);
    }
    // The real runs arrived (above); nothing else of this workflow was exported.
    let _ = env.botanu.force_flush();
    let runs: Vec<String> = env
        .receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == format!("botanu.run/{SKIP_WORKFLOW}"))
        .map(|s| s.attr("url.path").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|p| p.starts_with("/tickets/")), "{runs:?}");
    drop(actix);
}

/// The host app never breaks: an extractor or skip predicate that panics is caught on both
/// adapters — the request is served, the run recorded without that id (or, for a panicking
/// skip predicate, served without a run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_callbacks_are_caught() {
    use actix_web::{web, App, HttpServer};

    let env = TestEnv::get();
    const PANICS: &str = "Panicking Extractor";
    let axum_app = axum::Router::new()
        .route("/t", axum::routing::get(|| async { "served" }))
        .route("/skip-panics", axum::routing::get(|| async { "served" }))
        .layer(
            botanu_axum::BotanuLayer::workflow(PANICS)
                .event_id(botanu_axum::extract::query("e"))
                .customer_id(|_: &http::request::Parts| -> Option<String> {
                    panic!("customer lookup failed")
                })
                .skip(|req: &http::request::Parts| {
                    assert!(req.uri.path() != "/skip-panics", "skip predicate failed");
                    false
                }),
        );
    let axum_addr = serve(axum_app).await;
    let actix = ActixServer::start(|listener| {
        Ok(HttpServer::new(|| {
            App::new()
                .wrap(
                    botanu_actix::Botanu::workflow(PANICS)
                        .event_id(botanu_actix::extract::query("e"))
                        .customer_id(|_: &actix_web::HttpRequest| -> Option<String> {
                            panic!("customer lookup failed")
                        })
                        .skip(|req: &actix_web::HttpRequest| {
                            assert!(req.path() != "/skip-panics", "skip predicate failed");
                            false
                        }),
                )
                .route("/t", web::get().to(|| async { "served" }))
                .route("/skip-panics", web::get().to(|| async { "served" }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let mut client = loopback_client();
    for (label, addr) in [("axum", axum_addr), ("actix", actix.addr())] {
        let event = format!("{label}-extractor-panics");
        let r = send(
            &mut client,
            body(
                request("GET", &format!("http://{addr}/t?e={event}"))
                    .header("baggage", "botanu.customer_id=victim"),
                "",
            ),
        )
        .await
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "served"), "{label}");
        let (run, _) = env.run(&format!("botanu.run/{PANICS}"), &event, 1);
        assert!(run.attr("botanu.customer_id").is_none(), "{label}");
        assert_eq!(completed_attr(&run, "status").as_deref(), Some("success"));

        let r = send(
            &mut client,
            body(request("GET", &format!("http://{addr}/skip-panics")), ""),
        )
        .await
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "served"), "{label}");
        assert!(!r.headers.contains_key("x-botanu-run-id"), "{label}");
    }
    drop(actix);
}

/// The business says the run failed, in a response header: a classifier of the app's own.
struct HeaderSaysFailed;

impl botanu_axum::classify::ClassifyResponse for HeaderSaysFailed {
    fn classify(
        &self,
        status: u16,
        headers: &dyn botanu_axum::classify::Extractor,
    ) -> botanu_axum::classify::ResponseClass {
        use botanu_axum::classify::{ResponseClass, StatusInRangeAsFailures};
        if headers.get("x-run-outcome") == Some("failed") {
            return ResponseClass::Failure("business_failure".into());
        }
        StatusInRangeAsFailures::new(400..=599).classify(status, headers)
    }
}

/// The response classifier is the app's to choose, and both adapters apply it the same way:
/// a 404 fails the run when 4xx count as failures, a response header read by the app's own
/// classifier fails a 200, a 204 stays a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classifier_decides_the_same_for_both_adapters() {
    use actix_web::{web, App, HttpResponse, HttpServer};

    let env = TestEnv::get();
    const CLASSIFIED: &str = "Classified";
    let axum_app = axum::Router::new()
        .route(
            "/missing",
            axum::routing::get(|| async { http::StatusCode::NOT_FOUND }),
        )
        .route(
            "/soft",
            axum::routing::get(|| async { ([("x-run-outcome", "failed")], "done, badly") }),
        )
        .route(
            "/empty",
            axum::routing::get(|| async { http::StatusCode::NO_CONTENT }),
        )
        .layer(
            botanu_axum::BotanuLayer::workflow(CLASSIFIED)
                .event_id(botanu_axum::extract::query("e"))
                .classify(HeaderSaysFailed),
        );
    let axum_addr = serve(axum_app).await;
    let actix = ActixServer::start(|listener| {
        Ok(HttpServer::new(|| {
            App::new()
                .wrap(
                    botanu_actix::Botanu::workflow(CLASSIFIED)
                        .event_id(botanu_actix::extract::query("e"))
                        .classify(HeaderSaysFailed),
                )
                .route(
                    "/missing",
                    web::get().to(|| async { HttpResponse::NotFound().finish() }),
                )
                .route(
                    "/soft",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header(("x-run-outcome", "failed"))
                            .body("done, badly")
                    }),
                )
                .route(
                    "/empty",
                    web::get().to(|| async { HttpResponse::NoContent().finish() }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let mut client = loopback_client();
    for (label, addr) in [("axum", axum_addr), ("actix", actix.addr())] {
        for (path, code, status, error_type) in [
            ("/missing", 404, "failure", Some("404")),
            ("/soft", 200, "failure", Some("business_failure")),
            ("/empty", 204, "success", None),
        ] {
            let event = format!("{label}-classified-{}", &path[1..]);
            let r = send(
                &mut client,
                body(
                    request("GET", &format!("http://{addr}{path}?e={event}")),
                    "",
                ),
            )
            .await
            .unwrap();
            assert_eq!(r.status, code, "{label} {path}");
            let (run, _) = env.run("botanu.run/Classified", &event, 1);
            assert_eq!(
                completed_attr(&run, "status").as_deref(),
                Some(status),
                "{label} {path}"
            );
            assert_eq!(run.attr("error.type"), error_type, "{label} {path}");
            assert_eq!(
                run.attributes.get("http.response.status_code"),
                Some(&Val::Int(i64::from(code))),
                "{label} {path}"
            );
        }
    }
    drop(actix);
}
