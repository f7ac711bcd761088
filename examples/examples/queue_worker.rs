//! Runs outside HTTP: a producer and a queue consumer, offline.
//!
//! `cargo run -p botanu-examples --example queue_worker`
//!
//! The producer is a function with `#[workflow(…)]` (the Rust form of the Python SDK's
//! `@botanu_workflow`); it puts each ticket on an in-memory queue with the run's context in
//! the message headers (`RunContext::inject`). The consumer continues that run from the headers
//! (`parent_from`): same trace, `parent_run_id` = the producer's run, same event and customer.
//! One message fails on its first delivery and is requeued with the failed run in its headers;
//! the redelivery is attempt 2 of the same root (`retry_of`). A table of the runs follows.

use std::collections::{HashMap, VecDeque};

use botanu_core::{workflow, RunContext};

struct Ticket {
    id: String,
    org: String,
    text: String,
}

struct Message {
    headers: HashMap<String, String>,
    text: String,
    deliveries: u32,
}

#[derive(Debug)]
struct ModelOverloaded;

impl std::fmt::Display for ModelOverloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the model is overloaded, try again")
    }
}

#[botanu_core::workflow(name = "Ticket Intake", event_id = ticket.id, customer_id = ticket.org)]
async fn intake(ticket: &Ticket, queue: &mut VecDeque<Message>) -> Result<(), ModelOverloaded> {
    let mut headers = HashMap::new();
    if let Some(run) = RunContext::current() {
        run.inject(&mut headers);
    }
    queue.push_back(Message {
        headers,
        text: ticket.text.clone(),
        deliveries: 0,
    });
    Ok(())
}

async fn summarize(message: &Message) -> Result<String, ModelOverloaded> {
    // The first delivery of the "outage" ticket fails, as an overloaded model would.
    if message.text.contains("outage") && message.deliveries == 1 {
        return Err(ModelOverloaded);
    }
    botanu_examples::ask_model(&message.text).await;
    Ok(format!("summary of {:?}", message.text))
}

#[tokio::main]
async fn main() {
    let receiver = botanu_examples::local_receiver_unless_configured();
    let botanu = botanu_examples::install("queue-worker", receiver.as_ref());

    let mut queue = VecDeque::new();
    for (id, org, text) in [
        ("Q-1", "acme", "password reset loop"),
        ("Q-2", "globex", "billing outage since Monday"),
        ("Q-3", "initech", "export to CSV"),
    ] {
        let ticket = Ticket {
            id: id.into(),
            org: org.into(),
            text: text.into(),
        };
        intake(&ticket, &mut queue).await.expect("enqueue");
    }

    while let Some(mut message) = queue.pop_front() {
        message.deliveries += 1;
        let mut scope = workflow("Ticket Summarizer").parent_from(&message.headers);
        if message.deliveries > 1 {
            if let Some(previous) = RunContext::extract(&message.headers) {
                scope = scope.retry_of(&previous);
            }
        }
        let mut requeue_headers = None;
        let result = scope
            .run(async {
                let outcome = summarize(&message).await;
                if outcome.is_err() {
                    // Requeue with this (failed) run, so the redelivery continues its chain.
                    let mut headers = message.headers.clone();
                    if let Some(run) = RunContext::current() {
                        run.inject(&mut headers);
                    }
                    requeue_headers = Some(headers);
                }
                outcome
            })
            .await;
        match (result, requeue_headers) {
            (Ok(summary), _) => println!("delivery {}: {summary}", message.deliveries),
            (Err(e), Some(headers)) => {
                println!("delivery {}: {e:?}, requeued", message.deliveries);
                queue.push_back(Message { headers, ..message });
            }
            (Err(e), None) => println!("delivery {}: {e:?}", message.deliveries),
        }
    }

    botanu_examples::report(&botanu, receiver.as_ref(), 7);
    println!(
        "Q-2's summarizer ran twice: attempt 1 failed, attempt 2 is its retry (same root run)."
    );
    let _ = botanu.shutdown();
}
