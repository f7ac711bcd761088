//! Parity with the reference Python SDK on one scenario through the public API: a run with
//! steps (one failing), an outcome emitted inside a step, an int and a float amount, and the
//! resource that tells instances apart. Asserts the wire names, value types and events the
//! reference writes (`../shared/reference/python-sdk-behaviour.md` §3.4, §3.9, §8.1, §13.1).

use botanu_core::propagation::{decode_header, PropagationPolicy};
use botanu_core::{emit_outcome, step, workflow, Outcome};
use botanu_tests::env::TestEnv;
use botanu_tests::receiver::{span_named, ReceivedSpan, Val};
use opentelemetry::Context;
use opentelemetry_http::HeaderInjector;

#[derive(Debug)]
struct IndexUnavailable;

impl std::fmt::Display for IndexUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the search index is rebuilding")
    }
}

fn events<'a>(s: &'a ReceivedSpan, name: &str) -> Vec<&'a botanu_tests::receiver::ReceivedEvent> {
    s.events.iter().filter(|e| e.name == name).collect()
}

#[derive(Debug)]
struct Ticket {
    id: u32,
    note: String,
}

#[derive(Debug)]
struct Summary {
    words: usize,
}

/// The reference's `capture_input=True`.
#[botanu_core::workflow(name = "Digest", event_id = ticket.id, capture_input = true)]
async fn digest(ticket: &Ticket, lang: &str) -> Result<Summary, IndexUnavailable> {
    if ticket.id == 0 {
        return Err(IndexUnavailable);
    }
    let _ = lang;
    Ok(Summary {
        words: ticket.note.split_whitespace().count(),
    })
}

#[botanu_core::workflow(name = "Digest", event_id = ticket.id, capture_input = false)]
fn digest_uncaptured(ticket: &Ticket) -> usize {
    ticket.note.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_content_is_captured_as_the_reference_does() {
    let env = TestEnv::get();
    let ticket = Ticket {
        id: 41,
        note: "reset for jane@example.com please".to_owned(),
    };
    assert_eq!(digest(&ticket, "en").await.unwrap().words, 4);
    let (run, _) = env.run("botanu.run/Digest", "41", 1);
    // The arguments by name, each in its Debug form, scrubbed.
    assert_eq!(
        run.attr("botanu.eval.input_content"),
        Some(r#"{"ticket": Ticket { id: 41, note: "reset for [REDACTED] please" }, "lang": "en"}"#)
    );
    assert_eq!(
        run.attr("botanu.eval.output_content"),
        Some("Summary { words: 4 }")
    );

    // A failed call: the input, no output (as the reference writes it only on success).
    let failing = Ticket {
        id: 0,
        note: String::new(),
    };
    assert!(digest(&failing, "en").await.is_err());
    let (run, _) = env.run("botanu.run/Digest", "0", 1);
    assert!(run.attr("botanu.eval.input_content").is_some());
    assert_eq!(run.attr("botanu.eval.output_content"), None);

    // Turned off: nothing.
    let quiet = Ticket {
        id: 42,
        note: "x".to_owned(),
    };
    assert_eq!(digest_uncaptured(&quiet), 1);
    let (run, _) = env.run("botanu.run/Digest", "42", 1);
    assert_eq!(run.attr("botanu.eval.input_content"), None);
    assert_eq!(run.attr("botanu.eval.output_content"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_outcomes_and_resource_as_the_reference_writes_them() {
    let env = TestEnv::get();
    let baggage = workflow("Research Agent")
        .event_id("parity-1")
        .customer_id("acme")
        .run(async {
            // A step as a future: an `Err` fails it.
            let failed: Result<(), IndexUnavailable> =
                step("retrieval").run(async { Err(IndexUnavailable) }).await;
            assert!(failed.is_err());
            // A step as a guard, with an outcome emitted inside it and the step's baggage on
            // an outbound request.
            let answer = step("answer");
            let header = {
                let _inside = answer.enter();
                emit_outcome(
                    Outcome::success()
                        .value("tickets_resolved", 1)
                        .confidence(0.9),
                );
                let mut headers = http::HeaderMap::new();
                PropagationPolicy::global().inject(
                    &Context::current(),
                    Some("localhost"),
                    &mut HeaderInjector(&mut headers),
                );
                headers
                    .get("baggage")
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            answer.end();
            // A float amount keeps its type.
            emit_outcome(Outcome::success().value("refund_usd", 12.5));
            Ok::<_, IndexUnavailable>(header)
        })
        .await
        .unwrap();

    let (run, spans) = env.run("botanu.run/Research Agent", "parity-1", 3);

    // §3.9: `botanu.step/<name>`, internal, scope botanu_sdk, a child of the run, with
    // `botanu.step`, the run's ids from the enricher, no events of its own on success.
    let answer = span_named(&spans, "botanu.step/answer");
    assert_eq!(answer.kind, 1, "internal");
    assert_eq!(answer.scope, "botanu_sdk");
    assert_eq!(answer.parent_span_id, run.span_id);
    assert_eq!(answer.attr("botanu.step"), Some("answer"));
    assert_eq!(answer.attr("botanu.run_id"), run.attr("botanu.run_id"));
    assert_eq!(answer.attr("botanu.customer_id"), Some("acme"));
    assert_eq!(
        answer.status.0, 0,
        "a step that succeeds keeps an unset status"
    );
    // The step's name rides in the baggage downstream, next to the run's keys.
    let baggage = decode_header(&baggage.expect("a baggage header to localhost"));
    assert_eq!(
        baggage.get("botanu.step").map(|v| v.as_str().to_owned()),
        Some("answer".to_owned())
    );
    assert_eq!(
        baggage.get("botanu.run_id").map(|v| v.as_str().to_owned()),
        run.attr("botanu.run_id").map(str::to_owned)
    );

    // §3.4 on a step: status `Type: message`, one `exception` event.
    let retrieval = span_named(&spans, "botanu.step/retrieval");
    assert_eq!(
        retrieval.status,
        (
            2,
            "IndexUnavailable: the search index is rebuilding".to_owned()
        )
    );
    let exceptions = events(retrieval, "exception");
    assert_eq!(exceptions.len(), 1);
    assert_eq!(
        exceptions[0].attributes.get("exception.type"),
        Some(&Val::Str("IndexUnavailable".to_owned()))
    );
    assert_eq!(
        exceptions[0].attributes.get("exception.message"),
        Some(&Val::Str("the search index is rebuilding".to_owned()))
    );

    // §8.1: the outcome on the current span (here the step), with the reference's names and
    // types: value_amount an int when the app gave an int.
    assert_eq!(
        answer.attr("botanu.outcome.value_type"),
        Some("tickets_resolved")
    );
    assert_eq!(
        answer.attributes.get("botanu.outcome.value_amount"),
        Some(&Val::Int(1))
    );
    assert_eq!(
        answer.attributes.get("botanu.outcome.confidence"),
        Some(&Val::Double(0.9))
    );
    let emitted = events(answer, "botanu.outcome_emitted");
    assert_eq!(emitted.len(), 1);
    assert_eq!(
        emitted[0].attributes.get("value_amount"),
        Some(&Val::Int(1))
    );
    assert!(!emitted[0].attributes.contains_key("confidence"));
    // And on the run span (botanu's model): both emits, each once; the later one decides.
    assert_eq!(events(&run, "botanu.outcome_emitted").len(), 2);
    assert_eq!(run.attr("botanu.outcome.value_type"), Some("refund_usd"));
    assert_eq!(
        run.attributes.get("botanu.outcome.value_amount"),
        Some(&Val::Double(12.5))
    );

    // §13.1: what tells this instance apart.
    let resource = &run.resource;
    assert!(matches!(resource.get("service.instance.id"), Some(Val::Str(id)) if !id.is_empty()));
    assert_eq!(
        resource.get("process.pid"),
        Some(&Val::Int(i64::from(std::process::id())))
    );
    assert_eq!(
        resource.get("host.arch").and_then(Val::as_str),
        Some(std::env::consts::ARCH)
    );
    assert_eq!(
        resource.get("telemetry.sdk.name").and_then(Val::as_str),
        Some("botanu")
    );
    assert!(
        !resource.contains_key("process.command_args"),
        "the command line may carry secrets"
    );
}
