//! LLM, tool and data trackers: attribute-exact spans at the receiver, in the current run,
//! provider normalization, the async form, panics, and content capture (rate 1 here) with PII
//! scrubbing before truncation.

use botanu_core::data::{
    track_db_operation, track_messaging_operation, track_storage_operation, DbResult,
};
use botanu_core::llm::{
    self, normalize_provider, track_llm, track_llm_operation, track_tool_call, RequestParams,
    TokenUsage,
};
use botanu_core::{workflow, BotanuConfig};
use botanu_tests::env::TestEnv;
use botanu_tests::receiver::{span_named, ReceivedSpan, Val};

fn env() -> &'static TestEnv {
    TestEnv::get_or_init_with(|c: BotanuConfig| c.with_content_capture_rate(1.0), |_| {})
}

/// Runs `f` inside a run with event id `event` and returns the spans of that run.
fn in_run(event: &str, n: usize, f: impl FnOnce()) -> Vec<ReceivedSpan> {
    let _ = env();
    workflow("Tracking")
        .event_id(event)
        .customer_id("acme")
        .run_sync_any(f);
    env().run("botanu.run/Tracking", event, n).1
}

#[derive(Debug)]
struct RateLimited;
impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("429 from provider")
    }
}

#[test]
fn llm_call_attributes() {
    let spans = in_run("llm-1", 3, || {
        let call = track_llm("OpenAI", "gpt-4");
        call.set_tokens(TokenUsage {
            input: 500,
            output: 200,
            cache_read: 80,
            cache_write: 20,
            ..Default::default()
        })
        .set_request_id("chatcmpl-123")
        .set_client_request_id("client-9")
        .set_response_model("gpt-4-0613")
        .set_finish_reason("stop")
        .set_request_params(RequestParams {
            temperature: Some(0.7),
            top_p: Some(0.9),
            max_tokens: Some(1000),
            stop_sequences: Some(vec!["END".into(), "STOP".into()]),
            frequency_penalty: Some(0.1),
            presence_penalty: Some(0.2),
        })
        .set_streaming(true)
        .set_cache_hit(true)
        .set_attempt(3)
        .add_metadata("custom_field", "x")
        .add_metadata("botanu.another_field", 123)
        .add_metadata("gen_ai.system_fingerprint", "fp");
        call.finish();
        track_llm_operation("bedrock", "titan-embed", "embedding").finish();
    });
    let s = span_named(&spans, "chat gpt-4");
    assert_eq!(s.kind, 3);
    assert_eq!(s.scope, "botanu.gen_ai");
    let a = |k: &str| s.attributes.get(k).cloned();
    let st = |v: &str| Some(Val::Str(v.into()));
    assert_eq!(a("gen_ai.operation.name"), st("chat"));
    assert_eq!(a("gen_ai.provider.name"), st("openai"));
    assert_eq!(a("botanu.vendor"), st("openai"));
    assert_eq!(a("gen_ai.request.model"), st("gpt-4"));
    assert_eq!(a("gen_ai.usage.input_tokens"), Some(Val::Int(500)));
    assert_eq!(a("gen_ai.usage.output_tokens"), Some(Val::Int(200)));
    assert_eq!(a("botanu.usage.cached_tokens"), Some(Val::Int(80)));
    assert_eq!(a("botanu.usage.cache_read_tokens"), Some(Val::Int(80)));
    assert_eq!(a("botanu.usage.cache_write_tokens"), Some(Val::Int(20)));
    assert_eq!(a("gen_ai.response.id"), st("chatcmpl-123"));
    assert_eq!(a("botanu.vendor.request_id"), st("chatcmpl-123"));
    assert_eq!(a("botanu.vendor.client_request_id"), st("client-9"));
    assert_eq!(a("gen_ai.response.model"), st("gpt-4-0613"));
    assert!(
        matches!(a("gen_ai.response.finish_reasons"), Some(Val::Other(v)) if v.contains("\"stop\""))
    );
    assert_eq!(a("gen_ai.request.temperature"), Some(Val::Double(0.7)));
    assert_eq!(a("gen_ai.request.top_p"), Some(Val::Double(0.9)));
    assert_eq!(a("gen_ai.request.max_tokens"), Some(Val::Int(1000)));
    assert!(
        matches!(a("gen_ai.request.stop_sequences"), Some(Val::Other(v)) if v.contains("\"END\"") && v.contains("\"STOP\""))
    );
    assert_eq!(
        a("gen_ai.request.frequency_penalty"),
        Some(Val::Double(0.1))
    );
    assert_eq!(a("gen_ai.request.presence_penalty"), Some(Val::Double(0.2)));
    assert_eq!(a("botanu.request.streaming"), Some(Val::Bool(true)));
    assert_eq!(a("botanu.request.cache_hit"), Some(Val::Bool(true)));
    assert_eq!(a("botanu.request.attempt"), Some(Val::Int(3)));
    assert_eq!(a("botanu.custom_field"), st("x"));
    assert_eq!(a("botanu.another_field"), Some(Val::Int(123)));
    assert_eq!(a("gen_ai.system_fingerprint"), st("fp"));
    // In the run: enriched.
    assert_eq!(s.attr("botanu.event_id"), Some("llm-1"));
    assert_eq!(s.attr("botanu.customer_id"), Some("acme"));
    assert_eq!(s.status.0, 0, "success leaves the status unset");
    // Operation aliases and provider normalization.
    let e = span_named(&spans, "embeddings titan-embed");
    assert_eq!(e.attr("gen_ai.provider.name"), Some("aws.bedrock"));
    assert_eq!(e.attr("gen_ai.operation.name"), Some("embeddings"));
}

#[test]
fn provider_normalization_table() {
    for (input, expected) in [
        ("OpenAI", "openai"),
        ("Anthropic", "anthropic"),
        ("claude", "anthropic"),
        ("bedrock", "aws.bedrock"),
        ("amazon_bedrock", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.vertex_ai"),
        ("azure_openai", "azure.openai"),
        ("Azure-OpenAI", "azure.openai"),
        ("mistralai", "mistral"),
        ("togetherai", "together"),
        ("hf", "huggingface"),
        ("groq", "groq"),
        ("CustomProvider", "customprovider"),
    ] {
        assert_eq!(normalize_provider(input), expected, "{input}");
    }
}

#[test]
fn llm_errors_panics_and_the_async_form() {
    let spans = in_run("llm-2", 5, || {
        track_llm("anthropic", "claude-3")
            .set_error(&RateLimited)
            .finish();
        let _ = std::panic::catch_unwind(|| {
            let _call = track_llm("openai", "gpt-panic");
            panic!("client crashed");
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ok: Result<u32, RateLimited> =
            rt.block_on(llm::call("openai", "gpt-ok", |call| async move {
                call.set_tokens((10, 20));
                Ok(1)
            }));
        assert_eq!(ok.unwrap(), 1);
        let err: Result<u32, RateLimited> =
            rt.block_on(llm::call("openai", "gpt-err", |_call| async {
                Err(RateLimited)
            }));
        assert!(err.is_err());
    });
    let e = span_named(&spans, "chat claude-3");
    assert_eq!(e.attr("error.type"), Some("RateLimited"));
    assert_eq!(e.status, (2, "RateLimited: 429 from provider".into()));
    assert!(e.events.iter().any(|ev| ev.name == "exception"));
    let p = span_named(&spans, "chat gpt-panic");
    assert_eq!(p.attr("error.type"), Some("panic"));
    let ok = span_named(&spans, "chat gpt-ok");
    assert_eq!(
        ok.attributes.get("gen_ai.usage.input_tokens"),
        Some(&Val::Int(10))
    );
    assert_eq!(ok.status.0, 0);
    let err = span_named(&spans, "chat gpt-err");
    assert_eq!(err.attr("error.type"), Some("RateLimited"));
    assert_eq!(
        err.attr("botanu.run_id"),
        ok.attr("botanu.run_id"),
        "all in the run"
    );
}

#[test]
fn tool_calls() {
    let spans = in_run("tool-1", 3, || {
        let t = track_tool_call("search");
        t.set_tool_call_id("call_1")
            .set_provider("OpenAI")
            .set_result(true, 42, 8192)
            .add_metadata("query", "refunds")
            .add_metadata("botanu.source", "kb");
        t.finish();
        track_tool_call("fetch").set_error(&RateLimited).finish();
    });
    let s = span_named(&spans, "execute_tool search");
    assert_eq!(s.kind, 1);
    assert_eq!(s.attr("gen_ai.operation.name"), Some("execute_tool"));
    assert_eq!(s.attr("gen_ai.tool.name"), Some("search"));
    assert_eq!(s.attr("gen_ai.tool.call.id"), Some("call_1"));
    assert_eq!(s.attr("gen_ai.provider.name"), Some("openai"));
    assert_eq!(
        s.attributes.get("botanu.tool.success"),
        Some(&Val::Bool(true))
    );
    assert_eq!(
        s.attributes.get("botanu.tool.items_returned"),
        Some(&Val::Int(42))
    );
    assert_eq!(
        s.attributes.get("botanu.tool.bytes_processed"),
        Some(&Val::Int(8192))
    );
    assert_eq!(s.attr("botanu.tool.query"), Some("refunds"));
    assert_eq!(s.attr("botanu.source"), Some("kb"));
    assert!(
        matches!(s.attributes.get("botanu.tool.duration_ms"), Some(Val::Double(d)) if *d >= 0.0)
    );
    let f = span_named(&spans, "execute_tool fetch");
    assert_eq!(f.attr("error.type"), Some("RateLimited"));
    assert!(!f.attributes.contains_key("botanu.tool.success"));
}

#[test]
fn data_calls() {
    let spans = in_run("data-1", 5, || {
        let q = track_db_operation("pg", "select").set_database("support");
        q.set_table("tickets", Some("public"))
            .set_result(DbResult {
                rows_returned: 100,
                bytes_read: 8192,
                ..Default::default()
            })
            .set_query_id("q-1")
            .set_bytes_scanned(5_000_000)
            .set_bytes_transferred(100, 200)
            .add_metadata("query_plan", "seq scan")
            .add_metadata("cost_estimate", 42.5);
        q.finish();
        track_db_operation("CockroachDB", "insert")
            .set_error(&RateLimited)
            .finish();
        let s = track_storage_operation("aws_s3", "get").set_cloud_provider("AWS");
        s.set_bucket("attachments")
            .set_result(50, 1024, 0)
            .add_metadata("region", "eu");
        s.finish();
        let m = track_messaging_operation("aws_sqs", "publish", "tickets");
        m.set_result(10, 4096).add_metadata("partition", 3);
        m.finish();
        track_messaging_operation("kafka", "consume", "events").finish();
    });
    let db = span_named(&spans, "db.postgresql.select");
    assert_eq!(db.kind, 3);
    assert_eq!(db.scope, "botanu.data");
    assert_eq!(db.attr("db.system"), Some("postgresql"));
    assert_eq!(db.attr("db.operation"), Some("SELECT"));
    assert_eq!(db.attr("db.name"), Some("support"));
    assert_eq!(db.attr("db.collection.name"), Some("tickets"));
    assert_eq!(db.attr("db.schema"), Some("public"));
    assert_eq!(
        db.attributes.get("botanu.data.rows_returned"),
        Some(&Val::Int(100))
    );
    assert!(!db.attributes.contains_key("botanu.data.rows_affected"));
    assert_eq!(
        db.attributes.get("botanu.data.bytes_read"),
        Some(&Val::Int(8192))
    );
    assert_eq!(db.attr("botanu.warehouse.query_id"), Some("q-1"));
    assert_eq!(
        db.attributes.get("botanu.warehouse.bytes_scanned"),
        Some(&Val::Int(5_000_000))
    );
    assert_eq!(
        db.attributes.get("botanu.bytes_transferred"),
        Some(&Val::Int(300))
    );
    assert_eq!(db.attr("botanu.data.query_plan"), Some("seq scan"));
    assert_eq!(
        db.attributes.get("botanu.data.cost_estimate"),
        Some(&Val::Double(42.5))
    );
    assert!(
        matches!(db.attributes.get("botanu.data.duration_ms"), Some(Val::Double(d)) if *d >= 0.0)
    );
    let failed = span_named(&spans, "db.cockroachdb.insert");
    assert_eq!(failed.attr("botanu.data.error"), Some("RateLimited"));
    assert_eq!(failed.status.0, 2);
    let st = span_named(&spans, "storage.s3.get");
    assert_eq!(st.attr("botanu.storage.system"), Some("s3"));
    assert_eq!(st.attr("botanu.storage.operation"), Some("GET"));
    assert_eq!(st.attr("botanu.storage.bucket"), Some("attachments"));
    assert_eq!(st.attr("botanu.cloud_provider"), Some("aws"));
    assert_eq!(
        st.attributes.get("botanu.data.objects_count"),
        Some(&Val::Int(50))
    );
    assert_eq!(st.attr("botanu.storage.region"), Some("eu"));
    assert!(st.attributes.contains_key("botanu.storage.duration_ms"));
    let pubs = span_named(&spans, "messaging.sqs.publish");
    assert_eq!(pubs.kind, 4, "producer");
    assert_eq!(pubs.attr("messaging.destination.name"), Some("tickets"));
    assert_eq!(
        pubs.attributes.get("botanu.messaging.message_count"),
        Some(&Val::Int(10))
    );
    assert_eq!(
        pubs.attributes.get("botanu.messaging.bytes_transferred"),
        Some(&Val::Int(4096))
    );
    assert_eq!(
        pubs.attributes.get("botanu.messaging.partition"),
        Some(&Val::Int(3))
    );
    assert_eq!(
        span_named(&spans, "messaging.kafka.consume").kind,
        5,
        "consumer"
    );
    for s in &spans {
        assert_eq!(s.attr("botanu.event_id"), Some("data-1"), "{}", s.name);
    }
}

#[test]
fn content_capture_scrubs_then_truncates() {
    let spans = in_run("capture-1", 3, || {
        let c = track_llm("openai", "gpt-capture");
        c.set_input_content("my email is jane@example.com and SSN 123-45-6789")
            .set_output_content(&format!(
                "{}then mail bob@example.org {}",
                "x ".repeat(2000),
                "y".repeat(3000)
            ));
        c.finish();
        let short = track_llm("openai", "gpt-short");
        short
            .set_input_content_max("abcdef", 4)
            .set_output_content("");
        short.finish();
    });
    let c = span_named(&spans, "chat gpt-capture");
    assert_eq!(
        c.attr("botanu.eval.input_content"),
        Some("my email is [REDACTED] and SSN [REDACTED]")
    );
    let out = c.attr("botanu.eval.output_content").unwrap();
    assert_eq!(out.chars().count(), 4096);
    assert!(out.contains("[REDACTED]") && !out.contains("bob@example.org"));
    let s = span_named(&spans, "chat gpt-short");
    assert_eq!(s.attr("botanu.eval.input_content"), Some("abcd"));
    assert!(
        s.attr("botanu.eval.output_content").is_none(),
        "empty text writes nothing"
    );
}
