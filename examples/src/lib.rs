//! Runnable demos of botanu-rs (see `examples/`): the shared pieces. The README's and the
//! guide's code blocks are compiled as doctests by the tests crate (`tests/src/lib.rs`), so
//! that the demos build nothing but the framework they show.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use botanu_receiver::receiver::Receiver;

/// Whether the environment names a collector (`OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `BOTANU_COLLECTOR_ENDPOINT`) or an API key: then demos export there.
pub fn collector_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "BOTANU_COLLECTOR_ENDPOINT",
        "BOTANU_API_KEY",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
}

/// Whether botanu has a destination of its own (`BOTANU_COLLECTOR_ENDPOINT`, `BOTANU_API_KEY`):
/// what counts when the app has its own pipeline, whose `OTEL_EXPORTER_OTLP_*` botanu leaves
/// alone.
pub fn botanu_destination_configured() -> bool {
    ["BOTANU_COLLECTOR_ENDPOINT", "BOTANU_API_KEY"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
}

/// `id` percent-encoded for one URL path segment (`../x` stays one segment).
pub fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The in-repo OTLP receiver on 127.0.0.1, unless a collector is configured.
pub fn local_receiver_unless_configured() -> Option<Receiver> {
    (!collector_configured()).then(|| Receiver::start().expect("start the local OTLP receiver"))
}

/// The tickets the demos send themselves: (id, customer, question, streamed answer).
pub const TICKETS: [(&str, &str, &str, bool); 5] = [
    ("T-1001", "acme", "How do I reset my password?", false),
    (
        "T-1002",
        "globex",
        "Can you explain my last invoice?",
        false,
    ),
    ("T-1003", "initech", "Where is my order?", true),
    ("T-1004", "umbrella", "The app says crash on login", false),
    ("T-1005", "acme", "How do I get a refund?", false),
];

/// Sends [`TICKETS`] to the support desk at `addr` and prints each answer.
pub async fn send_tickets(addr: std::net::SocketAddr) {
    use botanu_receiver::http::{body, loopback_client, request, send};
    let mut client = loopback_client();
    for (id, customer, question, stream) in TICKETS {
        let uri = format!(
            "http://{addr}/tickets/{id}{}",
            if stream { "?stream=true" } else { "" }
        );
        let req = request("POST", &uri)
            .header("x-customer-id", customer)
            .header("content-type", "application/json");
        let json = serde_json::json!({ "question": question }).to_string();
        match send(&mut client, body(req, &json)).await {
            Ok(reply) => println!(
                "{id} {customer:<9} → {} {}",
                reply.status,
                reply.body.trim()
            ),
            Err(e) => println!("{id} {customer:<9} → error: {e}"),
        }
    }
}

/// The demo's model: an OpenAI-compatible chat endpoint on 127.0.0.1 (simulated answers and
/// token counts, as a provider returns them), called through reqwest with
/// [`BotanuPropagation`](botanu_core::BotanuPropagation), which recognises the call on the wire
/// and records it as a GenAI span with the response's usage. The demo's code sets no token
/// count.
struct Model {
    client: reqwest_middleware::ClientWithMiddleware,
    url: String,
}

static MODEL: tokio::sync::OnceCell<Model> = tokio::sync::OnceCell::const_new();

async fn model() -> &'static Model {
    MODEL
        .get_or_init(|| async {
            let app = axum::Router::new().route(
                "/v1/chat/completions",
                axum::routing::post(chat_completions),
            );
            let addr = botanu_receiver::http::serve(app).await;
            let endpoints = botanu_core::llm::LlmEndpoints::default()
                .openai_compatible(&addr.to_string(), "demo");
            Model {
                client: reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                    .with(botanu_core::BotanuPropagation::new().with_llm_endpoints(endpoints))
                    .build(),
                url: format!("http://{addr}/v1/chat/completions"),
            }
        })
        .await
}

/// The simulated provider: answers, and counts tokens the way a provider reports them.
async fn chat_completions(
    axum::Json(request): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let question = request["messages"][0]["content"].as_str().unwrap_or("");
    tokio::time::sleep(Duration::from_millis(15)).await;
    let answer = format!("Thanks for asking \"{question}\": here is what to do next.");
    let input_tokens = 40 + question.split_whitespace().count() * 3;
    axum::Json(serde_json::json!({
        "id": format!("chatcmpl-demo-{}", question.len()),
        "object": "chat.completion",
        "model": "support-model-small-2026-11",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": 64, "total_tokens": input_tokens + 64},
    }))
}

/// Asks the demo's model, as an app asks its provider: an HTTP request, nothing else.
pub async fn ask_model(question: &str) -> String {
    let model = model().await;
    let request = serde_json::json!({
        "model": "support-model-small",
        "temperature": 0.2,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": question}],
    });
    let reply = model
        .client
        .post(&model.url)
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await;
    let text = match reply {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return format!("the model is unavailable: {e}"),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

use botanu_receiver::receiver::{ReceivedSpan, Val};

/// Prints one row per run found in `spans`: run id, workflow, event, customer, status, spans,
/// duration, input/output tokens.
pub fn print_runs(spans: &[ReceivedSpan]) {
    let mut per_run: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for s in spans {
        if let Some(id) = s.attr("botanu.run_id") {
            per_run.entry(id).or_default().push(s);
        }
    }
    println!(
        "\n{:<37} {:<17} {:<9} {:<9} {:<8} {:>3} {:>5} {:>8} {:>9}",
        "run_id", "workflow", "event_id", "customer", "status", "att", "spans", "ms", "tokens"
    );
    for (run_id, spans) in per_run {
        let Some(run) = spans.iter().find(|s| s.name.starts_with("botanu.run/")) else {
            continue;
        };
        let status = run
            .events
            .iter()
            .find(|e| e.name == "botanu.run.completed")
            .and_then(|e| e.attributes.get("status"))
            .and_then(Val::as_str)
            .unwrap_or("?");
        let ms = match run.attributes.get("botanu.run.duration_ms") {
            Some(Val::Double(d)) => format!("{d:.1}"),
            _ => "-".into(),
        };
        let tokens = |key: &str| -> i64 {
            spans
                .iter()
                .filter_map(|s| match s.attributes.get(key) {
                    Some(Val::Int(n)) => Some(*n),
                    _ => None,
                })
                .sum()
        };
        let attempt = match run.attributes.get("botanu.attempt") {
            Some(Val::Int(n)) => n.to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<37} {:<17} {:<9} {:<9} {:<8} {:>3} {:>5} {:>8} {:>9}",
            run_id,
            run.attr("botanu.workflow").unwrap_or("?"),
            run.attr("botanu.event_id").unwrap_or("?"),
            run.attr("botanu.customer_id").unwrap_or("-"),
            status,
            attempt,
            spans.len(),
            ms,
            format!(
                "{}/{}",
                tokens("gen_ai.usage.input_tokens"),
                tokens("gen_ai.usage.output_tokens")
            ),
        );
    }
}

/// Installs botanu for a demo: from the environment, named `service`, exporting to `receiver`
/// when there is one.
pub fn install(service: &str, receiver: Option<&Receiver>) -> botanu_core::Botanu {
    let mut config = botanu_core::BotanuConfig::from_env()
        .with_service_name(service)
        .with_schedule_delay(Duration::from_millis(100));
    if let Some(r) = receiver {
        config = config.with_endpoint(r.endpoint());
    }
    botanu_core::enable_with(config).unwrap_or_else(|e| panic!("botanu configuration: {e}"))
}

/// Flushes, then prints the runs `receiver` got (after at least `runs` run spans arrived), or
/// the export counters when the demo exported elsewhere.
pub fn report(botanu: &botanu_core::Botanu, receiver: Option<&Receiver>, runs: usize) {
    let _ = botanu.force_flush();
    match receiver {
        Some(r) => {
            r.wait_for(Duration::from_secs(10), |spans| {
                spans
                    .iter()
                    .filter(|s| s.name.starts_with("botanu.run/"))
                    .count()
                    >= runs
            });
            print_runs(&r.spans());
            println!(
                "\nreceived over OTLP/HTTP at {}: {} spans",
                r.endpoint(),
                r.spans().len()
            );
        }
        None => println!(
            "\nexported to the configured endpoint: {:?}",
            botanu.stats()
        ),
    }
}
