//! The run travels in the `Context` as one typed value when botanu's propagator writes the
//! outbound `baggage` header; its `botanu.*` entries are then not copied into the context's
//! `Baggage`. The header is the same as when they are (`botanu.*` members byte for byte and in
//! order; the others, whose order follows a hash map, as a set) — what happens when the
//! app's own W3C propagator is global and would not see a typed run — for runs with every
//! kind of entry over parents with app baggage, an outer tenant and an outer run's retry keys.
//!
//! The global propagator is process-wide: one test switches it and checks both modes.

use std::collections::HashMap;
use std::time::Duration;

use botanu_core::{BaggagePropagator, RunContext};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::global;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::{
    BaggagePropagator as W3cBaggagePropagator, TraceContextPropagator,
};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn botanu_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

fn app_w3c_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(W3cBaggagePropagator::new()),
    ]));
}

/// The header the global propagator writes for `cx`.
fn global_header(cx: &Context) -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut carrier));
    carrier.remove("baggage")
}

/// A header's `botanu.*` members in their order, and the others sorted: the others follow a
/// `Baggage`'s hash-map order, which differs between two maps of the same entries.
fn members(header: Option<String>) -> Option<(Vec<String>, Vec<String>)> {
    let header = header?;
    let (botanu, mut others): (Vec<String>, Vec<String>) = header
        .split(',')
        .map(str::to_owned)
        .partition(|m| m.starts_with("botanu."));
    others.sort();
    Some((botanu, others))
}

fn botanu_header(cx: &Context) -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    BaggagePropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("baggage")
}

#[derive(Debug, Clone)]
struct Case {
    workflow: String,
    event: String,
    customer: String,
    tenant: Option<String>,
    attempt: i64,
    deadline: bool,
    app_entries: Vec<(String, String)>,
    outer_tenant: Option<String>,
    outer_retry: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        "[A-Za-z +é]{1,20}",
        "[a-z0-9-]{0,12}",
        "[a-z0-9 ]{0,12}",
        proptest::option::of("[a-z0-9]{1,8}"),
        1i64..4,
        any::<bool>(),
        proptest::collection::vec(("app\\.[a-z]{1,6}", "[a-z0-9%+ ]{0,10}"), 0..4),
        proptest::option::of("[a-z]{1,6}"),
        any::<bool>(),
    )
        .prop_map(
            |(workflow, event, customer, tenant, attempt, deadline, app, outer_tenant, retry)| {
                Case {
                    workflow,
                    event,
                    customer,
                    tenant,
                    attempt,
                    deadline,
                    app_entries: app,
                    outer_tenant,
                    outer_retry: retry,
                }
            },
        )
}

/// The parent context and the run of `case`, built the same way in both modes.
fn build(case: &Case) -> (Context, RunContext) {
    let mut entries: Vec<KeyValue> = case
        .app_entries
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    if let Some(t) = &case.outer_tenant {
        entries.push(KeyValue::new("botanu.tenant_id", t.clone()));
    }
    if case.outer_retry {
        entries.push(KeyValue::new("botanu.attempt", "7"));
        entries.push(KeyValue::new("botanu.retry_of_run_id", "outer-previous"));
    }
    let parent = Context::new().with_baggage(entries);
    let mut b = RunContext::builder(case.workflow.clone())
        .run_id("0192d6b0-0000-7000-8000-000000000001")
        .event_id(case.event.clone())
        .customer_id(case.customer.clone())
        .environment("test")
        .attempt(case.attempt);
    if let Some(t) = &case.tenant {
        b = b.tenant_id(t.clone());
    }
    if case.attempt > 1 {
        b = b
            .root_run_id("0192d6b0-0000-7000-8000-000000000000")
            .retry_of_run_id("0192d6b0-0000-7000-8000-00000000000f");
    }
    if case.deadline {
        b = b.deadline_at(std::time::UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    }
    (parent, b.build())
}

#[test]
fn typed_and_eager_runs_write_the_same_header() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
    runner
        .run(&case(), |case| {
            // Eager: the app's W3C propagator is global; the entries go into the Baggage.
            app_w3c_propagator();
            let (parent, run) = build(&case);
            let eager = run.to_context(&parent);
            prop_assert_eq!(
                eager.baggage().get("botanu.run_id").map(|v| v.as_str()),
                Some(run.run_id())
            );
            let eager_header = botanu_header(&eager);
            // The app's propagator carries the run too (in its own member order and encoding:
            // OpenTelemetry's W3C propagator leaves `+` as is, which Python reads as a space).
            prop_assert!(global_header(&eager).is_some_and(|h| h.contains(run.run_id())));

            // Typed: botanu's propagator is global; the Baggage keeps only the other entries.
            botanu_propagator();
            let typed = run.to_context(&parent);
            prop_assert!(typed.baggage().get("botanu.run_id").is_none());
            prop_assert_eq!(
                RunContext::from_context(&typed).map(|r| r.run_id().to_owned()),
                Some(run.run_id().to_owned())
            );
            for (k, v) in &case.app_entries {
                let kept = typed
                    .baggage()
                    .get(k.as_str())
                    .map(|v| v.as_str().to_owned());
                // The last of duplicate keys wins in both.
                let expected = case
                    .app_entries
                    .iter()
                    .rev()
                    .find(|(k2, _)| k2 == k)
                    .map(|(_, v)| v.clone());
                prop_assert_eq!(
                    kept.as_deref(),
                    expected.as_deref(),
                    "app entry {} = {}",
                    k,
                    v
                );
            }
            prop_assert_eq!(
                members(botanu_header(&typed)),
                members(eager_header.clone())
            );
            prop_assert_eq!(members(global_header(&typed)), members(eager_header));
            Ok(())
        })
        .unwrap();

    // A propagator without botanu's baggage, installed after runs were typed, is noticed at
    // the next run: the run goes back into the Baggage and downstream still gets it.
    botanu_propagator();
    let run = RunContext::new("Support", "t-1", "acme");
    assert!(run
        .to_context(&Context::new())
        .baggage()
        .get("botanu.run_id")
        .is_none());
    app_w3c_propagator();
    let cx = run.to_context(&Context::new());
    assert_eq!(
        cx.baggage().get("botanu.run_id").map(|v| v.as_str()),
        Some(run.run_id())
    );
    assert!(global_header(&cx).unwrap().contains(run.run_id()));
}
