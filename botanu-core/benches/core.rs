//! Micro-benchmarks of the hot pieces of botanu-core.
//!
//! `cargo bench -p botanu-core --bench core`
//!
//! Span benchmarks start and end a span on a provider with one processor: the enricher, or a
//! no-op processor as the baseline measured in the same run. The difference is the enricher's
//! cost per span.

mod common;

use std::hint::black_box;

use botanu_core::propagation::encode_header;
use botanu_core::{RunContext, RunContextEnricher, SampledSpanProcessor};
use common::Noop;
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{Span as _, TraceId, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};

fn enricher(c: &mut Criterion) {
    let enriched = SdkTracerProvider::builder()
        .with_span_processor(RunContextEnricher::new())
        .build();
    let baseline = SdkTracerProvider::builder()
        .with_span_processor(Noop)
        .build();
    let run = RunContext::builder("Customer Support")
        .event_id("ticket-42")
        .customer_id("acme")
        .tenant_id("t-1")
        .build();
    let contexts = [
        ("no baggage", Context::new()),
        (
            "foreign baggage",
            Context::new().with_baggage([KeyValue::new("user.session", "s-1")]),
        ),
        ("in a run", run.to_context(&Context::new())),
    ];
    let mut g = c.benchmark_group("span start+end");
    for (name, cx) in &contexts {
        for (which, provider) in [("noop processor", &baseline), ("enricher", &enriched)] {
            let tracer = provider.tracer("bench");
            g.bench_function(format!("{which}, {name}"), |b| {
                b.iter(|| tracer.start_with_context("child", black_box(cx)).end())
            });
        }
    }
    g.finish();
}

fn sampled_processor(c: &mut Criterion) {
    let gate = SampledSpanProcessor::ratio(Noop, 0.1).unwrap();
    let mut id = 0x1234_5678_9abc_def0_u128;
    c.bench_function("SampledSpanProcessor::ratio decision", |b| {
        b.iter(|| {
            id = id
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            black_box(gate.keeps(TraceId::from(id), false))
        })
    });
}

fn run_context(c: &mut Criterion) {
    c.bench_function("RunContext::new + to_baggage", |b| {
        b.iter(|| {
            let run = RunContext::builder(black_box("Customer Support"))
                .event_id(black_box("ticket-42"))
                .customer_id(black_box("acme"))
                .environment("production")
                .build();
            black_box(run.to_baggage())
        })
    });
    let run = RunContext::new("Customer Support", "ticket-42", "acme");
    c.bench_function("RunContext::to_context", |b| {
        b.iter(|| black_box(run.to_context(black_box(&Context::new()))))
    });
    let entries = run.to_baggage();
    c.bench_function("baggage header encode (5 run keys)", |b| {
        b.iter(|| black_box(encode_header(entries.iter().map(|(k, v)| (*k, v.as_str())))))
    });
}

fn pii_and_llm(c: &mut Criterion) {
    // A 4 KiB prompt with a few PII values in it.
    let mut prompt = String::new();
    while prompt.len() < 4096 {
        prompt.push_str("The customer says the invoice is wrong and asks for a refund. ");
        if prompt.len() % 1000 < 70 {
            prompt.push_str("Reach me at jane.doe@example.com or +14155552671. ");
        }
    }
    prompt.truncate(4096);
    let scrubber = botanu_core::pii::Scrubber::default();
    let _ = scrubber.scrub("warm up");
    c.bench_function("PII scrub of a 4 KiB prompt", |b| {
        b.iter(|| black_box(scrubber.scrub(black_box(&prompt))))
    });

    // botanu installed with export off: spans are created, enriched and dropped, so no
    // export thread competes with the measurement.
    let _ = botanu_core::enable_with(botanu_core::BotanuConfig::default().with_export(false));
    let run = RunContext::new("Customer Support", "ticket-42", "acme");
    let _inside = run.to_context(&Context::new()).attach();
    c.bench_function("track_llm + 6 attributes + end (in a run)", |b| {
        b.iter(|| {
            let call = botanu_core::track_llm("openai", "gpt-4o");
            call.set_tokens((412, 96))
                .set_request_id("chatcmpl-1")
                .set_response_model("gpt-4o-2024-08-06")
                .set_finish_reason("stop");
            call.finish();
        })
    });
}

/// A run started and finished through the lifecycle every adapter uses (botanu installed, export
/// off): run context, baggage, run span with its attributes and both events, end.
fn run_lifecycle(c: &mut Criterion) {
    use botanu_core::adapter::{RunEnd, RunSpec};
    let _ = botanu_core::enable_with(botanu_core::BotanuConfig::default().with_export(false));
    let parent = Context::new();
    c.bench_function("run start + finish (lifecycle)", |b| {
        b.iter(|| {
            RunSpec::new("Customer Support")
                .event_id(Some("ticket-42".into()))
                .customer_id(Some("acme".into()))
                .start(black_box(&parent))
                .finish(RunEnd::new(botanu_core::RunStatus::Success));
        })
    });
}

/// OTLP protobuf encoding of a batch of 512 spans, enriched (inside a run) vs plain: what the
/// run attributes cost the exporter; `opentelemetry-proto` conversion + prost (what
/// `opentelemetry-otlp` does, the baseline) vs botanu's direct encoder (same bytes).
fn export_encoding(c: &mut Criterion) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use prost::Message;

    let batch = |in_run: bool| -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(RunContextEnricher::new())
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("app");
        let run = RunContext::new("Customer Support", "ticket-42", "acme");
        let cx = if in_run {
            run.to_context(&Context::new())
        } else {
            Context::new()
        };
        for _ in 0..512 {
            let mut span = tracer.start_with_context("llm call", &cx);
            span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 412));
            span.end();
        }
        exporter.get_finished_spans().unwrap()
    };
    let sdk_resource = opentelemetry_sdk::Resource::builder().build();
    let resource = ResourceAttributesWithSchema::from(&sdk_resource);
    let mut direct = botanu_core::__bench::Encoder::new(&sdk_resource);
    let mut g = c.benchmark_group("OTLP encode, 512 spans");
    g.throughput(criterion::Throughput::Elements(512));
    for (name, spans) in [("plain", batch(false)), ("in a run", batch(true))] {
        // Both take an owned batch and drop it, as an exporter does (the clone that makes
        // each iteration's batch is not timed).
        g.bench_function(format!("opentelemetry-proto + prost, {name}"), |b| {
            b.iter_batched(
                || spans.clone(),
                |spans| {
                    let request = ExportTraceServiceRequest {
                        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
                    };
                    request.encode_to_vec().len()
                },
                criterion::BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("botanu direct, {name}"), |b| {
            b.iter_batched(
                || spans.clone(),
                |spans| direct.encode(&spans, 4 << 20),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Content capture on the request path: a 1 MB CJK question costs what a 4 KB one does
/// (the text is cut before it is scrubbed); the 4 KB input is the baseline.
fn capture(c: &mut Criterion) {
    let scrubber = botanu_core::pii::Scrubber::default();
    let small = "退款政策是什么？".repeat(512); // 4,096 characters
    let huge = "退款政策是什么？".repeat(1 << 17); // ~3 MB, 1M characters
    let mut g = c.benchmark_group("capture (cut, scrub, cut)");
    g.bench_function("4,096 characters (baseline)", |b| {
        b.iter(|| botanu_core::__bench::prepare_with(black_box(&small), 4096, Some(&scrubber)))
    });
    g.bench_function("1,048,576 characters", |b| {
        b.iter(|| botanu_core::__bench::prepare_with(black_box(&huge), 4096, Some(&scrubber)))
    });
    // Text made to keep the patterns busy: near-miss card and phone digits, address-like and
    // IPv6-like runs, `Bearer` with short tokens.
    for (name, unit) in [
        ("digits and separators", "4111 1111-1111.111 "),
        ("near-miss addresses", "josé.ab-c@x "),
        ("hex and colons", "fe80:ab:: 1:2:3 "),
        ("bearer words", "bearer ab Basic x "),
    ] {
        let text: String = unit.chars().cycle().take(4096).collect();
        g.bench_function(format!("4,096 characters, {name}"), |b| {
            b.iter(|| botanu_core::__bench::prepare_with(black_box(&text), 4096, Some(&scrubber)))
        });
    }
    g.finish();
}

/// A provider call recognised on the wire (feature `reqwest`: `cargo bench -p botanu-core
/// --features reqwest --bench core -- wire`), against the same call tracked by hand in the same
/// run: what recognition adds is reading the request and the response.
#[cfg(feature = "reqwest")]
fn wire(c: &mut Criterion) {
    let _ = botanu_core::enable_with(botanu_core::BotanuConfig::default().with_export(false));
    let run = RunContext::new("Customer Support", "ticket-42", "acme");
    let _inside = run.to_context(&Context::new()).attach();
    let endpoints = botanu_core::llm::LlmEndpoints::default();
    let url = url::Url::parse("https://api.openai.com/v1/chat/completions").unwrap();
    let request = br#"{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":256,"messages":[{"role":"user","content":"How do I reset my password? I tried the link in the email twice."}]}"#;
    let response = br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Open Settings, choose Security, then Reset password; the link is valid for 30 minutes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49,"prompt_tokens_details":{"cached_tokens":10}}}"#;
    let sse: Vec<String> = (0..20)
        .map(|i| format!("data: {{\"id\":\"chatcmpl-2\",\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"))
        .chain(std::iter::once("data: {\"id\":\"chatcmpl-2\",\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":20}}\n\ndata: [DONE]\n\n".to_owned()))
        .collect();
    let sse: Vec<&[u8]> = sse.iter().map(|s| s.as_bytes()).collect();
    let mut g = c.benchmark_group("LLM call");
    g.bench_function(
        "tracked by hand (track_llm, tokens, model, id, finish)",
        |b| {
            b.iter(|| {
                let call = botanu_core::track_llm("openai", "gpt-4o-mini");
                call.set_tokens((42, 7))
                    .set_request_id("chatcmpl-1")
                    .set_response_model("gpt-4o-mini-2024-07-18")
                    .set_finish_reason("stop");
                call.finish();
            })
        },
    );
    g.bench_function("recognised on the wire, JSON", |b| {
        b.iter(|| {
            botanu_core::__bench::wire_call(
                &endpoints,
                &url,
                request,
                &[black_box(response)],
                false,
            )
        })
    });
    g.bench_function("recognised on the wire, SSE (20 chunks + usage)", |b| {
        b.iter(|| botanu_core::__bench::wire_call(&endpoints, &url, request, black_box(&sse), true))
    });
    g.finish();
}

#[cfg(not(feature = "reqwest"))]
fn wire(_: &mut Criterion) {}

criterion_group!(
    benches,
    wire,
    enricher,
    sampled_processor,
    run_context,
    run_lifecycle,
    pii_and_llm,
    export_encoding,
    capture
);
criterion_main!(benches);
