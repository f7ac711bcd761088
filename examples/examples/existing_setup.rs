//! An app that already has OpenTelemetry (tracing-opentelemetry, `OtelAxumLayer`, a 50% ratio
//! sampler, its own OTLP exporter) adopts botanu: its collector keeps exactly what it got,
//! botanu's collector gets every run. Offline, no configuration:
//!
//! `cargo run -p botanu-examples --example existing_setup`
//!
//! Two in-repo OTLP receivers on 127.0.0.1 stand in for the app's collector and botanu's.
//! This file is the compiled form of the "Existing OpenTelemetry setup" guide's code.

use std::collections::BTreeSet;

use axum::{routing::post, Router};
use axum_tracing_opentelemetry::middleware::OtelAxumLayer;
use botanu_axum::{extract, path_param, BotanuLayer};
use botanu_core::{Botanu, BotanuConfig};
use botanu_receiver::receiver::Receiver;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::Sampler;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tracing::instrument(skip_all)]
async fn handle_ticket() -> &'static str {
    tracing::info_span!("chat gpt-4o-mini").in_scope(|| "resolved")
}

#[tokio::main]
async fn main() {
    let apps_collector = Receiver::start().expect("receiver");
    let botanus_collector = Receiver::start().expect("receiver");

    // The app's pipeline, unchanged except for one line: `Botanu::builder()` where it had
    // `SdkTracerProvider::builder()`.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let apps_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", apps_collector.endpoint()))
        .build()
        .expect("exporter");
    let botanu = Botanu::builder() // was: SdkTracerProvider::builder()
        .with_sampler(Sampler::TraceIdRatioBased(0.5))
        .with_batch_exporter(apps_exporter)
        // In production: BOTANU_API_KEY, or BOTANU_COLLECTOR_ENDPOINT.
        .with_config(BotanuConfig::from_env().with_endpoint(botanus_collector.endpoint()))
        .install()
        .expect("botanu configuration");
    let provider = botanu.tracer_provider(); // was: the provider `build()` returned
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("support-desk")))
        .init();

    // Either order works; with the app's layer outermost, botanu's run span nests under the
    // app's server span in botanu's export, and that span carries the run's ids there.
    let app = Router::new()
        .route("/tickets/{id}", post(handle_ticket))
        .layer(
            BotanuLayer::workflow("Customer Support")
                .event_id(path_param("id"))
                .customer_id(extract::header("x-customer-id")),
        )
        .layer(OtelAxumLayer::default());
    let addr = botanu_receiver::http::serve(app).await;

    let client = reqwest::Client::new();
    for i in 0..8u32 {
        let low = u64::from(i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let trace_id = format!("{:016x}{low:016x}", 0x5eed_u64);
        client
            .post(format!("http://{addr}/tickets/T-{i}"))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .header("x-customer-id", "acme")
            .send()
            .await
            .expect("request");
    }
    botanu.shutdown().expect("shutdown");

    let theirs = apps_collector.spans();
    let traces: BTreeSet<&str> = theirs.iter().map(|s| s.trace_id.as_str()).collect();
    let names: BTreeSet<&str> = theirs.iter().map(|s| s.name.as_str()).collect();
    let botanu_keys = theirs
        .iter()
        .flat_map(|s| s.attributes.keys())
        .filter(|k| k.starts_with("botanu."))
        .count();
    println!(
        "the app's collector: {} spans in {} of 8 traces (its 50% sampler), names {names:?}, \
         {botanu_keys} botanu.* attributes",
        theirs.len(),
        traces.len()
    );
    let ours = botanus_collector.spans();
    let runs = ours
        .iter()
        .filter(|s| s.name.starts_with("botanu.run/"))
        .count();
    let with_run_id = ours
        .iter()
        .filter(|s| s.attr("botanu.run_id").is_some())
        .count();
    println!(
        "botanu's collector: {} spans (100%), {runs} runs, {with_run_id} spans with botanu.run_id",
        ours.len()
    );
    println!("{}", botanu.describe());
}
