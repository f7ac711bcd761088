//! async-openai clients made with `botanu_core::openai::instrument`, against a fake
//! OpenAI-compatible server on 127.0.0.1: chat completions (plain, streamed with and without a
//! usage chunk, a stream dropped early), the Responses API, embeddings, an API error. The app
//! gets async-openai's typed answers as without botanu; the exported GenAI spans carry the
//! numbers the server sent and the run's ids.

use std::net::SocketAddr;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::types::responses::CreateResponseArgs;
use async_openai::Client;
use axum::body::Body;
use axum::routing::post;
use axum::Router;
use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::RunStatus;
use botanu_tests::env::TestEnv;
use botanu_tests::http::serve;
use botanu_tests::receiver::{span_named, ReceivedSpan, Val};
use futures_util::StreamExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::Context;

const MODEL: &str = "gpt-4o-mini-2024-07-18";

fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = content.map_or("{}".to_owned(), |c| format!(r#"{{"content":"{c}"}}"#));
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1732950000,\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
    )
}

fn sse(usage: bool, then_hang: bool) -> axum::response::Response {
    let mut parts = vec![
        chunk(Some("Re"), None),
        chunk(Some("set it."), None),
        chunk(None, Some("stop")),
    ];
    if usage {
        parts.push(format!("data: {{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1732950000,\"model\":\"{MODEL}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":31,\"completion_tokens\":3,\"total_tokens\":34,\"prompt_tokens_details\":{{\"cached_tokens\":8}}}}}}\n\n"));
    }
    parts.push("data: [DONE]\n\n".to_owned());
    if then_hang {
        parts.truncate(1);
    }
    let stream = futures_util::stream::unfold(parts.into_iter(), move |mut it| async move {
        match it.next() {
            Some(p) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Some((Ok::<_, std::io::Error>(p), it))
            }
            None if then_hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                None
            }
            None => None,
        }
    });
    http::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn json(status: u16, body: String) -> axum::response::Response {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

async fn chat(body: String) -> axum::response::Response {
    let req: serde_json::Value = serde_json::from_str(&body).unwrap();
    match req["model"].as_str().unwrap() {
        "no-such-model" => json(
            400,
            r#"{"error":{"message":"The model `no-such-model` does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#.to_owned(),
        ),
        "endless" => sse(false, true),
        _ if req["stream"] == true => sse(req["stream_options"]["include_usage"] == true, false),
        _ => json(
            200,
            format!(r#"{{"id":"chatcmpl-6","object":"chat.completion","created":1732950000,"model":"{MODEL}","choices":[{{"index":0,"message":{{"role":"assistant","content":"Reset it from Settings.","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49,"prompt_tokens_details":{{"cached_tokens":10,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"system_fingerprint":"fp_1"}}"#),
        ),
    }
}

async fn responses() -> axum::response::Response {
    json(
        200,
        format!(
            r#"{{"id":"resp_1","object":"response","created_at":1732950000,"status":"completed","model":"{MODEL}","output":[{{"type":"reasoning","id":"rs_1","summary":[]}},{{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{{"type":"output_text","text":"Hi there","annotations":[]}}]}}],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":{{"input_tokens":11,"input_tokens_details":{{"cached_tokens":2}},"output_tokens":4,"output_tokens_details":{{"reasoning_tokens":1}},"total_tokens":15}}}}"#
        ),
    )
}

async fn embeddings() -> axum::response::Response {
    json(
        200,
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2,0.3]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#.to_owned(),
    )
}

async fn server() -> SocketAddr {
    serve(
        Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/responses", post(responses))
            .route("/v1/embeddings", post(embeddings)),
    )
    .await
}

fn chat_request(model: &str, stream: Option<bool>) -> CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(model)
        .temperature(0.3)
        .max_completion_tokens(128u32)
        .messages(vec![ChatCompletionRequestUserMessage::from(
            "How do I reset my password? I am jane@example.com",
        )
        .into()]);
    if let Some(usage) = stream {
        args.stream_options(ChatCompletionStreamOptions {
            include_usage: Some(usage),
            ..Default::default()
        });
    }
    args.build().unwrap()
}

/// Runs `work` inside a run of event `event`, and returns its output.
async fn in_run<T>(event: &str, work: impl std::future::Future<Output = T>) -> T {
    let active = RunSpec::new("OpenAI Client")
        .event_id(Some(event.to_owned()))
        .start(&Context::new());
    let out = work.with_context(active.context().clone()).await;
    active.finish(RunEnd::new(RunStatus::Success));
    out
}

fn finish_reasons(s: &ReceivedSpan) -> String {
    match s.attributes.get("gen_ai.response.finish_reasons") {
        Some(Val::Other(v)) => v.clone(),
        other => panic!("finish reasons: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_openai_calls_are_genai_spans() {
    // Every call's content is captured here (the default captures a sample).
    let env = TestEnv::get_or_init_with(|c| c.with_content_capture_rate(1.0), |_| {});
    let addr = server().await;
    let config = OpenAIConfig::new()
        .with_api_key("sk-test")
        .with_api_base(format!("http://127.0.0.1:{}/v1", addr.port()));
    let client = botanu_core::openai::instrument(Client::with_config(config.clone()));

    // A chat completion: the app's typed answer, and the span's numbers.
    let answer = in_run(
        "openai-chat",
        client.chat().create(chat_request("gpt-4o-mini", None)),
    )
    .await
    .unwrap();
    assert_eq!(
        answer.choices[0].message.content.as_deref(),
        Some("Reset it from Settings.")
    );
    let (run, spans) = env.run("botanu.run/", "openai-chat", 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.kind, 3);
    assert_eq!(s.scope, "botanu.gen_ai");
    assert_eq!(
        s.attr("gen_ai.provider.name"),
        Some("openai"),
        "a host outside the table, spoken to by an OpenAI client"
    );
    assert_eq!(s.attr("gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_eq!(s.attr("gen_ai.response.model"), Some(MODEL));
    assert_eq!(s.attr("gen_ai.response.id"), Some("chatcmpl-6"));
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(42));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(s.int("botanu.usage.cached_tokens"), Some(10));
    assert_eq!(s.int("gen_ai.request.max_tokens"), Some(128));
    assert!(matches!(
        s.attributes.get("gen_ai.request.temperature"),
        Some(Val::Double(t)) if (t - 0.3).abs() < 1e-6
    ));
    assert!(finish_reasons(s).contains("stop"));
    assert_eq!(s.attr("botanu.run_id"), run.attr("botanu.run_id"));
    assert_eq!(s.attr("botanu.event_id"), Some("openai-chat"));
    assert_eq!(s.parent_span_id, run.span_id, "a child of the run span");
    // Content capture as llm::call records it: the request's messages and the answer, the
    // address scrubbed before the span is recorded.
    let input = s.attr("botanu.eval.input_content").unwrap();
    assert!(
        input.contains("How do I reset my password? I am [REDACTED]") && !input.contains("jane@"),
        "{input}"
    );
    assert_eq!(
        s.attr("botanu.eval.output_content"),
        Some("Reset it from Settings.")
    );

    // A stream with a usage chunk: every chunk reaches the app; usage, TTFT, finish reason.
    let text = in_run("openai-stream", async {
        let mut stream = client
            .chat()
            .create_stream(chat_request("gpt-4o-mini", Some(true)))
            .await
            .unwrap();
        let mut text = String::new();
        let mut usage = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            if let Some(c) = chunk.choices.first().and_then(|c| c.delta.content.clone()) {
                text.push_str(&c);
            }
            usage = usage.or(chunk.usage);
        }
        assert_eq!(
            usage.map(|u| u.prompt_tokens),
            Some(31),
            "the app sees the usage chunk"
        );
        text
    })
    .await;
    assert_eq!(text, "Reset it.");
    let (_, spans) = env.run("botanu.run/", "openai-stream", 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(31));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(3));
    assert_eq!(s.int("botanu.usage.cached_tokens"), Some(8));
    assert_eq!(
        s.attributes.get("botanu.request.streaming"),
        Some(&Val::Bool(true))
    );
    assert!(matches!(
        s.attributes.get("botanu.response.time_to_first_token_ms"),
        Some(Val::Double(ms)) if *ms > 0.0
    ));
    assert!(finish_reasons(s).contains("stop"));

    // A stream whose request asked for no usage: unknown, never guessed.
    in_run("openai-stream-no-usage", async {
        let mut stream = client
            .chat()
            .create_stream(chat_request("gpt-4o-mini", Some(false)))
            .await
            .unwrap();
        while stream.next().await.is_some() {}
    })
    .await;
    let (_, spans) = env.run("botanu.run/", "openai-stream-no-usage", 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.attributes.get("gen_ai.usage.input_tokens"), None);
    assert_eq!(
        s.attributes.get("botanu.usage.unknown"),
        Some(&Val::Bool(true))
    );

    // A stream the app drops after its first chunk: canceled.
    in_run("openai-stream-dropped", async {
        let mut stream = client
            .chat()
            .create_stream(chat_request("endless", Some(true)))
            .await
            .unwrap();
        assert!(stream.next().await.unwrap().is_ok());
        drop(stream);
    })
    .await;
    let (_, spans) = env.run("botanu.run/", "openai-stream-dropped", 2);
    let s = span_named(&spans, "chat endless");
    assert_eq!(
        s.attributes.get("botanu.request.canceled"),
        Some(&Val::Bool(true))
    );
    assert_eq!(s.status.0, 2);

    // The Responses API: tokens in its shape, the status as the finish reason.
    let response = in_run("openai-responses", async {
        client
            .responses()
            .create(
                CreateResponseArgs::default()
                    .model("gpt-4o-mini")
                    .input("Say hi")
                    .max_output_tokens(64u32)
                    .build()
                    .unwrap(),
            )
            .await
    })
    .await
    .unwrap();
    assert_eq!(response.id, "resp_1");
    let (_, spans) = env.run("botanu.run/", "openai-responses", 2);
    let s = span_named(&spans, "chat gpt-4o-mini");
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(11));
    assert_eq!(s.int("gen_ai.usage.output_tokens"), Some(4));
    assert_eq!(s.int("botanu.usage.cached_tokens"), Some(2));
    assert_eq!(s.int("gen_ai.request.max_tokens"), Some(64));
    assert_eq!(s.attr("gen_ai.response.id"), Some("resp_1"));
    assert!(finish_reasons(s).contains("completed"));

    // Embeddings.
    let embedding = in_run("openai-embeddings", async {
        client
            .embeddings()
            .create(
                CreateEmbeddingRequestArgs::default()
                    .model("text-embedding-3-small")
                    .input("reset password")
                    .build()
                    .unwrap(),
            )
            .await
    })
    .await
    .unwrap();
    assert_eq!(embedding.data[0].embedding.len(), 3);
    let (_, spans) = env.run("botanu.run/", "openai-embeddings", 2);
    let s = span_named(&spans, "embeddings text-embedding-3-small");
    assert_eq!(s.int("gen_ai.usage.input_tokens"), Some(8));
    assert_eq!(s.attr("gen_ai.operation.name"), Some("embeddings"));

    // An API error: async-openai's typed error for the app, the provider's type on the span.
    let error = in_run(
        "openai-error",
        client.chat().create(chat_request("no-such-model", None)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, async_openai::error::OpenAIError::ApiError(e) if e.api_error.r#type.as_deref() == Some("invalid_request_error")),
        "{error:?}"
    );
    let (_, spans) = env.run("botanu.run/", "openai-error", 2);
    let s = span_named(&spans, "chat no-such-model");
    assert_eq!(s.attr("error.type"), Some("invalid_request_error"));
    assert_eq!(s.int("http.response.status_code"), Some(400));
    assert_eq!(s.status.0, 2);

    // A client of a named provider (a local vLLM behind the same API).
    let vllm = botanu_core::openai::OpenAiService::new()
        .provider("vllm")
        .instrument(Client::with_config(config));
    in_run(
        "openai-vllm",
        vllm.chat().create(chat_request("llama-3.1-8b", None)),
    )
    .await
    .unwrap();
    let (_, spans) = env.run("botanu.run/", "openai-vllm", 2);
    let s = span_named(&spans, "chat llama-3.1-8b");
    assert_eq!(s.attr("gen_ai.provider.name"), Some("vllm"));
}
