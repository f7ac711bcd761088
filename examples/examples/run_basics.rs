//! Runs as botanu sees them, offline and with no configuration.
//!
//! `cargo run -p botanu-examples --example run_basics`
//!
//! A user's tracing pipeline samples 50% of traces. It is handed to botanu the way DESIGN §3
//! describes (their sampler wrapped in `PreservingSampler`, their processor in
//! `SampledSpanProcessor::sampled_only`, the `RunContextEnricher` and botanu's processor added),
//! then a support desk resolves tickets: each ticket is a run, and every span created inside it
//! (LLM calls, tool calls) carries the run's attributes. The demo prints one row per run with
//! what botanu received and what the user's own exporter received, then the `baggage` header a
//! downstream call would carry, and decodes a header sent by the Python SDK.

use botanu_core::baggage::{decode_header, keys};
use botanu_core::{
    BaggagePropagator, PreservingSampler, RunContext, RunContextEnricher, RunOutcome, RunStatus,
    SampledSpanProcessor,
};
use botanu_tests::{attr_str, CollectAll};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracerProvider, SimpleSpanProcessor,
};

fn main() {
    let users_exporter = InMemorySpanExporter::default();
    let botanu = CollectAll::new();
    let provider = SdkTracerProvider::builder()
        .with_sampler(PreservingSampler::new(Sampler::TraceIdRatioBased(0.5)))
        .with_span_processor(SampledSpanProcessor::sampled_only(
            SimpleSpanProcessor::new(users_exporter.clone()),
        ))
        .with_span_processor(RunContextEnricher::new())
        .with_span_processor(botanu.clone())
        .build();
    let tracer = provider.tracer("support-desk");

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
            .environment("demo")
            .build();
        let run_cx = run.to_context(&Context::current());
        let span = tracer
            .span_builder(format!("botanu.run/{}", run.workflow()))
            .with_attributes(run.to_span_attributes())
            .start_with_context(&tracer, &run_cx);
        let cx = run_cx.with_span(span);
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
        run.complete(RunOutcome::new(RunStatus::Success).value("tickets_resolved", 1.0));
        cx.span().end();
        runs.push(run);
    }

    let spans = botanu.spans();
    let theirs = users_exporter.get_finished_spans().unwrap_or_default();
    println!(
        "{:<38} {:<17} {:<12} {:<10} {:>13} {:>13}",
        "run_id", "workflow", "event_id", "customer", "botanu spans", "their spans"
    );
    for run in &runs {
        let in_run = |s: &&opentelemetry_sdk::trace::SpanData| {
            attr_str(s, keys::RUN_ID).as_deref() == Some(run.run_id())
        };
        println!(
            "{:<38} {:<17} {:<12} {:<10} {:>13} {:>13}",
            run.run_id(),
            run.workflow(),
            run.event_id(),
            run.customer_id(),
            spans.iter().filter(in_run).count(),
            theirs.iter().filter(in_run).count(),
        );
    }
    println!(
        "\nbotanu received {} spans (100%); the user's 50% sampler kept {} of them, as before.",
        spans.len(),
        theirs.len()
    );

    // What an outbound call made inside the last run would carry.
    let mut headers = std::collections::HashMap::new();
    let last = runs.last().expect("five runs");
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
    let _ = provider.shutdown();
}
