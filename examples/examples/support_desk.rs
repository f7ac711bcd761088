//! A support desk on axum where every ticket is a botanu run.
//!
//! `cargo run -p botanu-examples --example support_desk` — with no configuration it starts the
//! in-repo OTLP/HTTP receiver on 127.0.0.1, exports there, starts the app, sends itself a few
//! tickets from different customers (one streamed answer, one failing ticket, one that asks
//! the internal billing service through `PropagateLayer`), prints one row per run and exits.
//! The model is an OpenAI-compatible endpoint on 127.0.0.1 called through reqwest with
//! `BotanuPropagation`: botanu recognises each call on the wire, so the tokens column comes from
//! the provider's answers; the handler sets no token count.
//! With `OTEL_EXPORTER_OTLP_ENDPOINT`, `BOTANU_COLLECTOR_ENDPOINT` or `BOTANU_API_KEY` set it
//! exports there instead.
//!
//! `cargo run -p botanu-examples --example support_desk -- --serve` only serves on
//! `BOTANU_EXAMPLE_ADDR` (default `127.0.0.1:3000`) until Ctrl-C, then shuts down gracefully and
//! flushes:
//!
//! ```text
//! curl -X POST 'http://127.0.0.1:3000/tickets/T-1?stream=true' \
//!      -H 'x-customer-id: acme' -H 'content-type: application/json' \
//!      -d '{"question": "How do I get a refund?"}'
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use botanu_axum::{
    emit_outcome, extract, path_param, set_correlation, BotanuLayer, Outcome, PropagateLayer, Run,
};
use botanu_receiver::http::{body, loopback_client, request, send};
use opentelemetry::global;
use opentelemetry::trace::Tracer;
use tower::ServiceBuilder;

#[derive(Clone)]
struct AppState {
    billing: SocketAddr,
}

#[derive(serde::Deserialize)]
struct Params {
    stream: Option<bool>,
}

async fn handle_ticket(
    Run(run): Run,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    axum::extract::State(state): axum::extract::State<AppState>,
    Json(ticket): Json<serde_json::Value>,
) -> Response {
    let question = ticket["question"].as_str().unwrap_or("").to_owned();
    set_correlation([("zendesk_ticket_id", id.clone())]);
    if question.contains("crash") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the knowledge base is down",
        )
            .into_response();
    }
    if question.contains("invoice") {
        // Ask the internal billing service: it continues this run (same trace, parent run).
        let mut client = ServiceBuilder::new()
            .layer(PropagateLayer::new())
            .service(loopback_client());
        // Ids come from requests: encode them before they go into a URL.
        let customer = botanu_examples::path_segment(run.customer_id());
        let uri = format!("http://{}/billing/{customer}", state.billing);
        let _billing_answer = send(&mut client, body(request("GET", &uri), "")).await;
    }
    let answer = botanu_examples::ask_model(&question).await;
    emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
    if params.stream.unwrap_or(false) {
        // Streamed answer: the run ends after the last chunk.
        let words: Vec<String> = answer.split(' ').map(|w| format!("{w} ")).collect();
        let chunks = futures_util::stream::unfold(words.into_iter(), |mut words| async move {
            let word = words.next()?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some((Ok::<_, std::io::Error>(word), words))
        });
        return Body::from_stream(chunks).into_response();
    }
    answer.into_response()
}

async fn billing(Path(customer): Path<String>) -> String {
    global::tracer("billing").in_span("db.postgresql.select invoices", |_| {});
    format!("{customer}: 2 open invoices")
}

fn support_app(billing: SocketAddr) -> Router {
    Router::new()
        .route("/tickets/{id}", post(handle_ticket))
        .with_state(AppState { billing })
        .layer(
            BotanuLayer::workflow("Customer Support")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id")),
        )
}

fn billing_app() -> Router {
    Router::new()
        .route("/billing/{customer}", get(billing))
        // Internal: only the support desk calls it, so its baggage names the customer.
        .layer(BotanuLayer::workflow("Billing Lookup").trust_inbound(true))
}

async fn listen(addr: &str, app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let local = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await;
    });
    local
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() {
    let serve_only = std::env::args().any(|a| a == "--serve");
    let receiver = if serve_only {
        None
    } else {
        botanu_examples::local_receiver_unless_configured()
    };
    let botanu = botanu_examples::install("support-desk", receiver.as_ref());

    let billing = listen("127.0.0.1:0", billing_app()).await;
    if serve_only {
        let addr = std::env::var("BOTANU_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        println!(
            "support desk on http://{addr} (botanu mode: {}); Ctrl-C to stop",
            botanu.mode().as_str()
        );
        let _ = axum::serve(listener, support_app(billing))
            .with_graceful_shutdown(shutdown_signal())
            .await;
        // In-flight runs have finished: flush them before exiting.
        let _ = botanu.shutdown();
        println!("flushed: {:?}", botanu.stats());
        return;
    }

    let app = listen("127.0.0.1:0", support_app(billing)).await;
    botanu_examples::send_tickets(app).await;
    botanu_examples::report(&botanu, receiver.as_ref(), 6);
    let _ = botanu.shutdown();
}
