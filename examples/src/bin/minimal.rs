//! The README's minimal app: one layer, `tracing` spans bridged into botanu, a graceful exit
//! that exports every span. `cargo run -p botanu-examples --bin minimal`, then
//! `curl -XPOST -H 'x-customer-id: acme' localhost:3000/tickets/42`; Ctrl-C to stop.
//! botanu exports to `BOTANU_COLLECTOR_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4318`). `ADDR` sets the address to serve on.

use axum::{routing::post, Router};
use botanu_axum::{emit_outcome, extract, path_param, BotanuLayer, Outcome, Run};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tracing::instrument(skip_all)]
async fn handle_ticket(Run(run): Run) -> String {
    // Every span created here — `#[tracing::instrument]`, OpenTelemetry API spans, tasks
    // started with `botanu_core::spawn`, outbound calls — carries the run's attributes.
    emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
    run.run_id().to_owned()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Exports what is queued when main returns (after the graceful shutdown below).
    let _botanu = botanu_core::shutdown_guard();
    // `tracing` spans go to botanu's provider (feature `tracing`).
    tracing_subscriber::registry()
        .with(botanu_core::tracing_layer())
        .init();

    let app = Router::new()
        .route("/tickets/{id}", post(handle_ticket))
        .layer(
            BotanuLayer::workflow("Customer Support")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id"))
                .skip(|req: &http::request::Parts| req.uri.path() == "/healthz"),
        );

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
