//! Runs as botanu sees them, offline and with no configuration.
//!
//! `cargo run -p botanu-examples --example run_basics`
//!
//! The app already has tracing: a sampler that keeps 50% of traces and an exporter of its own.
//! It hands that pipeline to `botanu_core::Botanu::builder()` instead of
//! `SdkTracerProvider::builder()`. Then a support desk resolves tickets: each ticket is a run,
//! and every span created inside it (LLM calls, tool calls) carries the run's attributes.
//!
//! With no configuration the demo starts the in-repo OTLP/HTTP receiver on 127.0.0.1 and
//! botanu exports there over real HTTP; the table shows, per run, what botanu's collector
//! received and what the app's own exporter received (the same as it would without botanu).
//! With `BOTANU_COLLECTOR_ENDPOINT` or `BOTANU_API_KEY` set, botanu exports there instead
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` belongs to the app's own pipeline here, so botanu ignores it).

use std::time::Duration;

use botanu_core::propagation::decode_header;
use botanu_core::semconv::keys;
use botanu_core::{BaggagePropagator, Botanu, BotanuConfig, Outcome, RunContext};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::{global, Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler};

fn main() {
    let receiver = (!botanu_examples::botanu_destination_configured()).then(|| {
        botanu_receiver::receiver::Receiver::start().expect("start the local OTLP receiver")
    });
    let mut config = BotanuConfig::from_env()
        .with_service_name("support-desk")
        .with_environment("demo")
        .with_schedule_delay(Duration::from_millis(100));
    if let Some(r) = &receiver {
        config = config.with_endpoint(r.endpoint());
    }

    // The app's own pipeline, handed to botanu.
    let apps_exporter = InMemorySpanExporter::default();
    let botanu = Botanu::builder()
        .with_sampler(Sampler::TraceIdRatioBased(0.5))
        .with_simple_exporter(apps_exporter.clone())
        .with_config(config)
        .install()
        .unwrap_or_else(|e| panic!("botanu configuration: {e}"));

    let tracer = global::tracer("support-desk");
    let tickets = [
        ("ticket-1001", "acme"),
        ("ticket-1002", "globex"),
        ("ticket-1003", "initech"),
        ("ticket-1004", "acme"),
        ("ticket-1005", "umbrella"),
    ];
    let mut runs = Vec::new();
    for (ticket, customer) in tickets {
        let run = RunContext::builder("Customer Support")
            .event_id(ticket)
            .customer_id(customer)
            .build();
        let run_cx = run.to_context(&Context::current());
        let span = tracer
            .span_builder(format!("botanu.run/{}", run.workflow()))
            .with_attributes(run.to_span_attributes())
            .start_with_context(&tracer, &run_cx);
        let cx = run_cx.with_span(span);
        let trace_id = cx.span().span_context().trace_id();
        {
            let _inside = cx.clone().attach();
            tracer.in_span("chat gpt-4o-mini", |cx| {
                cx.span()
                    .set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 412));
                cx.span()
                    .set_attribute(KeyValue::new("gen_ai.usage.output_tokens", 96));
            });
            tracer.in_span("execute_tool search_kb", |_| {});
            tracer.in_span("chat gpt-4o-mini", |_| {});
        }
        run.complete(Outcome::success().value("tickets_resolved", 1.0));
        cx.span().end();
        runs.push((run, trace_id));
    }
    botanu.force_flush().expect("flush");

    let apps_spans = apps_exporter.get_finished_spans().unwrap_or_default();
    // The app's exporter gets its spans without botanu's attributes (as without botanu): a
    // run's spans are found by the run's trace.
    let apps_count = |trace_id: opentelemetry::trace::TraceId| {
        apps_spans
            .iter()
            .filter(|s| s.span_context.trace_id() == trace_id)
            .count()
    };
    let received = match &receiver {
        Some(r) => {
            r.wait_for_spans(4 * runs.len(), Duration::from_secs(10));
            r.spans()
        }
        None => Vec::new(),
    };
    println!(
        "{:<38} {:<17} {:<12} {:<9} {:>16} {:>15}",
        "run_id", "workflow", "event_id", "customer", "botanu received", "app's exporter"
    );
    for (run, trace_id) in &runs {
        let at_botanu = received
            .iter()
            .filter(|s| s.attr(keys::RUN_ID) == Some(run.run_id()))
            .count();
        println!(
            "{:<38} {:<17} {:<12} {:<9} {:>16} {:>15}",
            run.run_id(),
            run.workflow(),
            run.event_id(),
            run.customer_id(),
            if receiver.is_some() {
                at_botanu.to_string()
            } else {
                "-".into()
            },
            apps_count(*trace_id),
        );
    }
    match &receiver {
        Some(r) => println!(
            "\nbotanu exported {} spans over OTLP/HTTP to {} (100%); the app's 50% sampler \
             kept {} for its own exporter, exactly as without botanu.",
            received.len(),
            r.endpoint(),
            apps_spans.len()
        ),
        None => println!(
            "\nbotanu exported to the configured endpoint: {:?}",
            botanu.stats()
        ),
    }

    // What an outbound call made inside the last run carries.
    let mut headers = std::collections::HashMap::new();
    let (last, _) = runs.last().expect("five runs");
    BaggagePropagator::new().inject_context(&last.to_context(&Context::new()), &mut headers);
    println!("\noutbound baggage: {}", headers["baggage"]);

    // A run started by the Python SDK continues here.
    let from_python = "botanu.run_id=0190f3b4-0000-7000-8000-000000000000,\
                       botanu.workflow=Customer+Support,botanu.event_id=ticket-42,\
                       botanu.customer_id=caf%C3%A9";
    let parent = RunContext::from_baggage(&decode_header(from_python)).expect("run in baggage");
    println!(
        "from a Python service: run {} of {:?} for customer {:?}",
        parent.run_id(),
        parent.workflow(),
        parent.customer_id()
    );
    botanu.shutdown().expect("shutdown");
}
