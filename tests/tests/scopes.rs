//! Runs outside HTTP: scopes (sync and async), nesting, errors, panics and drops, the
//! `#[workflow]` attribute on functions and methods, a producer → queue → consumer hand-off
//! with a redelivery, and the retry helper — all checked on spans at the OTLP receiver.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use botanu_core::{workflow, RunContext};
use botanu_tests::env::{completed_attr, TestEnv};
use botanu_tests::receiver::{ReceivedSpan, Val};
use opentelemetry::global;
use opentelemetry::trace::Tracer;

fn run(name: &str, event: &str, n: usize) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    TestEnv::get().run(&format!("botanu.run/{name}"), event, n)
}

fn status(run: &ReceivedSpan) -> String {
    completed_attr(run, "status").unwrap()
}

#[derive(Debug)]
struct QuotaExceeded;

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("quota of 100 calls exceeded")
    }
}

#[test]
fn sync_scope_success_error_and_panic() {
    let _ = TestEnv::get();
    let v: Result<u32, QuotaExceeded> = workflow("Sync Job")
        .event_id("sync-ok")
        .customer_id("acme")
        .run_sync(|| {
            global::tracer("job").in_span("step", |_| {});
            assert_eq!(RunContext::current().unwrap().event_id(), "sync-ok");
            Ok(7)
        });
    assert_eq!(v.unwrap(), 7);
    let (ok, spans) = run("Sync Job", "sync-ok", 2);
    assert_eq!(status(&ok), "success");
    assert_eq!(ok.kind, 2);
    assert!(ok.events.iter().any(|e| e.name == "botanu.run.started"));
    let step = spans.iter().find(|s| s.name == "step").unwrap();
    assert_eq!(step.attr("botanu.customer_id"), Some("acme"));

    let e: Result<(), QuotaExceeded> = workflow("Sync Job")
        .event_id("sync-err")
        .run_sync(|| Err(QuotaExceeded));
    assert!(e.is_err());
    let (err, _) = run("Sync Job", "sync-err", 1);
    assert_eq!(status(&err), "failure");
    assert_eq!(
        completed_attr(&err, "error_class").as_deref(),
        Some("QuotaExceeded")
    );
    // `Type: message`, the message in the error's Display form (the reference's str(e)).
    assert_eq!(
        err.status,
        (2, "QuotaExceeded: quota of 100 calls exceeded".to_owned())
    );
    // The error is recorded as an exception, once, as the reference SDK records a raised one.
    let exceptions: Vec<_> = err
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(
        exceptions[0]
            .attributes
            .get("exception.type")
            .and_then(Val::as_str),
        Some("QuotaExceeded")
    );
    assert_eq!(
        exceptions[0]
            .attributes
            .get("exception.message")
            .and_then(Val::as_str),
        Some("quota of 100 calls exceeded")
    );

    let panicked = std::panic::catch_unwind(|| {
        workflow("Sync Job")
            .event_id("sync-panic")
            .run_sync_any(|| panic!("job exploded"))
    });
    assert!(panicked.is_err(), "the panic keeps unwinding");
    let (p, _) = run("Sync Job", "sync-panic", 1);
    assert_eq!(completed_attr(&p, "error_class").as_deref(), Some("panic"));
    assert!(p.status.1.contains("job exploded"));
    assert!(p.events.iter().any(|e| e.name == "exception"
        && e.attributes.get("exception.message").and_then(Val::as_str) == Some("job exploded")));
    assert!(
        RunContext::current().is_none(),
        "context restored after the scope"
    );
}

#[tokio::test]
async fn async_scope_nesting_and_drop() {
    let _ = TestEnv::get();
    let (outer_id, inner_id) = workflow("Outer Job")
        .event_id("nest-1")
        .customer_id("globex")
        .tenant_id("t-7")
        .run_any(async {
            let outer = RunContext::current().unwrap();
            let inner: Result<String, QuotaExceeded> = workflow("Inner Job")
                .run(async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    global::tracer("job").in_span("inner work", |_| {});
                    Ok(RunContext::current().unwrap().run_id().to_owned())
                })
                .await;
            (outer.run_id().to_owned(), inner.unwrap())
        })
        .await;
    let (outer, _) = run("Outer Job", "nest-1", 1);
    let (inner, spans) = run("Inner Job", "nest-1", 2);
    assert_eq!(outer.attr("botanu.run_id"), Some(outer_id.as_str()));
    assert_eq!(inner.attr("botanu.run_id"), Some(inner_id.as_str()));
    assert_eq!(inner.attr("botanu.parent_run_id"), Some(outer_id.as_str()));
    assert_eq!(inner.attr("botanu.root_run_id"), Some(inner_id.as_str()));
    assert_eq!(
        inner.attr("botanu.customer_id"),
        Some("globex"),
        "inherited"
    );
    assert_eq!(inner.attr("botanu.tenant_id"), Some("t-7"));
    assert_eq!(inner.trace_id, outer.trace_id);
    assert_eq!(inner.parent_span_id, outer.span_id);
    assert!(spans.iter().any(|s| s.name == "inner work"));

    // A scope future dropped before it finishes: canceled.
    let fut = workflow("Dropped Job").event_id("drop-1").run_any(async {
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let _ = tokio::time::timeout(Duration::from_millis(20), fut).await;
    let (dropped, _) = run("Dropped Job", "drop-1", 1);
    assert_eq!(status(&dropped), "canceled");
}

// ---- the attribute ----------------------------------------------------------------------

struct Ticket {
    id: u64,
    org: String,
}

#[derive(Debug)]
struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such ticket")
    }
}

fn lookup(id: u64) -> Result<u64, NotFound> {
    if id == 404 {
        Err(NotFound)
    } else {
        Ok(id * 2)
    }
}

#[botanu_core::workflow(name = "Macro Support", event_id = format!("m-{}", ticket.id), customer_id = ticket.org)]
async fn resolve(ticket: &Ticket) -> Result<u64, NotFound> {
    let doubled = lookup(ticket.id)?;
    if doubled == 0 {
        return Ok(0);
    }
    global::tracer("job").in_span("macro work", |_| {});
    Ok(doubled)
}

#[botanu_core::workflow(name = "Macro Sync", event_id = label)]
fn count_words(label: &str, text: &str) -> usize {
    text.split_whitespace().count()
}

struct Agent {
    name: String,
    steps: u32,
}

impl Agent {
    #[botanu_core::workflow(name = "Agent Loop", event_id = self.name, tenant_id = "tenant-a")]
    async fn step(&mut self) -> Result<u32, NotFound> {
        self.steps += 1;
        Ok(self.steps)
    }

    #[botanu_core::workflow(name = "Agent Report", event_id = format!("{}-report", self.name))]
    fn report(&self) -> String {
        format!("{} did {} steps", self.name, self.steps)
    }
}

#[tokio::test]
async fn workflow_attribute_on_functions_and_methods() {
    let _ = TestEnv::get();
    let t = Ticket {
        id: 21,
        org: "initech".into(),
    };
    assert_eq!(resolve(&t).await.unwrap(), 42);
    let (ok, spans) = run("Macro Support", "m-21", 2);
    assert_eq!(status(&ok), "success");
    assert_eq!(ok.attr("botanu.customer_id"), Some("initech"));
    let version = ok.attr("botanu.workflow.version").unwrap().to_owned();
    assert!(
        version.starts_with("v:") && version.len() == 14,
        "{version}"
    );
    assert!(spans.iter().any(|s| s.name == "macro work"));

    // `?` inside the body fails the run.
    let missing = Ticket {
        id: 404,
        org: "initech".into(),
    };
    assert!(resolve(&missing).await.is_err());
    let (err, _) = run("Macro Support", "m-404", 1);
    assert_eq!(status(&err), "failure");
    assert_eq!(
        completed_attr(&err, "error_class").as_deref(),
        Some("NotFound")
    );
    assert_eq!(
        err.attr("botanu.workflow.version"),
        Some(version.as_str()),
        "stable"
    );

    assert_eq!(count_words("words-1", "a b c"), 3);
    let (sync, _) = run("Macro Sync", "words-1", 1);
    assert_eq!(status(&sync), "success");
    assert_ne!(sync.attr("botanu.workflow.version"), Some(version.as_str()));

    let mut agent = Agent {
        name: "agent-7".into(),
        steps: 0,
    };
    assert_eq!(agent.step().await.unwrap(), 1);
    assert_eq!(agent.report(), "agent-7 did 1 steps");
    let (step, _) = run("Agent Loop", "agent-7", 1);
    assert_eq!(step.attr("botanu.tenant_id"), Some("tenant-a"));
    let (report, _) = run("Agent Report", "agent-7-report", 1);
    assert_eq!(status(&report), "success");
}

// ---- queue hand-off ---------------------------------------------------------------------

struct Message {
    headers: HashMap<String, String>,
    body: String,
}

#[tokio::test]
async fn producer_queue_consumer_and_redelivery() {
    let _ = TestEnv::get();
    let mut queue: VecDeque<Message> = VecDeque::new();

    // Producer: a run that enqueues a message carrying its context.
    let producer_id = workflow("Ticket Intake")
        .event_id("queue-1")
        .customer_id("umbrella")
        .run_any(async {
            let run = RunContext::current().unwrap();
            let mut headers = HashMap::new();
            run.inject(&mut headers);
            queue.push_back(Message {
                headers,
                body: "summarize".into(),
            });
            run.run_id().to_owned()
        })
        .await;

    // Consumer, first delivery: continues the producer's run, fails, requeues with its run.
    let msg = queue.pop_front().unwrap();
    assert_eq!(
        RunContext::extract(&msg.headers).unwrap().run_id(),
        producer_id
    );
    let first: Result<(), QuotaExceeded> = workflow("Ticket Worker")
        .parent_from(&msg.headers)
        .run(async {
            let run = RunContext::current().unwrap();
            let mut headers = msg.headers.clone();
            run.inject(&mut headers);
            queue.push_back(Message {
                headers,
                body: msg.body.clone(),
            });
            Err(QuotaExceeded)
        })
        .await;
    assert!(first.is_err());

    // Redelivery: attempt 2 of the same root.
    let msg = queue.pop_front().unwrap();
    let previous = RunContext::extract(&msg.headers).unwrap();
    let second: Result<(), QuotaExceeded> = workflow("Ticket Worker")
        .parent_from(&msg.headers)
        .retry_of(&previous)
        .run(async { Ok(()) })
        .await;
    assert!(second.is_ok());

    let (producer, _) = run("Ticket Intake", "queue-1", 1);
    let env = TestEnv::get();
    let _ = env.botanu.force_flush();
    assert!(env.receiver.wait_for(Duration::from_secs(10), |spans| {
        spans
            .iter()
            .filter(|s| {
                s.name == "botanu.run/Ticket Worker" && s.attr("botanu.event_id") == Some("queue-1")
            })
            .count()
            == 2
    }));
    let mut workers: Vec<ReceivedSpan> = env
        .receiver
        .spans()
        .into_iter()
        .filter(|s| {
            s.name == "botanu.run/Ticket Worker" && s.attr("botanu.event_id") == Some("queue-1")
        })
        .collect();
    workers.sort_by_key(|s| match s.attributes.get("botanu.attempt") {
        Some(Val::Int(n)) => *n,
        _ => 0,
    });
    let (attempt1, attempt2) = (&workers[0], &workers[1]);
    for w in [attempt1, attempt2] {
        assert_eq!(w.trace_id, producer.trace_id, "same trace");
        assert_eq!(w.attr("botanu.parent_run_id"), Some(producer_id.as_str()));
        assert_eq!(w.attr("botanu.customer_id"), Some("umbrella"));
    }
    assert_eq!(
        attempt1.attributes.get("botanu.attempt"),
        Some(&Val::Int(1))
    );
    assert_eq!(status(attempt1), "failure");
    assert_eq!(
        attempt2.attributes.get("botanu.attempt"),
        Some(&Val::Int(2))
    );
    assert_eq!(
        attempt2.attr("botanu.root_run_id"),
        attempt1.attr("botanu.run_id")
    );
    assert_eq!(
        attempt2.attr("botanu.retry_of_run_id"),
        attempt1.attr("botanu.run_id")
    );
    assert_eq!(status(attempt2), "success");
}

#[tokio::test]
async fn retry_helper_makes_each_attempt_a_run_of_one_chain() {
    let env = TestEnv::get();
    let mut calls = 0;
    let result: Result<&str, QuotaExceeded> = workflow("Flaky Call")
        .event_id("retry-1")
        .customer_id("acme")
        .run_retrying(3, |run| {
            calls += 1;
            let attempt = run.attempt();
            async move {
                if attempt < 3 {
                    Err(QuotaExceeded)
                } else {
                    Ok("done")
                }
            }
        })
        .await;
    assert_eq!(result.unwrap(), "done");
    assert_eq!(calls, 3);
    let _ = env.botanu.force_flush();
    let is_flaky = |s: &ReceivedSpan| {
        s.name == "botanu.run/Flaky Call" && s.attr("botanu.event_id") == Some("retry-1")
    };
    assert!(env.receiver.wait_for(Duration::from_secs(10), |spans| spans
        .iter()
        .filter(|s| is_flaky(s))
        .count()
        == 3));
    let mut runs: Vec<ReceivedSpan> = env.receiver.spans().into_iter().filter(is_flaky).collect();
    runs.sort_by_key(|s| match s.attributes.get("botanu.attempt") {
        Some(Val::Int(n)) => *n,
        _ => 0,
    });
    let first = runs[0].attr("botanu.run_id").unwrap().to_owned();
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(
            r.attributes.get("botanu.attempt"),
            Some(&Val::Int(i as i64 + 1))
        );
        assert_eq!(r.attr("botanu.root_run_id"), Some(first.as_str()));
        assert_eq!(r.attr("botanu.customer_id"), Some("acme"));
        if i > 0 {
            assert_eq!(
                r.attr("botanu.retry_of_run_id"),
                runs[i - 1].attr("botanu.run_id")
            );
        }
    }
    assert_eq!(status(&runs[0]), "failure");
    assert_eq!(status(&runs[1]), "failure");
    assert_eq!(status(&runs[2]), "success");

    // The sync form gives up after the last attempt.
    let r: Result<(), QuotaExceeded> = workflow("Flaky Sync")
        .event_id("retry-2")
        .run_sync_retrying(2, |_run| Err(QuotaExceeded));
    assert!(r.is_err());
    let is_sync = |s: &ReceivedSpan| {
        s.name == "botanu.run/Flaky Sync" && s.attr("botanu.event_id") == Some("retry-2")
    };
    let _ = env.botanu.force_flush();
    assert!(env.receiver.wait_for(Duration::from_secs(10), |spans| spans
        .iter()
        .filter(|s| is_sync(s))
        .count()
        == 2));
    let attempts: Vec<Option<Val>> = env
        .receiver
        .spans()
        .into_iter()
        .filter(is_sync)
        .map(|s| s.attributes.get("botanu.attempt").cloned())
        .collect();
    assert!(attempts.contains(&Some(Val::Int(1))) && attempts.contains(&Some(Val::Int(2))));
}
