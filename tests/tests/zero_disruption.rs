//! Zero disruption, end to end (ARCHITECTURE.md, "Install modes"): an app with its own pipeline — `tracing` +
//! tracing-opentelemetry, `OtelAxumLayer` or tower-http's `TraceLayer`, a 25% ratio sampler,
//! an OTLP/HTTP exporter to its own collector A, a reqwest call downstream with propagation —
//! adopts botanu as the README says. What collector A receives with botanu must equal what it
//! receives without botanu: trace ids, span names, kinds, parent links, attribute keys; and the
//! downstream service must be sent the same `traceparent`s. Meanwhile botanu's collector B
//! receives every run, with the run ids on every span.
//!
//! Each variant runs in a child process of this test binary (the global tracer provider can be
//! set once per process): the ignored test `child` runs the workload of the variant named in
//! `ZD_VARIANT` and prints what A and the downstream service saw; `with_botanu_equals_without`
//! runs the variants and compares.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::post;
use axum::Router;
use botanu_axum::{extract, path_param, BotanuLayer};
use botanu_core::{BotanuConfig, Mode};
use botanu_tests::child::{lines_with, run_child};
use botanu_tests::http::{serve, AppInjects};
use botanu_tests::receiver::{ReceivedSpan, Receiver};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const REQUESTS: u64 = 120;
const RATIO: f64 = 0.25;

/// How the app is set up in one child process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    botanu: Botanu,
    layer: UserLayer,
    botanu_outermost: bool,
    /// The app's exporter reads `OTEL_EXPORTER_OTLP_ENDPOINT` (and botanu has no destination
    /// of its own), instead of being given A's endpoint in code.
    endpoint_from_env: bool,
    share: bool,
    /// `ParentBased(TraceIdRatioBased)` instead of `TraceIdRatioBased`.
    parent_based: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Botanu {
    None,
    Migrated,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum UserLayer {
    OtelAxum,
    TraceLayer,
}

impl Variant {
    const fn new(botanu: Botanu, layer: UserLayer, botanu_outermost: bool) -> Self {
        Variant {
            botanu,
            layer,
            botanu_outermost,
            endpoint_from_env: false,
            share: false,
            parent_based: false,
        }
    }

    fn sampler(&self) -> Sampler {
        if self.parent_based {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(RATIO)))
        } else {
            Sampler::TraceIdRatioBased(RATIO)
        }
    }

    fn name(&self) -> String {
        format!(
            "{:?}-{:?}-{}{}{}{}",
            self.botanu,
            self.layer,
            if self.botanu_outermost {
                "botanu-outer"
            } else {
                "user-outer"
            },
            if self.endpoint_from_env {
                "-env-endpoint"
            } else {
                ""
            },
            if self.share { "-shared" } else { "" },
            if self.parent_based {
                "-parent-based"
            } else {
                ""
            }
        )
    }

    fn parse(name: &str) -> Variant {
        all_variants()
            .into_iter()
            .find(|v| v.name() == name)
            .unwrap_or_else(|| panic!("unknown variant {name}"))
    }
}

fn all_variants() -> Vec<Variant> {
    use Botanu::*;
    use UserLayer::*;
    let mut v = Vec::new();
    for layer in [OtelAxum, TraceLayer] {
        v.push(Variant::new(None, layer, false));
        v.push(Variant::new(Migrated, layer, false));
        v.push(Variant::new(Migrated, layer, true));
    }
    v.push(Variant {
        endpoint_from_env: true,
        ..Variant::new(Migrated, OtelAxum, false)
    });
    v.push(Variant::new(Disabled, OtelAxum, false));
    v.push(Variant {
        share: true,
        ..Variant::new(Migrated, OtelAxum, false)
    });
    for botanu_outermost in [false, true] {
        v.push(Variant {
            parent_based: true,
            ..Variant::new(Migrated, OtelAxum, botanu_outermost)
        });
    }
    v.push(Variant {
        parent_based: true,
        ..Variant::new(None, OtelAxum, false)
    });
    v
}

/// The inbound trace of request `i`: fixed ids, so every process sees the same traces and the
/// ratio sampler keeps the same ones.
fn inbound(i: u64) -> (String, String) {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (
        format!("{:016x}{:016x}", mix(i), mix(i + 1_000_000)),
        format!("{:016x}", mix(i + 2_000_000) | 1),
    )
}

#[derive(Clone, Default)]
struct Downstream(Arc<Mutex<Vec<String>>>);

#[tracing::instrument(name = "handle_ticket", skip_all, fields(ticket = %id))]
async fn handle_ticket(
    Path(id): Path<String>,
    axum::extract::State(app): axum::extract::State<AppState>,
) -> String {
    let call = tracing::info_span!("call billing", otel.kind = "client");
    async {
        app.client
            .get(format!("http://{}/billing", app.downstream))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            .to_string()
    }
    .instrument(call)
    .await
}

#[derive(Clone)]
struct AppState {
    client: reqwest_middleware::ClientWithMiddleware,
    downstream: std::net::SocketAddr,
}

/// Runs one variant's workload; prints `A\t…` lines (what the app's collector got) and
/// `DOWN\t…` lines (the `traceparent`s the downstream service got).
#[test]
#[ignore = "run by with_botanu_equals_without in a child process"]
fn child() {
    let Ok(name) = std::env::var("ZD_VARIANT") else {
        return;
    };
    let v = Variant::parse(&name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(workload(v));
}

async fn workload(v: Variant) {
    let a = Receiver::start().unwrap();
    let b = Receiver::start().unwrap();
    let downstream_seen = Downstream::default();
    let seen = downstream_seen.clone();
    let downstream = serve(Router::new().route(
        "/billing",
        axum::routing::get(move |headers: http::HeaderMap| {
            let seen = seen.clone();
            async move {
                let tp = headers
                    .get("traceparent")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                seen.0.lock().unwrap().push(tp);
                "ok"
            }
        }),
    ))
    .await;

    // --- The app's own setup, as it was before botanu. ---
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = if v.endpoint_from_env {
        // The standard way: the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT. (Set before any
        // other thread reads the environment.)
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", a.endpoint());
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .unwrap()
    } else {
        use opentelemetry_otlp::WithExportConfig;
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", a.endpoint()))
            .build()
            .unwrap()
    };

    // --- botanu, exactly as the README says (or nothing). ---
    let mut handle = None;
    let provider: SdkTracerProvider = match v.botanu {
        Botanu::None => {
            let p = SdkTracerProvider::builder()
                .with_sampler(v.sampler())
                .with_batch_exporter(exporter)
                .build();
            opentelemetry::global::set_tracer_provider(p.clone());
            p
        }
        Botanu::Migrated | Botanu::Disabled => {
            let mut config =
                BotanuConfig::from_env().with_schedule_delay(Duration::from_millis(50));
            if v.botanu == Botanu::Disabled {
                config = config.with_disabled(true);
            }
            if !v.endpoint_from_env {
                config = config.with_endpoint(b.endpoint());
            }
            let botanu = botanu_core::Botanu::builder()
                .with_sampler(v.sampler())
                .with_batch_exporter(exporter)
                .with_config(config)
                .share_run_attributes(v.share)
                .install()
                .unwrap();
            let p = botanu.tracer_provider().clone();
            handle = Some(botanu);
            p
        }
    };
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut client =
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(AppInjects);
    if v.botanu != Botanu::None {
        client = client.with(botanu_core::BotanuPropagation::new());
    }
    let state = AppState {
        client: client.build(),
        downstream,
    };
    let router = Router::new()
        .route("/tickets/{id}", post(handle_ticket))
        .with_state(state);
    let botanu_layer = BotanuLayer::workflow("Customer Support")
        .event_id(path_param("id"))
        .customer_id(extract::header("x-customer-id"));
    // tower-http's TraceLayer as apps use it with tracing-opentelemetry: the request span
    // continues the caller's trace.
    let trace_layer = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |req: &http::Request<axum::body::Body>| {
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let span = tracing::info_span!("request", method = %req.method(), uri = %req.uri());
            let parent = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&opentelemetry_http::HeaderExtractor(req.headers()))
            });
            let _ = span.set_parent(parent);
            span
        },
    );
    let otel_layer = axum_tracing_opentelemetry::middleware::OtelAxumLayer::default();
    // `Router::layer`: the layer added last is the outermost.
    let app = match (v.botanu != Botanu::None, v.layer, v.botanu_outermost) {
        (false, UserLayer::OtelAxum, _) => router.layer(otel_layer),
        (false, UserLayer::TraceLayer, _) => router.layer(trace_layer),
        (true, UserLayer::OtelAxum, false) => router.layer(botanu_layer).layer(otel_layer),
        (true, UserLayer::OtelAxum, true) => router.layer(otel_layer).layer(botanu_layer),
        (true, UserLayer::TraceLayer, false) => router.layer(botanu_layer).layer(trace_layer),
        (true, UserLayer::TraceLayer, true) => router.layer(trace_layer).layer(botanu_layer),
    };
    let addr = serve(app).await;

    let caller = reqwest::Client::new();
    for i in 0..REQUESTS {
        let (trace_id, parent) = inbound(i);
        let reply = caller
            .post(format!("http://{addr}/tickets/T-{i}"))
            // Every third caller did not sample (a parent-based sampler follows that flag).
            .header(
                "traceparent",
                format!("00-{trace_id}-{parent}-0{}", u8::from(i % 3 != 0)),
            )
            .header("x-customer-id", format!("customer-{}", i % 7))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
        assert_eq!(reply.text().await.unwrap(), "200");
    }

    // Graceful exit: everything queued is exported.
    match &handle {
        Some(botanu) => botanu.shutdown().unwrap(),
        None => provider.shutdown().unwrap(),
    }

    let a_spans = a.spans();
    for line in describe_a(&a_spans) {
        println!("A\t{line}");
    }
    let names: BTreeMap<&str, &str> = a_spans
        .iter()
        .map(|s| (s.span_id.as_str(), s.name.as_str()))
        .collect();
    for tp in downstream_seen.0.lock().unwrap().iter() {
        let parts: Vec<&str> = tp.split('-').collect();
        let (trace, parent, flags) = (parts[1], parts[2], parts[3]);
        let parent = names.get(parent).copied().unwrap_or("(not exported to A)");
        println!("DOWN\t{trace}\t{parent}\t{flags}");
    }

    let b_spans = b.spans();
    match (v.botanu, v.endpoint_from_env) {
        (Botanu::Migrated, false) => check_botanu_export(&b_spans, v),
        (Botanu::Migrated, true) => {
            assert!(b_spans.is_empty(), "botanu has no destination of its own");
            let d = handle.as_ref().unwrap().describe();
            assert!(d.contains("BOTANU_COLLECTOR_ENDPOINT"), "{d}");
        }
        (Botanu::Disabled, _) => {
            assert!(b_spans.is_empty());
            assert_eq!(handle.as_ref().unwrap().mode(), Mode::Disabled);
        }
        (Botanu::None, _) => {}
    }
    // Nothing but the app's exporter reached A (botanu never exports to the app's collector).
    assert!(
        a_spans.iter().all(|s| s.scope == "app"),
        "only the app's scope in A"
    );
}

/// One line per span A received: trace id, name, kind, where its parent is, attribute keys.
fn describe_a(spans: &[ReceivedSpan]) -> BTreeSet<String> {
    let by_id: BTreeMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let inbound_parents: BTreeSet<String> = (0..REQUESTS).map(|i| inbound(i).1).collect();
    spans
        .iter()
        .map(|s| {
            let parent = if s.parent_span_id.is_empty() {
                "root".to_owned()
            } else if let Some(p) = by_id.get(s.parent_span_id.as_str()) {
                format!("child of {}", p.name)
            } else if inbound_parents.contains(&s.parent_span_id) {
                "child of the caller".to_owned()
            } else {
                format!("DANGLING parent {}", s.parent_span_id)
            };
            let keys: Vec<&str> = s.attributes.keys().map(String::as_str).collect();
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                s.trace_id,
                s.name,
                s.kind,
                s.flags & 0xff,
                parent,
                keys.join(",")
            )
        })
        .collect()
}

/// botanu's collector: every run, every span of the app (100%, unsampled too), run ids on all.
fn check_botanu_export(spans: &[ReceivedSpan], v: Variant) {
    let runs: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == "botanu.run/Customer Support")
        .collect();
    assert_eq!(runs.len() as u64, REQUESTS, "one run span per request");
    let handlers = spans.iter().filter(|s| s.name == "handle_ticket").count() as u64;
    assert_eq!(handlers, REQUESTS, "100% of the app's spans");
    for s in spans {
        assert!(
            s.attr("botanu.run_id").is_some(),
            "every span botanu exports carries the run id: {} ({v:?})",
            s.name
        );
        assert_eq!(s.attr("botanu.workflow"), Some("Customer Support"));
    }
    // Each handler span belongs to the run of its request (same trace, same event).
    for run in &runs {
        let event = run.attr("botanu.event_id").unwrap();
        let run_id = run.attr("botanu.run_id").unwrap();
        let handler = spans
            .iter()
            .find(|s| s.name == "handle_ticket" && s.attr("botanu.event_id") == Some(event))
            .expect("the handler span of the run's request");
        assert_eq!(handler.attr("botanu.run_id"), Some(run_id));
        assert_eq!(handler.attr("botanu.event_id"), Some(event));
        assert!(run
            .attr("botanu.customer_id")
            .unwrap()
            .starts_with("customer-"));
    }
}

/// What the app's collector (A) and the downstream service saw, one line each.
type Seen = (BTreeSet<String>, BTreeSet<String>);

fn run_variant(v: Variant) -> Seen {
    let stdout = run_child("child", &[("ZD_VARIANT", v.name())]);
    (lines_with(&stdout, "A\t"), lines_with(&stdout, "DOWN\t"))
}

#[test]
fn with_botanu_equals_without() {
    let variants = all_variants();
    let results: Vec<(Variant, Seen)> = std::thread::scope(|s| {
        let handles: Vec<_> = variants
            .iter()
            .map(|v| s.spawn(move || (*v, run_variant(*v))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let baseline = |of: &Variant| {
        &results
            .iter()
            .find(|(v, _)| {
                v.botanu == Botanu::None && v.layer == of.layer && v.parent_based == of.parent_based
            })
            .unwrap()
            .1
    };
    for (v, _) in results.iter().filter(|(v, _)| v.botanu == Botanu::None) {
        let (a, down) = baseline(v);
        let layer = v.name();
        let traces: BTreeSet<&str> = a.iter().map(|l| l.split('\t').next().unwrap()).collect();
        // The 25% rule keeps about 30 of 120 traces; parent-based, the 80 the callers sampled
        // (the ratio decides roots only). Every request reached the downstream.
        if v.parent_based {
            assert_eq!(traces.len(), 80, "{layer}");
        } else {
            assert!(
                (15..50).contains(&traces.len()),
                "{layer}: {}",
                traces.len()
            );
        }
        assert_eq!(down.len() as u64, REQUESTS);
        assert!(a.iter().all(|l| !l.contains("DANGLING")), "{a:#?}");
        assert!(a.iter().all(|l| !l.contains("botanu.")));
    }
    for (v, (a, down)) in &results {
        if v.botanu == Botanu::None {
            continue;
        }
        let (base_a, base_down) = baseline(v);
        assert_eq!(down, base_down, "{}: downstream traceparents", v.name());
        if v.share {
            // Opt-in: the same spans, with the run attributes added.
            let strip = |l: &String| {
                let (head, keys) = l.rsplit_once('\t').unwrap();
                let keys: Vec<&str> = keys
                    .split(',')
                    .filter(|k| !k.starts_with("botanu."))
                    .collect();
                format!("{head}\t{}", keys.join(","))
            };
            let stripped: BTreeSet<String> = a.iter().map(strip).collect();
            assert_eq!(&stripped, base_a, "{}", v.name());
            assert!(
                a.iter().all(|l| l.contains("botanu.run_id")),
                "{}",
                v.name()
            );
            continue;
        }
        if a != base_a {
            let extra: Vec<_> = a.difference(base_a).collect();
            let missing: Vec<_> = base_a.difference(a).collect();
            panic!(
                "{}: the app's collector saw something else with botanu\nextra: {extra:#?}\nmissing: {missing:#?}",
                v.name()
            );
        }
    }
}
