//! botanu-axum end to end, over real HTTP on 127.0.0.1, with spans checked at the in-repo
//! OTLP receiver: one run per request with ids from every extractor kind, per-route workflows,
//! enrichment of every span created in the handler (API, `tracing`, spawned task, outbound
//! call), streaming, failure / panic / disconnect statuses, two services continuing one run
//! chain, the host policy, spoofing, and hostile headers.

use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use botanu_axum::{
    emit_outcome, extract, path_param, set_business_context, set_correlation, BotanuLayer,
    BusinessContext, Outcome, PropagateLayer, Run,
};
use botanu_tests::env::{completed_attr, TestEnv};
use botanu_tests::http::{
    body, echo_propagation, leave_before_response, leave_mid_stream, loopback_client, request,
    send, serve,
};
use botanu_tests::receiver::{ReceivedSpan, Val};
use opentelemetry::global;
use opentelemetry::trace::{Tracer, TracerProvider};
use tower::ServiceBuilder;
use tracing_subscriber::layer::SubscriberExt;

fn env() -> &'static TestEnv {
    TestEnv::get_or_init(|botanu| {
        let tracer = botanu.tracer_provider().tracer("tracing");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    })
}

/// Waits until the run span of the run with `event_id` (and `n` spans of that run) arrived.
fn run_spans(event_id: &str, n: usize) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    env().run("botanu.run/", event_id, n)
}

/// [`run_spans`] for the run whose span name starts with `name`.
fn named_run_spans(name: &str, event_id: &str, n: usize) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    env().run(name, event_id, n)
}

fn status_of(run: &ReceivedSpan) -> String {
    completed_attr(run, "status").unwrap()
}

#[tracing_attributes::instrument]
async fn retrieve_documents(query: &str) -> usize {
    tracing::info!("retrieving");
    query.len()
}

async fn ticket(Run(run): Run) -> impl IntoResponse {
    global::tracer("app").in_span("chat gpt-4o", |_| {});
    retrieve_documents("refund policy").await;
    let spawned = botanu_core::spawn(async {
        global::tracer("app").in_span("background summary", |_| {});
        // Helpers work from a task started with the spawn helper too.
        set_correlation([("jira_issue", "SUP-1")]);
    });
    spawned.await.unwrap();
    emit_outcome(Outcome::success().value("tickets_resolved", 1));
    set_business_context(BusinessContext::new().team("support").region("eu"));
    set_correlation([("zendesk_ticket_id", 4711)]);
    run.run_id().to_owned()
}

fn support_app() -> Router {
    Router::new().route("/tickets/{id}", post(ticket)).layer(
        BotanuLayer::workflow("Support E2E")
            .event_id(path_param("id"))
            .customer_id(extract::header("x-customer-id"))
            .tenant_id(extract::query("tenant")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_per_request_with_extracted_ids_and_enriched_spans() {
    let _ = env();
    let addr = serve(support_app()).await;
    let mut client = loopback_client();
    let reply = send(
        &mut client,
        body(
            request("POST", &format!("http://{addr}/tickets/e2e-42?tenant=t-9"))
                .header("x-customer-id", "acme"),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    let run_id = reply.headers["x-botanu-run-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(reply.body, run_id, "the Run extractor sees the same run");

    // run span + API span + tracing span + spawned task's span
    let (run, spans) = run_spans("e2e-42", 4);
    assert_eq!(run.name, "botanu.run/Support E2E");
    assert_eq!(run.kind, 2, "server");
    assert_eq!(run.attr("botanu.run_id"), Some(run_id.as_str()));
    assert_eq!(run.attr("botanu.customer_id"), Some("acme"));
    assert_eq!(run.attr("botanu.tenant_id"), Some("t-9"));
    assert_eq!(run.attr("botanu.workflow"), Some("Support E2E"));
    assert_eq!(run.attr("http.request.method"), Some("POST"));
    assert_eq!(run.attr("http.route"), Some("/tickets/{id}"));
    assert_eq!(run.attr("url.path"), Some("/tickets/e2e-42"));
    assert_eq!(
        run.attributes.get("http.response.status_code"),
        Some(&Val::Int(200))
    );
    assert!(uuid::Uuid::parse_str(&run_id).unwrap().get_version_num() == 7);
    assert_eq!(status_of(&run), "success");
    assert_eq!(run.status.0, 1, "span status ok");
    assert!(run.events.iter().any(|e| e.name == "botanu.run.started"));
    // Helpers recorded on the run span.
    assert_eq!(
        run.attr("botanu.outcome.value_type"),
        Some("tickets_resolved")
    );
    assert_eq!(
        run.attributes.get("botanu.outcome.value_amount"),
        Some(&Val::Int(1)),
        "a count stays an int on the wire"
    );
    assert_eq!(run.attr("botanu.team"), Some("support"));
    assert_eq!(run.attr("botanu.region"), Some("eu"));
    assert_eq!(
        run.attr("botanu.correlation.zendesk_ticket_id"),
        Some("4711")
    );
    assert_eq!(run.attr("botanu.correlation.jira_issue"), Some("SUP-1"));
    assert!(run
        .events
        .iter()
        .any(|e| e.name == "botanu.outcome_emitted"));
    assert_eq!(
        completed_attr(&run, "value_type").as_deref(),
        Some("tickets_resolved")
    );
    assert!(run.attributes.contains_key("botanu.run.duration_ms"));

    // Every span created in the handler carries the run.
    for name in ["chat gpt-4o", "retrieve_documents", "background summary"] {
        let s = spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "span {name} missing: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
        assert_eq!(s.attr("botanu.run_id"), Some(run_id.as_str()), "{name}");
        assert_eq!(s.attr("botanu.workflow"), Some("Support E2E"), "{name}");
        assert_eq!(s.attr("botanu.event_id"), Some("e2e-42"), "{name}");
        assert_eq!(s.attr("botanu.customer_id"), Some("acme"), "{name}");
        assert_eq!(s.trace_id, run.trace_id, "{name} in the run's trace");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_route_workflows_fallback_ids_and_no_invented_customer() {
    let _ = env();
    let app = Router::new()
        .route(
            "/a",
            get(|| async { "a" }).layer(BotanuLayer::workflow("Route A")),
        )
        .route(
            "/b/{x}",
            get(|| async { "b" }).layer(BotanuLayer::workflow("Route B").run_id_header(false)),
        );
    let addr = serve(app).await;
    let mut client = loopback_client();
    let a = send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/a")).header("x-request-id", "req-route-a"),
            "",
        ),
    )
    .await
    .unwrap();
    let b = send(
        &mut client,
        body(request("GET", &format!("http://{addr}/b/1")), ""),
    )
    .await
    .unwrap();
    assert!(a.headers.contains_key("x-botanu-run-id"));
    assert!(!b.headers.contains_key("x-botanu-run-id"));

    let (run_a, _) = run_spans("req-route-a", 1);
    assert_eq!(run_a.name, "botanu.run/Route A");
    assert_eq!(run_a.attr("http.route"), Some("/a"));
    assert!(
        run_a.attr("botanu.customer_id").is_none(),
        "customer left unset"
    );
    // No extractor, no x-request-id: the event id is the run id.
    let env = env();
    assert!(env.receiver.wait_for(Duration::from_secs(10), |spans| spans
        .iter()
        .any(|s| s.name == "botanu.run/Route B")));
    let run_b = env
        .receiver
        .spans()
        .into_iter()
        .find(|s| s.name == "botanu.run/Route B")
        .unwrap();
    assert_eq!(run_b.attr("botanu.event_id"), run_b.attr("botanu.run_id"));
    assert_eq!(run_b.attr("http.route"), Some("/b/{x}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_response_ends_the_run_after_the_last_chunk() {
    let _ = env();
    async fn stream() -> Body {
        let chunks = futures_util::stream::unfold(0u32, |i| async move {
            if i == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            // A span created mid-stream, while the body is polled.
            global::tracer("app").in_span(format!("chunk {i}"), |_| {});
            Some((Ok::<_, std::io::Error>(format!("part{i};")), i + 1))
        });
        Body::from_stream(chunks)
    }
    let app = Router::new()
        .route("/stream", get(stream))
        .layer(BotanuLayer::workflow("Streaming").event_id(extract::query("e")));
    let addr = serve(app).await;
    let mut client = loopback_client();
    let started = std::time::Instant::now();
    let reply = send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/stream?e=stream-1")),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(reply.body, "part0;part1;part2;");
    assert!(started.elapsed() >= Duration::from_millis(180));
    let (run, spans) = run_spans("stream-1", 4);
    assert_eq!(status_of(&run), "success");
    for i in 0..3 {
        let chunk = spans
            .iter()
            .find(|s| s.name == format!("chunk {i}"))
            .unwrap();
        assert_eq!(chunk.attr("botanu.event_id"), Some("stream-1"));
    }
    let duration = match run.attributes["botanu.run.duration_ms"] {
        Val::Double(d) => d,
        ref other => panic!("{other:?}"),
    };
    assert!(
        duration >= 170.0,
        "the run lasted until the last chunk: {duration} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_panic_and_disconnect_statuses_and_the_server_keeps_serving() {
    let _ = env();
    async fn fail() -> impl IntoResponse {
        (http::StatusCode::SERVICE_UNAVAILABLE, "down")
    }
    async fn boom() -> &'static str {
        panic!("handler exploded")
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "late"
    }
    async fn slow_stream() -> Body {
        let chunks = futures_util::stream::unfold(0u32, |i| async move {
            tokio::time::sleep(Duration::from_millis(if i == 0 { 0 } else { 3000 })).await;
            Some((Ok::<_, std::io::Error>(format!("chunk{i}")), i + 1))
        });
        Body::from_stream(chunks)
    }
    async fn ok() -> &'static str {
        "ok"
    }
    let app = Router::new()
        .route("/fail", get(fail))
        .route("/boom", get(boom))
        .route("/slow", get(slow))
        .route("/slow-stream", get(slow_stream))
        .route("/ok", get(ok))
        .layer(BotanuLayer::workflow("Statuses").event_id(extract::header("x-event")));
    let addr = serve(app).await;
    let mut client = loopback_client();
    let get_with = |path: &str, event: &str| {
        body(
            request("GET", &format!("http://{addr}{path}")).header("x-event", event),
            "",
        )
    };

    let reply = send(&mut client, get_with("/fail", "status-fail"))
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    let (run, _) = run_spans("status-fail", 1);
    assert_eq!(status_of(&run), "failure");
    assert_eq!(run.attr("error.type"), Some("503"));
    assert_eq!(run.status.0, 2, "span status error");
    assert_eq!(
        run.attributes.get("http.response.status_code"),
        Some(&Val::Int(503))
    );

    // A panic: the connection is dropped (the panic propagates), the run is a failure.
    assert!(send(&mut client, get_with("/boom", "status-panic"))
        .await
        .is_err());
    let (run, _) = run_spans("status-panic", 1);
    assert_eq!(status_of(&run), "failure");
    assert_eq!(
        completed_attr(&run, "error_class").as_deref(),
        Some("panic")
    );
    assert!(
        run.status.1.contains("handler exploded"),
        "{:?}",
        run.status
    );

    // The client goes away while the handler runs: canceled.
    leave_before_response(addr, "/slow", "status-gone").await;
    let (run, _) = run_spans("status-gone", 1);
    assert_eq!(status_of(&run), "canceled");

    // The client goes away mid-stream: canceled, with the status already sent.
    leave_mid_stream(addr, "/slow-stream", "status-midstream").await;
    let (run, _) = run_spans("status-midstream", 1);
    assert_eq!(status_of(&run), "canceled");
    assert_eq!(
        run.attributes.get("http.response.status_code"),
        Some(&Val::Int(200))
    );

    // The server keeps serving.
    let reply = send(&mut client, get_with("/ok", "status-ok"))
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let (run, _) = run_spans("status-ok", 1);
    assert_eq!(status_of(&run), "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_continue_one_run_chain_and_the_host_policy_holds() {
    let _ = env();
    // Service B: an internal service with no extractors; it echoes what it received.
    let b = serve(
        Router::new()
            .route("/internal", get(echo_propagation))
            // Internal: trusted to say whose work this is.
            .layer(BotanuLayer::workflow("Service B").trust_inbound(true)),
    )
    .await;
    // A plain echo with no botanu at all, reached under a public-API name.
    let public = serve(Router::new().route("/v1/chat", get(echo_propagation))).await;

    let app = Router::new()
        .route(
            "/tickets/{id}",
            get(move || async move {
                let mut client = ServiceBuilder::new()
                    .layer(PropagateLayer::new())
                    .service(loopback_client());
                let internal = send(
                    &mut client,
                    body(
                        request("GET", &format!("http://billing.svc:{}/internal", b.port())),
                        "",
                    ),
                )
                .await
                .unwrap();
                let external = send(
                    &mut client,
                    body(
                        request(
                            "GET",
                            &format!("http://api.openai.com:{}/v1/chat", public.port()),
                        ),
                        "",
                    ),
                )
                .await
                .unwrap();
                format!("{}\n{}", internal.body, external.body)
            }),
        )
        .layer(
            BotanuLayer::workflow("Service A")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id")),
        );
    let a = serve(app).await;
    let mut client = loopback_client();
    let reply = send(
        &mut client,
        body(
            request("GET", &format!("http://{a}/tickets/chain-7"))
                .header("x-customer-id", "globex"),
            "",
        ),
    )
    .await
    .unwrap();
    let (internal, external) = reply.body.split_once('\n').unwrap();
    let (tp_internal, baggage_internal) = internal.split_once('|').unwrap();
    let (tp_external, baggage_external) = external.split_once('|').unwrap();
    assert!(
        baggage_internal.contains("botanu.customer_id=globex"),
        "{baggage_internal}"
    );
    assert!(!tp_external.is_empty(), "traceparent goes everywhere");
    assert_eq!(baggage_external, "", "no baggage to a public API");
    assert_eq!(tp_internal.split('-').nth(1), tp_external.split('-').nth(1));

    let (run_a, _) = named_run_spans("botanu.run/Service A", "chain-7", 1);
    // B's run: same trace, parent = A's run, event and customer inherited.
    let (run_b, _) = named_run_spans("botanu.run/Service B", "chain-7", 1);
    assert_eq!(run_b.trace_id, run_a.trace_id);
    assert_eq!(
        run_b.attr("botanu.parent_run_id"),
        run_a.attr("botanu.run_id")
    );
    assert_ne!(run_b.attr("botanu.run_id"), run_a.attr("botanu.run_id"));
    assert_eq!(run_b.attr("botanu.customer_id"), Some("globex"));
    assert_eq!(tp_internal.split('-').nth(1), Some(run_a.trace_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracted_customer_wins_over_inbound_baggage() {
    let _ = env();
    let app = Router::new()
        .route(
            "/tickets/{id}",
            get(|| async {
                global::tracer("app").in_span("llm", |_| {});
                "ok"
            }),
        )
        .layer(
            BotanuLayer::workflow("Spoofing")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id")),
        );
    let addr = serve(app).await;
    let mut client = loopback_client();
    send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/tickets/spoof-1"))
                .header("x-customer-id", "alice")
                .header("baggage", "botanu.customer_id=victim,botanu.event_id=other"),
            "",
        ),
    )
    .await
    .unwrap();
    let (run, spans) = run_spans("spoof-1", 2);
    assert_eq!(run.attr("botanu.customer_id"), Some("alice"));
    for s in &spans {
        assert_eq!(s.attr("botanu.customer_id"), Some("alice"), "{}", s.name);
    }

    // By default (untrusted), inbound botanu baggage attributes nothing; only the linkage
    // (trace, parent run) continues.
    let app = Router::new()
        .route("/t", get(|| async { "ok" }))
        .layer(BotanuLayer::workflow("Untrusted").event_id(extract::query("e")));
    let addr = serve(app).await;
    send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/t?e=untrusted-1")).header(
                "baggage",
                "botanu.customer_id=victim,botanu.run_id=fake-parent,botanu.tenant_id=x",
            ),
            "",
        ),
    )
    .await
    .unwrap();
    let (run, _) = run_spans("untrusted-1", 1);
    assert!(run.attr("botanu.customer_id").is_none());
    assert_eq!(run.attr("botanu.parent_run_id"), Some("fake-parent"));
    assert!(run.attr("botanu.tenant_id").is_none());

    // A customer extractor that finds nothing (header absent, blank, non-ASCII) never falls
    // back to inbound baggage — not even on a trusted service.
    for trusted in [false, true] {
        let app = Router::new().route("/t", get(|| async { "ok" })).layer(
            BotanuLayer::workflow("Extractor Empty")
                .event_id(extract::query("e"))
                .customer_id(extract::header("x-customer-id"))
                .trust_inbound(trusted),
        );
        let addr = serve(app).await;
        for (i, header) in [None, Some("   "), Some("caf\u{e9}")]
            .into_iter()
            .enumerate()
        {
            let event = format!("empty-{trusted}-{i}");
            let mut req = request("GET", &format!("http://{addr}/t?e={event}")).header(
                "baggage",
                "botanu.customer_id=victim,botanu.tenant_id=victim-tenant",
            );
            if let Some(h) = header {
                req = req.header(
                    "x-customer-id",
                    http::HeaderValue::from_bytes(h.as_bytes()).unwrap(),
                );
            }
            send(&mut client, body(req, "")).await.unwrap();
            let (run, _) = run_spans(&event, 1);
            assert!(run.attr("botanu.customer_id").is_none(), "{event}");
            // The tenant has no extractor: a trusted caller may name it, an untrusted one not.
            let tenant = trusted.then_some("victim-tenant");
            assert_eq!(run.attr("botanu.tenant_id"), tenant, "{event}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_are_served_normally() {
    let _ = env();
    let app = Router::new().route("/t", get(|| async { "fine" })).layer(
        BotanuLayer::workflow("Hostile")
            .event_id(extract::query("e"))
            .customer_id(extract::header("x-customer-id")),
    );
    let addr = serve(app).await;
    let big_baggage = format!("botanu.customer_id={}", "x".repeat(9000));
    let many_members: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
    let cases: Vec<(&str, String)> = vec![
        ("traceparent", "00-zzzz-yyyy-01".into()),
        (
            "traceparent",
            format!("00-{}-{}-01", "a".repeat(5000), "b".repeat(16)),
        ),
        (
            "traceparent",
            "00-00000000000000000000000000000000-0000000000000000-01".into(),
        ),
        ("tracestate", "=,=,=".repeat(1000)),
        ("baggage", big_baggage),
        ("baggage", many_members.join(",")),
        (
            "baggage",
            "botanu.customer_id=%E2%28%A1,botanu.run_id=%%%".into(),
        ),
        ("baggage", ";;;,,,===".into()),
        ("x-request-id", "\u{7f}".into()),
        ("x-customer-id", "".into()),
    ];
    let mut client = loopback_client();
    for (i, (name, value)) in cases.iter().enumerate() {
        let mut req = request("GET", &format!("http://{addr}/t?e=hostile-{i}"));
        if let Ok(v) = http::HeaderValue::from_bytes(value.as_bytes()) {
            req = req.header(*name, v);
        }
        let reply = send(&mut client, body(req, "")).await.unwrap();
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "fine"),
            "{name}: {value:.40}"
        );
    }
    // Non-UTF-8 header bytes, sent raw.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"GET /t?e=hostile-raw HTTP/1.1\r\nHost: x\r\nbaggage: botanu.customer_id=\xff\xfe\r\nx-customer-id: \xc3\x28\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        raw.read_to_end(&mut out).await.unwrap();
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    }
    for i in 0..cases.len() {
        let (run, _) = run_spans(&format!("hostile-{i}"), 1);
        assert_eq!(status_of(&run), "success");
        assert!(run.attr("botanu.customer_id").is_none(), "case {i}");
    }
    let (run, _) = run_spans("hostile-raw", 1);
    assert!(run.attr("botanu.customer_id").is_none());
}

/// Bounded values: a 16 KB customer header and an ~8,080-byte event id are cut to
/// `MAX_ID_BYTES`, never to empty, and every span of the run — the LLM span with the token
/// counts included — still carries the run's ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_ids_are_cut_and_every_span_keeps_them() {
    use botanu_core::adapter::MAX_ID_BYTES;
    let _ = env();
    let app = Router::new()
        .route(
            "/tickets/{id}",
            get(|| async {
                let _ = botanu_core::llm::call("openai", "gpt-4o", |call| async move {
                    call.set_tokens((10, 2));
                    Ok::<_, std::io::Error>(())
                })
                .await;
                // The app copies something huge into an attribute of its own.
                global::tracer("app").in_span("big attribute", |cx| {
                    use opentelemetry::trace::TraceContextExt;
                    cx.span().set_attribute(opentelemetry::KeyValue::new(
                        "app.note",
                        "é".repeat(40_000),
                    ));
                });
                "ok"
            }),
        )
        .layer(
            BotanuLayer::workflow("Oversized")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id")),
        );
    let addr = serve(app).await;
    let event = format!("big-{}", "é".repeat(4_038)); // ~8,080 bytes, multi-byte characters
    let customer = "c".repeat(16 * 1024);
    let mut client = loopback_client();
    let r = send(
        &mut client,
        body(
            request("GET", &format!("http://{addr}/tickets/{event}"))
                .header("x-customer-id", customer.as_str()),
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let cut_event = {
        let mut end = MAX_ID_BYTES;
        while !event.is_char_boundary(end) {
            end -= 1;
        }
        &event[..end]
    };
    let (run, spans) = run_spans(cut_event, 3);
    assert_eq!(
        run.attr("botanu.customer_id"),
        Some(&customer[..MAX_ID_BYTES])
    );
    let llm = spans
        .iter()
        .find(|s| s.name == "chat gpt-4o")
        .expect("the LLM span");
    assert_eq!(
        llm.attr("botanu.customer_id"),
        Some(&customer[..MAX_ID_BYTES])
    );
    assert_eq!(llm.attr("botanu.event_id"), Some(cut_event));
    assert!(!cut_event.is_empty() && cut_event.len() <= MAX_ID_BYTES);
    // botanu's export bounds string values (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, default 8192
    // bytes), cut at a character boundary.
    let big = spans
        .iter()
        .find(|s| s.name == "big attribute")
        .expect("the app's span");
    let note = big.attr("app.note").unwrap();
    let limit = 8192; // the documented default of OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT
    assert!(
        note.len() <= limit && note.len() > limit - 4,
        "{}",
        note.len()
    );
    assert!(note.chars().all(|c| c == 'é'));
}
