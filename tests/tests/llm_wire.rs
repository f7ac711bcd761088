//! LLM provider calls recognised on the wire by `BotanuPropagation`, against a fake
//! OpenAI-compatible (and Anthropic) server on 127.0.0.1: plain JSON, SSE with and without a
//! usage chunk, errors, a stream dropped early, a malformed body, a call the app tracks by hand.
//! Exported spans carry the GenAI attributes with the right numbers and the run's ids, and the
//! app receives byte-identical bodies.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{BotanuPropagation, RunStatus};
use botanu_tests::env::TestEnv;
use botanu_tests::http::serve;
use botanu_tests::receiver::{span_named, Val};
use opentelemetry::context::FutureExt;
use opentelemetry::Context;

const CHAT_JSON: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Reset it from Settings."},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49,"prompt_tokens_details":{"cached_tokens":10}}}"#;

fn sse_chunks(with_usage: bool) -> Vec<String> {
    let chunk = |content: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-2\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let mut out = vec![
        chunk("Re", "null"),
        chunk("set ", "null"),
        chunk("it.", "\"stop\""),
    ];
    if with_usage {
        out.push("data: {\"id\":\"chatcmpl-2\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":3,\"total_tokens\":34}}\n\n".to_owned());
    }
    out.push("data: [DONE]\n\n".to_owned());
    out
}

const ANTHROPIC_SSE: [&str; 5] = [
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_read_input_tokens\":5}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":12}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    "",
];

fn stream(parts: Vec<String>, then_hang: bool) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        (parts.into_iter(), then_hang),
        |(mut it, hang)| async move {
            match it.next() {
                Some(p) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((Ok::<_, std::io::Error>(p), (it, hang)))
                }
                None if hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    None
                }
                None => None,
            }
        },
    ))
}

/// The `traceparent` and `baggage` headers each chat request arrived with.
static HEADERS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

async fn chat(headers: http::HeaderMap, body: String) -> axum::response::Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    HEADERS
        .lock()
        .unwrap()
        .push((header("traceparent"), header("baggage")));
    let req: serde_json::Value = serde_json::from_str(&body).unwrap();
    let json = |status: u16, text: String| {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(text))
            .unwrap()
    };
    let sse = |body: Body| {
        http::Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap()
    };
    match req["model"].as_str().unwrap() {
        "rate-limited" => json(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#.to_owned(),
        ),
        "malformed" => json(200, r#"{"id":"x","usage":{"prompt_"#.to_owned()),
        "endless" => sse(stream(sse_chunks(false)[..1].to_vec(), true)),
        _ if req["stream"] == true => {
            let usage = req["stream_options"]["include_usage"] == true;
            sse(stream(sse_chunks(usage), false))
        }
        _ => json(200, CHAT_JSON.to_owned()),
    }
}

async fn messages() -> axum::response::Response {
    http::Response::builder()
        .header("content-type", "text/event-stream")
        .body(stream(
            ANTHROPIC_SSE.iter().map(|s| (*s).to_owned()).collect(),
            false,
        ))
        .unwrap()
}

async fn provider() -> SocketAddr {
    serve(
        Router::new()
            .route("/v1/chat/completions", post(chat))
            .route(
                "/v1/embeddings",
                post(|| async {
                    http::Response::builder()
                        .header("content-type", "application/json")
                        .body(Body::from(
                            r#"{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
                        ))
                        .unwrap()
                }),
            )
            .route("/v1/messages", post(messages)),
    )
    .await
}

/// The app's HTTP client: reqwest with botanu's middleware, or a tower client (hyper-util's)
/// under botanu-tower's `ClientLayer`. Both resolve the providers' names to the fake server.
#[derive(Clone)]
enum Via {
    Reqwest(reqwest_middleware::ClientWithMiddleware),
    Tower(Box<TowerClient>),
}

type TowerClient = botanu_tower::ClientService<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector<Loopback>,
        botanu_tower::ClientRequestBody<http_body_util::Full<bytes::Bytes>>,
    >,
>;

/// A resolver that answers every name with the fake provider's address (no DNS query leaves
/// the machine).
#[derive(Clone)]
struct Loopback(SocketAddr);

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Loopback {
    type Response = std::iter::Once<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        std::future::ready(Ok(std::iter::once(self.0)))
    }
}

fn reqwest_client(addr: SocketAddr) -> Via {
    let inner = reqwest::Client::builder()
        .resolve("api.openai.com", addr)
        .resolve("api.anthropic.com", addr)
        .build()
        .unwrap();
    Via::Reqwest(
        reqwest_middleware::ClientBuilder::new(inner)
            .with(BotanuPropagation::new())
            .build(),
    )
}

fn tower_client(addr: SocketAddr) -> Via {
    let connector =
        hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(Loopback(addr));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    Via::Tower(Box::new(
        tower::ServiceBuilder::new()
            .layer(botanu_tower::ClientLayer::new())
            .service(client),
    ))
}

impl Via {
    /// POSTs `body` to `url`; reads the response chunk by chunk (all of it, or only the first
    /// chunk when `drop_early`) and returns the status and what the app read.
    async fn post(&self, url: String, body: String, drop_early: bool) -> (u16, String) {
        let mut text = Vec::new();
        let status = match self {
            Via::Reqwest(client) => {
                let mut response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                while let Some(chunk) = response.chunk().await.unwrap() {
                    text.extend_from_slice(&chunk);
                    if drop_early {
                        break;
                    }
                }
                response.status().as_u16()
            }
            Via::Tower(client) => {
                use http_body_util::BodyExt as _;
                use tower::ServiceExt as _;
                let request = http::Request::post(url)
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::from(body))
                    .unwrap();
                let response = (**client).clone().oneshot(request).await.unwrap();
                let status = response.status().as_u16();
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame.unwrap().into_data() {
                        text.extend_from_slice(&data);
                        if drop_early {
                            break;
                        }
                    }
                }
                status
            }
        };
        (status, String::from_utf8(text).unwrap())
    }
}

/// Sends `body` to `url` inside a run of event `event` (see [`Via::post`]).
async fn call_in_run(
    client: &Via,
    url: String,
    body: serde_json::Value,
    event: &str,
    drop_early: bool,
) -> (u16, String) {
    let active = RunSpec::new("LLM Wire")
        .event_id(Some(event.to_owned()))
        .start(&Context::new());
    let cx = active.context().clone();
    let read = client
        .post(url, body.to_string(), drop_early)
        .with_context(cx)
        .await;
    active.finish(RunEnd::new(RunStatus::Success));
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_calls_are_recognised_by_the_reqwest_middleware() {
    let addr = provider().await;
    recognised_on_the_wire(reqwest_client(addr), addr.port(), "reqwest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_calls_are_recognised_by_the_tower_client_layer() {
    let addr = provider().await;
    recognised_on_the_wire(tower_client(addr), addr.port(), "tower").await;
}

/// Every case through `client`; event ids end in `-{via}`.
async fn recognised_on_the_wire(client: Via, port: u16, via: &str) {
    let env = TestEnv::get();
    let ev = |name: &str| format!("{name}-{via}");
    let openai = |path: &str| format!("http://api.openai.com:{port}{path}");

    // Plain JSON: usage, response model, id, finish reason, request parameters.
    let (status, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 256,
            "messages": [{"role": "user", "content": "How do I reset my password?"}]}),
        &ev("wire-json"),
        false,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, CHAT_JSON),
        "the app reads the same bytes"
    );
    let (run, spans) = env.run("botanu.run/", &ev("wire-json"), 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.kind, 3, "a client span");
    assert_eq!(s.scope, "botanu.gen_ai");
    assert_eq!(s.attr("gen_ai.provider.name"), Some("openai"));
    assert_eq!(s.attr("gen_ai.operation.name"), Some("chat"));
    assert_eq!(s.attr("gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_eq!(
        s.attr("gen_ai.response.model"),
        Some("gpt-4o-mini-2024-07-18")
    );
    assert_eq!(s.attr("gen_ai.response.id"), Some("chatcmpl-1"));
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(42));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(s.int("botanu.usage.cached_tokens"), Some(10));
    assert_eq!(s.int("gen_ai.request.max_tokens"), Some(256));
    assert_eq!(
        s.attributes.get("gen_ai.request.temperature"),
        Some(&Val::Double(0.2))
    );
    assert_eq!(s.int("http.response.status_code"), Some(200));
    assert_eq!(s.attr("botanu.run_id"), run.attr("botanu.run_id"));
    assert_eq!(s.attr("botanu.event_id"), Some(ev("wire-json").as_str()));
    assert!(
        !spans.iter().any(|x| x.name == "POST"),
        "one span for the call, not a second HTTP client span"
    );
    // The provider is not a host the policy sends baggage to; the call's span is the parent.
    let traceparent = format!("00-{}-{}-01", s.trace_id, s.span_id);
    assert!(
        HEADERS
            .lock()
            .unwrap()
            .iter()
            .any(|(t, b)| *t == traceparent && b.is_empty()),
        "the request carried {traceparent} and no baggage: {:?}",
        HEADERS.lock().unwrap()
    );

    // SSE with a usage chunk: usage from the chunk, time to first token, finish reason.
    let (_, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "gpt-4o-mini", "stream": true,
            "stream_options": {"include_usage": true}, "messages": []}),
        &ev("wire-sse"),
        false,
    )
    .await;
    assert_eq!(body, sse_chunks(true).concat());
    let (_, spans) = env.run("botanu.run/", &ev("wire-sse"), 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(31));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(3));
    assert_eq!(
        s.attributes.get("botanu.request.streaming"),
        Some(&Val::Bool(true))
    );
    assert!(matches!(
        s.attributes.get("botanu.response.time_to_first_token_ms"),
        Some(Val::Double(ms)) if *ms > 0.0
    ));
    assert!(
        matches!(s.attributes.get("gen_ai.response.finish_reasons"), Some(Val::Other(v)) if v.contains("stop")),
        "{:?}",
        s.attributes.get("gen_ai.response.finish_reasons")
    );
    assert_eq!(s.attributes.get("botanu.usage.unknown"), None);

    // SSE without usage: unknown, never guessed.
    let (_, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "gpt-4o-mini", "stream": true, "messages": []}),
        &ev("wire-sse-no-usage"),
        false,
    )
    .await;
    assert_eq!(body, sse_chunks(false).concat());
    let (_, spans) = env.run("botanu.run/", &ev("wire-sse-no-usage"), 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.attributes.get("gen_ai.usage.input_tokens"), None);
    assert_eq!(
        s.attributes.get("botanu.usage.unknown"),
        Some(&Val::Bool(true))
    );

    // A provider error: its type, not only the status.
    let (status, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "rate-limited", "messages": []}),
        &ev("wire-429"),
        false,
    )
    .await;
    assert_eq!(status, 429);
    assert!(body.contains("slow down"));
    let (_, spans) = env.run("botanu.run/", &ev("wire-429"), 2);
    let s = span_named(&spans, "chat rate-limited");
    assert_eq!(s.attr("error.type"), Some("rate_limit_exceeded"));
    assert_eq!(s.status.0, 2);
    assert_eq!(s.int("http.response.status_code"), Some(429));

    // A malformed body: passed through, the span lacks usage.
    let (_, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "malformed", "messages": []}),
        &ev("wire-malformed"),
        false,
    )
    .await;
    assert_eq!(body, r#"{"id":"x","usage":{"prompt_"#);
    let (_, spans) = env.run("botanu.run/", &ev("wire-malformed"), 2);
    let s = span_named(&spans, "chat malformed");
    assert_eq!(s.attributes.get("gen_ai.usage.input_tokens"), None);
    assert_eq!(
        s.attributes.get("botanu.usage.unknown"),
        Some(&Val::Bool(true))
    );
    assert_ne!(s.status.0, 2, "not an error of the call");

    // A stream the app drops after its first chunk: canceled.
    let (_, body) = call_in_run(
        &client,
        openai("/v1/chat/completions"),
        serde_json::json!({"model": "endless", "stream": true, "messages": []}),
        &ev("wire-dropped"),
        true,
    )
    .await;
    assert_eq!(body, sse_chunks(false)[0]);
    let (_, spans) = env.run("botanu.run/", &ev("wire-dropped"), 2);
    let s = span_named(&spans, "chat endless");
    assert_eq!(
        s.attributes.get("botanu.request.canceled"),
        Some(&Val::Bool(true))
    );
    assert_eq!(s.status.0, 2);
    assert!(s
        .attributes
        .contains_key("botanu.response.time_to_first_token_ms"));

    // Embeddings.
    call_in_run(
        &client,
        openai("/v1/embeddings"),
        serde_json::json!({"model": "text-embedding-3-small", "input": "reset password"}),
        &ev("wire-embeddings"),
        false,
    )
    .await;
    let (_, spans) = env.run("botanu.run/", &ev("wire-embeddings"), 2);
    let s = span_named(&spans, "embeddings text-embedding-3-small");
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(8));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(0));

    // Anthropic's Messages API, streamed: input at the start, output at the end.
    let (_, body) = call_in_run(
        &client,
        format!("http://api.anthropic.com:{port}/v1/messages"),
        serde_json::json!({"model": "claude-sonnet-4-5", "stream": true, "max_tokens": 1024, "messages": []}),
        &ev("wire-anthropic"),
        false,
    )
    .await;
    assert_eq!(body, ANTHROPIC_SSE.concat());
    let (_, spans) = env.run("botanu.run/", &ev("wire-anthropic"), 2);
    let s = span_named(&spans, "chat claude-sonnet-4-5");
    assert_eq!(s.attr("gen_ai.provider.name"), Some("anthropic"));
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(25));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(12));
    assert_eq!(s.int("botanu.usage.cache_read_tokens"), Some(5));
    assert_eq!(s.attr("gen_ai.response.id"), Some("msg_1"));

    // Inside an llm::call the app wrote: not recorded a second time.
    let active = RunSpec::new("LLM Wire")
        .event_id(Some(ev("wire-by-hand")))
        .start(&Context::new());
    let cx = active.context().clone();
    let url = openai("/v1/chat/completions");
    let client2 = client.clone();
    async move {
        botanu_core::llm::call("openai", "gpt-4o-mini", |call| async move {
            let (status, _) = client2
                .post(
                    url,
                    r#"{"model":"gpt-4o-mini","messages":[]}"#.to_owned(),
                    false,
                )
                .await;
            call.set_tokens((1, 1));
            Ok::<_, String>(status)
        })
        .await
    }
    .with_context(cx)
    .await
    .unwrap();
    active.finish(RunEnd::new(RunStatus::Success));
    let (_, spans) = env.run("botanu.run/", &ev("wire-by-hand"), 3);
    let chats: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "chat gpt-4o-mini")
        .collect();
    assert_eq!(chats.len(), 1, "the app's own span only");
    assert_eq!(chats[0].int("gen_ai.usage.input_tokens"), Some(1));
    assert!(
        spans.iter().any(|s| s.name == "POST"),
        "a plain client span"
    );
}
