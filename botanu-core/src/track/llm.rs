//! LLM and tool calls (named as in the reference Python SDK): the spans that carry token counts,
//! where the money is measured. Names follow the OpenTelemetry GenAI semantic conventions plus
//! botanu's own keys.
//!
//! ```
//! use botanu_core::llm::{track_llm, RequestParams};
//!
//! let call = track_llm("OpenAI", "gpt-4o");
//! call.set_request_params(RequestParams { temperature: Some(0.2), max_tokens: Some(512), ..Default::default() })
//!     .set_input_content("How do I reset my password?");
//! // … the request …
//! call.set_tokens((412, 96))
//!     .set_response_model("gpt-4o-2024-08-06")
//!     .set_finish_reason("stop");
//! call.finish(); // or just drop it
//! ```

use std::future::Future;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, Value};

use crate::lifecycle::error_class_of;
use crate::track::capture::{prepare, DEFAULT_MAX_CHARS};
use crate::track::{metadata_key, TrackedSpan};

pub(crate) const SCOPE: &str = crate::semconv::scopes::GEN_AI;

/// The provider name the reference SDK uses for `vendor` (lower-cased; known aliases mapped).
pub fn normalize_provider(vendor: &str) -> String {
    let v = vendor.trim().to_ascii_lowercase();
    let mapped = match v.as_str() {
        "azure_openai" | "azure-openai" | "azureopenai" => "azure.openai",
        "anthropic" | "claude" => "anthropic",
        "bedrock" | "aws_bedrock" | "amazon_bedrock" => "aws.bedrock",
        "vertex" | "vertexai" | "vertex_ai" | "gcp_vertex" | "gemini" | "google" => "gcp.vertex_ai",
        "mistral" | "mistralai" => "mistral",
        "together" | "togetherai" => "together",
        "huggingface" | "hf" => "huggingface",
        _ => return v,
    };
    mapped.to_owned()
}

/// The canonical operation name (`completion` → `text_completion`, `embedding` →
/// `embeddings`, `function_call`/`tool_use` → `execute_tool`; others as given).
pub fn normalize_operation(operation: &str) -> &str {
    match operation {
        "completion" => "text_completion",
        "embedding" => "embeddings",
        "function_call" | "tool_use" => "execute_tool",
        other => other,
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens (`gen_ai.usage.input_tokens`).
    pub input: u64,
    /// Completion tokens (`gen_ai.usage.output_tokens`).
    pub output: u64,
    /// Cached prompt tokens (`botanu.usage.cached_tokens`; defaults to `cache_read`).
    pub cached: u64,
    /// Tokens read from the provider's prompt cache (`botanu.usage.cache_read_tokens`).
    pub cache_read: u64,
    /// Tokens written to the provider's prompt cache (`botanu.usage.cache_write_tokens`).
    pub cache_write: u64,
}

impl From<(u64, u64)> for TokenUsage {
    fn from((input, output): (u64, u64)) -> Self {
        TokenUsage {
            input,
            output,
            ..Default::default()
        }
    }
}

/// Request parameters (`gen_ai.request.*`); unset ones are not written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestParams {
    /// `gen_ai.request.temperature`
    pub temperature: Option<f64>,
    /// `gen_ai.request.top_p`
    pub top_p: Option<f64>,
    /// `gen_ai.request.max_tokens`
    pub max_tokens: Option<i64>,
    /// `gen_ai.request.stop_sequences`
    pub stop_sequences: Option<Vec<String>>,
    /// `gen_ai.request.frequency_penalty`
    pub frequency_penalty: Option<f64>,
    /// `gen_ai.request.presence_penalty`
    pub presence_penalty: Option<f64>,
}

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An LLM call: a Client span `{operation} {model}` in the current run. Methods chain; the
/// span ends on [`finish`](Self::finish) or when the last clone is dropped (a drop during a
/// panic records the error). Clones share the span, so a future can carry one.
#[derive(Debug, Clone)]
#[must_use = "the call is recorded until it is finished or dropped"]
pub struct LlmCall {
    span: TrackedSpan,
}

/// Starts tracking a chat call to `model` of `provider` (e.g. `"openai"`, `"Anthropic"`,
/// `"bedrock"`: normalized with [`normalize_provider`]).
pub fn track_llm(provider: &str, model: &str) -> LlmCall {
    track_llm_operation(provider, model, "chat")
}

/// Starts tracking an LLM call of another operation (`embeddings`, `text_completion`, …).
pub fn track_llm_operation(provider: &str, model: &str, operation: &str) -> LlmCall {
    let provider = normalize_provider(provider);
    let operation = normalize_operation(operation).to_owned();
    #[cfg(feature = "metrics")]
    let facts = crate::track::metrics::Facts::new(&operation, &provider, model);
    let attributes = vec![
        opentelemetry::KeyValue::new("gen_ai.operation.name", operation.clone()),
        opentelemetry::KeyValue::new("gen_ai.provider.name", provider.clone()),
        opentelemetry::KeyValue::new("gen_ai.request.model", model.to_owned()),
        opentelemetry::KeyValue::new("botanu.vendor", provider),
    ];
    let span = TrackedSpan::start(
        SCOPE,
        format!("{operation} {model}"),
        SpanKind::Client,
        attributes,
        None,
        "error.type",
    );
    #[cfg(feature = "metrics")]
    let span = span.measured(facts);
    LlmCall { span }
}

#[cfg(feature = "metrics")]
pub use crate::track::metrics::record_metrics;
#[cfg(feature = "outbound")]
pub use crate::track::wire::LlmEndpoints;

impl LlmCall {
    /// The span (for the wire recogniser's own attributes).
    #[cfg(feature = "outbound")]
    pub(crate) fn span(&self) -> &TrackedSpan {
        &self.span
    }

    /// Token counts: input and output always, cache counts when non-zero.
    pub fn set_tokens(&self, usage: impl Into<TokenUsage>) -> &Self {
        let u = usage.into();
        #[cfg(feature = "metrics")]
        self.span.facts(|f| f.usage = Some((u.input, u.output)));
        self.span.set("gen_ai.usage.input_tokens", i(u.input));
        self.span.set("gen_ai.usage.output_tokens", i(u.output));
        let cached = if u.cached > 0 { u.cached } else { u.cache_read };
        if cached > 0 {
            self.span.set("botanu.usage.cached_tokens", i(cached));
        }
        if u.cache_read > 0 {
            self.span
                .set("botanu.usage.cache_read_tokens", i(u.cache_read));
        }
        if u.cache_write > 0 {
            self.span
                .set("botanu.usage.cache_write_tokens", i(u.cache_write));
        }
        self
    }

    /// The provider's request id (`gen_ai.response.id`, `botanu.vendor.request_id`).
    pub fn set_request_id(&self, vendor_request_id: &str) -> &Self {
        if !vendor_request_id.is_empty() {
            self.span
                .set("gen_ai.response.id", vendor_request_id.to_owned());
            self.span
                .set("botanu.vendor.request_id", vendor_request_id.to_owned());
        }
        self
    }

    /// The id the app sent (`botanu.vendor.client_request_id`).
    pub fn set_client_request_id(&self, client_request_id: &str) -> &Self {
        if !client_request_id.is_empty() {
            self.span.set(
                "botanu.vendor.client_request_id",
                client_request_id.to_owned(),
            );
        }
        self
    }

    /// The model that answered (`gen_ai.response.model`).
    pub fn set_response_model(&self, model: &str) -> &Self {
        #[cfg(feature = "metrics")]
        self.span
            .facts(|f| f.response_model = Some(model.to_owned()));
        self.span.set("gen_ai.response.model", model.to_owned());
        self
    }

    /// Why generation stopped (`gen_ai.response.finish_reasons`, an array of one).
    pub fn set_finish_reason(&self, reason: &str) -> &Self {
        self.set_finish_reasons([reason.to_owned()])
    }

    /// Several finish reasons (one per choice); none written when there are none.
    pub(crate) fn set_finish_reasons(&self, reasons: impl IntoIterator<Item = String>) -> &Self {
        let reasons: Vec<opentelemetry::StringValue> =
            reasons.into_iter().map(Into::into).collect();
        if !reasons.is_empty() {
            self.span.set(
                "gen_ai.response.finish_reasons",
                Value::Array(reasons.into()),
            );
        }
        self
    }

    /// Request parameters.
    pub fn set_request_params(&self, p: RequestParams) -> &Self {
        let f = |k: &'static str, v: Option<f64>| {
            if let Some(v) = v {
                self.span.set(k, v);
            }
        };
        f("gen_ai.request.temperature", p.temperature);
        f("gen_ai.request.top_p", p.top_p);
        if let Some(v) = p.max_tokens {
            self.span.set("gen_ai.request.max_tokens", v);
        }
        if let Some(v) = p.stop_sequences {
            let values: Vec<opentelemetry::StringValue> = v.into_iter().map(Into::into).collect();
            self.span
                .set("gen_ai.request.stop_sequences", Value::Array(values.into()));
        }
        f("gen_ai.request.frequency_penalty", p.frequency_penalty);
        f("gen_ai.request.presence_penalty", p.presence_penalty);
        self
    }

    /// Whether the answer was streamed (`botanu.request.streaming`).
    pub fn set_streaming(&self, streaming: bool) -> &Self {
        self.span.set("botanu.request.streaming", streaming);
        self
    }

    /// Whether the answer came from a cache (`botanu.request.cache_hit`).
    pub fn set_cache_hit(&self, hit: bool) -> &Self {
        self.span.set("botanu.request.cache_hit", hit);
        self
    }

    /// The attempt number of this request (`botanu.request.attempt`).
    pub fn set_attempt(&self, attempt: u32) -> &Self {
        self.span.set("botanu.request.attempt", i64::from(attempt));
        self
    }

    /// Records an error: `error.type` (the error's type name), an `exception` event, error
    /// status `<Type>: <message>`.
    pub fn set_error<E: std::fmt::Display + ?Sized + 'static>(&self, error: &E) -> &Self {
        self.span
            .set_error(&error_class_of::<E>(), &error.to_string());
        self
    }

    /// Records an error of an explicit class (e.g. a provider's error code).
    pub fn set_error_class(&self, class: &str, message: &str) -> &Self {
        self.span.set_error(class, message);
        self
    }

    /// The prompt, if this call is captured (`BOTANU_CONTENT_CAPTURE_RATE`): PII-scrubbed, then
    /// cut to 4096 characters (`botanu.eval.input_content`).
    pub fn set_input_content(&self, text: &str) -> &Self {
        self.set_input_content_max(text, DEFAULT_MAX_CHARS)
    }

    /// [`set_input_content`](Self::set_input_content) with another character limit.
    pub fn set_input_content_max(&self, text: &str, max_chars: usize) -> &Self {
        if let Some(t) = prepare(text, max_chars) {
            self.span.set("botanu.eval.input_content", t);
        }
        self
    }

    /// The answer, if this call is captured (`botanu.eval.output_content`).
    pub fn set_output_content(&self, text: &str) -> &Self {
        self.set_output_content_max(text, DEFAULT_MAX_CHARS)
    }

    /// [`set_output_content`](Self::set_output_content) with another character limit.
    pub fn set_output_content_max(&self, text: &str, max_chars: usize) -> &Self {
        if let Some(t) = prepare(text, max_chars) {
            self.span.set("botanu.eval.output_content", t);
        }
        self
    }

    /// Another attribute: kept as is if it starts with `botanu.` or `gen_ai.`, otherwise written
    /// as `botanu.<key>`.
    pub fn add_metadata(&self, key: &str, value: impl Into<Value>) -> &Self {
        self.span.set(metadata_key("botanu.", key, true), value);
        self
    }

    /// The context with this call's span current.
    pub fn context(&self) -> &Context {
        self.span.context()
    }

    /// Ends the span now.
    pub fn finish(&self) {
        self.span.end();
    }
}

/// Runs `f` as an LLM call: `f` gets the call (to set tokens and content) and its future is
/// polled with the call's span current; an `Err` is recorded as the call's error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let answer: Result<String, std::io::Error> = botanu_core::llm::call("openai", "gpt-4o", |call| async move {
///     call.set_tokens((12, 3));
///     Ok("hi".to_owned())
/// })
/// .await;
/// # assert!(answer.is_ok());
/// # }
/// ```
pub async fn call<T, E, F, Fut>(provider: &str, model: &str, f: F) -> Result<T, E>
where
    F: FnOnce(LlmCall) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display + 'static,
{
    let call = track_llm(provider, model);
    let cx = call.context().clone();
    let result = f(call.clone()).with_context(cx).await;
    if let Err(e) = &result {
        call.set_error(e);
    }
    call.finish();
    result
}

/// A tool call made by an agent: an Internal span `execute_tool {tool}`.
#[derive(Debug, Clone)]
#[must_use = "the call is recorded until it is finished or dropped"]
pub struct ToolCall {
    span: TrackedSpan,
}

/// Starts tracking a call of tool `tool_name`.
pub fn track_tool_call(tool_name: &str) -> ToolCall {
    let attributes = vec![
        opentelemetry::KeyValue::new("gen_ai.operation.name", "execute_tool"),
        opentelemetry::KeyValue::new("gen_ai.tool.name", tool_name.to_owned()),
    ];
    ToolCall {
        span: TrackedSpan::start(
            SCOPE,
            format!("execute_tool {tool_name}"),
            SpanKind::Internal,
            attributes,
            Some("botanu.tool.duration_ms"),
            "error.type",
        ),
    }
}

impl ToolCall {
    /// The model's id for this tool call (`gen_ai.tool.call.id`).
    pub fn set_tool_call_id(&self, id: &str) -> &Self {
        self.span.set("gen_ai.tool.call.id", id.to_owned());
        self
    }

    /// The provider of the tool (`gen_ai.provider.name`, `botanu.vendor`, normalized).
    pub fn set_provider(&self, vendor: &str) -> &Self {
        let p = normalize_provider(vendor);
        self.span.set("gen_ai.provider.name", p.clone());
        self.span.set("botanu.vendor", p);
        self
    }

    /// The result: `botanu.tool.success`, and item and byte counts when non-zero.
    pub fn set_result(&self, success: bool, items_returned: u64, bytes_processed: u64) -> &Self {
        self.span.set("botanu.tool.success", success);
        if items_returned > 0 {
            self.span
                .set("botanu.tool.items_returned", i(items_returned));
        }
        if bytes_processed > 0 {
            self.span
                .set("botanu.tool.bytes_processed", i(bytes_processed));
        }
        self
    }

    /// Records an error (`error.type`, exception event, error status).
    pub fn set_error<E: std::fmt::Display + ?Sized + 'static>(&self, error: &E) -> &Self {
        self.span
            .set_error(&error_class_of::<E>(), &error.to_string());
        self
    }

    /// Another attribute, written as `botanu.tool.<key>` unless it starts with `botanu.` or
    /// `gen_ai.`.
    pub fn add_metadata(&self, key: &str, value: impl Into<Value>) -> &Self {
        self.span
            .set(metadata_key("botanu.tool.", key, true), value);
        self
    }

    /// Ends the span now (writing `botanu.tool.duration_ms`).
    pub fn finish(&self) {
        self.span.end();
    }
}
