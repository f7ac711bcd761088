//! The cost of keeping the app's view unchanged in migrated mode (ARCHITECTURE.md, "Install modes"), per span.
//!
//! `cargo bench -p botanu-core --bench migrated`
//!
//! botanu is installed with `Botanu::builder()` and one app processor (a no-op), export off,
//! so what is measured is the path every span takes: the app's sampler (always on), the
//! enricher, the app's processor with its copy of the span, and for botanu's spans the
//! bypass of both. Each benchmark also runs on a plain `SdkTracerProvider` with the same no-op
//! processor (the app without botanu) as the baseline of the same run.

mod common;

use std::hint::black_box;

use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{BotanuConfig, RunStatus};
use common::Noop as AppProcessor;
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Span as _, Tracer, TracerProvider};
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracerProvider;

fn migrated(c: &mut Criterion) {
    let _botanu = botanu_core::Botanu::builder()
        .with_span_processor(AppProcessor)
        .with_config(BotanuConfig::default().with_export(false))
        .install()
        .expect("install");
    let without_botanu = SdkTracerProvider::builder()
        .with_span_processor(AppProcessor)
        .build();
    let app = opentelemetry::global::tracer("app");
    let plain = without_botanu.tracer("app");

    let active = RunSpec::new("Customer Support")
        .event_id(Some("ticket-42".into()))
        .customer_id(Some("acme".into()))
        .start(&Context::new());
    let in_run = active.context().clone();

    let mut g = c.benchmark_group("migrated");
    g.bench_function("app span, no botanu (baseline)", |b| {
        b.iter(|| {
            plain
                .start_with_context("child", black_box(&Context::new()))
                .end()
        })
    });
    g.bench_function("app span inside a run", |b| {
        b.iter(|| app.start_with_context("child", black_box(&in_run)).end())
    });
    g.bench_function("app span outside runs", |b| {
        b.iter(|| {
            app.start_with_context("child", black_box(&Context::new()))
                .end()
        })
    });
    g.bench_function("botanu LLM span inside a run", |b| {
        let _inside = in_run.clone().attach();
        b.iter(|| botanu_core::track_llm("openai", "gpt-4o").finish())
    });
    g.bench_function("run start + finish", |b| {
        b.iter(|| {
            RunSpec::new("Customer Support")
                .event_id(Some("ticket-42".into()))
                .customer_id(Some("acme".into()))
                .start(black_box(&Context::new()))
                .finish(RunEnd::new(RunStatus::Success))
        })
    });
    g.finish();
    active.finish(RunEnd::new(RunStatus::Success));
}

criterion_group!(benches, migrated);
criterion_main!(benches);
