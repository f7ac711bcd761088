//! LLM provider calls recognised on the wire: the outbound reqwest middleware
//! ([`BotanuPropagation`](crate::BotanuPropagation)) makes the same GenAI span `llm::call`
//! makes for a request to a known provider endpoint, from the JSON request (model, parameters)
//! and the response (usage, response model, finish reasons), plain or SSE-streamed. The
//! response body is observed as the app reads it, never buffered in its place: the app gets
//! the same bytes at the same pace.

use std::time::Instant;

use serde_json::Value as Json;

use crate::track::llm::{track_llm_operation, LlmCall, RequestParams, TokenUsage};

/// How a provider's API is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// OpenAI's API and the many that copy it (Azure OpenAI, Mistral, Groq, OpenRouter,
    /// vLLM, Ollama): `…/chat/completions`, `…/completions`, `…/embeddings`, `…/responses`.
    OpenAi,
    /// Anthropic's Messages API: `…/v1/messages`.
    Anthropic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    /// `host`, `host:port` or `*.suffix`, lowercase.
    host: String,
    provider: String,
    dialect: Dialect,
}

/// Which hosts are LLM providers whose calls botanu recognises on the wire, and how their APIs
/// are shaped. The default table: OpenAI, Azure OpenAI (`*.openai.azure.com`), Anthropic,
/// Mistral, Groq, OpenRouter, and local Ollama (`localhost:11434`) and vLLM
/// (`localhost:8000`).
///
/// ```
/// use botanu_core::llm::LlmEndpoints;
///
/// let endpoints = LlmEndpoints::default()
///     .openai_compatible("llm.internal:8080", "vllm")
///     .without("openrouter.ai");
/// assert_eq!(endpoints.provider_of("llm.internal", Some(8080)), Some("vllm"));
/// assert_eq!(endpoints.provider_of("api.openai.com", None), Some("openai"));
/// assert_eq!(endpoints.provider_of("openrouter.ai", None), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmEndpoints {
    entries: Vec<Endpoint>,
}

impl Default for LlmEndpoints {
    fn default() -> Self {
        let openai = |host: &str, provider: &str| Endpoint {
            host: host.to_owned(),
            provider: provider.to_owned(),
            dialect: Dialect::OpenAi,
        };
        LlmEndpoints {
            entries: vec![
                openai("api.openai.com", "openai"),
                openai("*.openai.azure.com", "azure.openai"),
                Endpoint {
                    host: "api.anthropic.com".to_owned(),
                    provider: "anthropic".to_owned(),
                    dialect: Dialect::Anthropic,
                },
                openai("api.mistral.ai", "mistral"),
                openai("api.groq.com", "groq"),
                openai("openrouter.ai", "openrouter"),
                openai("localhost:11434", "ollama"),
                openai("127.0.0.1:11434", "ollama"),
                openai("localhost:8000", "vllm"),
                openai("127.0.0.1:8000", "vllm"),
            ],
        }
    }
}

impl LlmEndpoints {
    /// No provider at all (recognition off).
    pub fn none() -> Self {
        LlmEndpoints {
            entries: Vec::new(),
        }
    }

    /// Also recognises `host` (`host`, `host:port`, `*.suffix`, or `*` for every host) as an
    /// OpenAI-compatible API of `provider` (e.g. a gateway or a self-hosted model server).
    pub fn openai_compatible(mut self, host: &str, provider: &str) -> Self {
        self.entries.insert(
            0,
            Endpoint {
                host: host.trim().to_ascii_lowercase(),
                provider: crate::llm::normalize_provider(provider),
                dialect: Dialect::OpenAi,
            },
        );
        self
    }

    /// Also recognises `host` as Anthropic's Messages API (a proxy in front of it).
    pub fn anthropic_compatible(mut self, host: &str) -> Self {
        self.entries.insert(
            0,
            Endpoint {
                host: host.trim().to_ascii_lowercase(),
                provider: "anthropic".to_owned(),
                dialect: Dialect::Anthropic,
            },
        );
        self
    }

    /// Every host not in the table as an OpenAI-compatible API of `provider` (a client that
    /// speaks only OpenAI's API, whatever its base URL).
    #[cfg(feature = "async-openai")]
    pub(crate) fn or_any_host(mut self, provider: &str) -> Self {
        self.entries.push(Endpoint {
            host: "*".to_owned(),
            provider: crate::llm::normalize_provider(provider),
            dialect: Dialect::OpenAi,
        });
        self
    }

    /// Stops recognising `host` (the pattern as it was given).
    pub fn without(mut self, host: &str) -> Self {
        let host = host.trim().to_ascii_lowercase();
        self.entries.retain(|e| e.host != host);
        self
    }

    /// The provider botanu records for calls to `host` on `port`, if it is one.
    pub fn provider_of(&self, host: &str, port: Option<u16>) -> Option<&str> {
        self.find(host, port).map(|e| e.provider.as_str())
    }

    fn find(&self, host: &str, port: Option<u16>) -> Option<&Endpoint> {
        let host = host.to_ascii_lowercase();
        self.entries.iter().find(|e| match e.host.split_once(':') {
            _ if e.host == "*" => true,
            Some((h, p)) => h == host && port.is_some_and(|port| p.parse() == Ok(port)),
            None => match e.host.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.')),
                None => e.host == host,
            },
        })
    }

    /// The recognised call a request to `url` makes, if any.
    pub(crate) fn recognise(&self, method: &str, url: &url::Url) -> Option<Recognised> {
        if method != "POST" {
            return None;
        }
        let endpoint = self.find(url.host_str()?, url.port_or_known_default())?;
        let path = url.path().trim_end_matches('/');
        let operation = match endpoint.dialect {
            Dialect::OpenAi if path.ends_with("/chat/completions") => "chat",
            Dialect::OpenAi if path.ends_with("/completions") => "text_completion",
            Dialect::OpenAi if path.ends_with("/embeddings") => "embeddings",
            Dialect::OpenAi if path.ends_with("/responses") => "chat",
            Dialect::Anthropic if path.ends_with("/v1/messages") => "chat",
            _ => return None,
        };
        // Azure names the deployment in the path; the body may have no model.
        let deployment = path
            .split_once("/deployments/")
            .and_then(|(_, rest)| rest.split('/').next())
            .map(str::to_owned);
        Some(Recognised {
            provider: endpoint.provider.clone(),
            operation,
            deployment,
        })
    }
}

/// A request recognised as a provider call.
#[derive(Debug)]
pub(crate) struct Recognised {
    provider: String,
    operation: &'static str,
    deployment: Option<String>,
}

/// The longest request or non-streamed response body botanu reads for usage; a larger one is
/// passed through unread (its usage recorded as unknown).
const MAX_JSON_BYTES: usize = 4 << 20;

impl Recognised {
    /// Starts the call's span from the request body (`None`: a body that streams, read later
    /// through [`WireCall::request_tap`], or none).
    pub(crate) fn start(self, body: Option<&[u8]>) -> WireCall {
        let request = body.and_then(parse_request);
        let model = request
            .as_ref()
            .and_then(|r| r.get("model"))
            .and_then(Json::as_str)
            .or(self.deployment.as_deref())
            .unwrap_or(UNKNOWN_MODEL);
        let call = track_llm_operation(&self.provider, model, self.operation);
        if let Some(r) = &request {
            apply_request(&call, r);
        }
        WireCall {
            call,
            started: Instant::now(),
            operation: self.operation,
            model_known: request.is_some(),
        }
    }
}

/// The model a call is recorded with until its request says which.
const UNKNOWN_MODEL: &str = "unknown";

fn parse_request(body: &[u8]) -> Option<Json> {
    (body.len() <= MAX_JSON_BYTES)
        .then(|| serde_json::from_slice::<Json>(body).ok())
        .flatten()
}

/// What the request says: parameters, streaming, input content.
fn apply_request(call: &LlmCall, r: &Json) {
    call.set_request_params(request_params(r));
    if r.get("stream").and_then(Json::as_bool) == Some(true) {
        call.set_streaming(true);
    }
    if let Some(input) = r.get("messages").or_else(|| r.get("input")) {
        call.set_input_content(&input.to_string());
    }
}

/// Watches a request body go by (a client whose bodies stream, like a tower client): when it
/// ends, the call gets the request's model and parameters.
#[derive(Debug)]
pub struct RequestTap {
    call: LlmCall,
    operation: &'static str,
    buf: Vec<u8>,
    overflow: bool,
    done: bool,
}

impl RequestTap {
    /// A piece of the request body, as the client sends it.
    pub fn data(&mut self, bytes: &[u8]) {
        if self.overflow || self.done {
            return;
        }
        if self.buf.len() + bytes.len() > MAX_JSON_BYTES {
            self.overflow = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The request body ended: the call gets what it said.
    pub fn end(&mut self) {
        if std::mem::replace(&mut self.done, true) || self.overflow {
            return;
        }
        let Some(r) = parse_request(&self.buf) else {
            tracing::debug!(target: "botanu", "an LLM provider request was not JSON botanu could read; the call is recorded without its model");
            return;
        };
        if let Some(model) = r.get("model").and_then(Json::as_str) {
            call_model(&self.call, self.operation, model);
        }
        apply_request(&self.call, &r);
        self.buf = Vec::new();
    }
}

/// Names the call after `model`, read after the span started.
fn call_model(call: &LlmCall, operation: &str, model: &str) {
    #[cfg(feature = "metrics")]
    call.span().facts(|f| f.set_request_model(model));
    call.span().set("gen_ai.request.model", model.to_owned());
    call.span().update_name(format!(
        "{} {model}",
        crate::llm::normalize_operation(operation)
    ));
}

fn request_params(r: &Json) -> RequestParams {
    let f = |k: &str| r.get(k).and_then(Json::as_f64);
    let stop = match r.get("stop").or_else(|| r.get("stop_sequences")) {
        Some(Json::String(s)) => Some(vec![s.clone()]),
        Some(Json::Array(a)) => Some(
            a.iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    RequestParams {
        temperature: f("temperature"),
        top_p: f("top_p"),
        max_tokens: ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| r.get(*k).and_then(Json::as_i64)),
        stop_sequences: stop,
        frequency_penalty: f("frequency_penalty"),
        presence_penalty: f("presence_penalty"),
    }
}

/// A recognised call in flight: the span, and when it started (for time to first token).
#[derive(Debug)]
pub(crate) struct WireCall {
    call: LlmCall,
    started: Instant,
    operation: &'static str,
    /// Whether the request was read at the start.
    model_known: bool,
}

impl WireCall {
    /// The observer of a request body that streams (does nothing when the body was read at
    /// the start).
    pub(crate) fn request_tap(&self) -> RequestTap {
        RequestTap {
            call: self.call.clone(),
            operation: self.operation,
            buf: Vec::new(),
            overflow: false,
            done: self.model_known,
        }
    }

    /// The context to send the request under (the call's span as the parent).
    pub(crate) fn context(&self) -> &opentelemetry::Context {
        self.call.context()
    }

    /// The HTTP attributes of the request.
    pub(crate) fn set_attributes(&self, attributes: Vec<opentelemetry::KeyValue>) {
        for kv in attributes {
            self.call.span().set(kv.key, kv.value);
        }
    }

    /// The request failed without a response.
    pub(crate) fn failed(self, class: &str, message: &str) {
        self.call.set_error_class(class, message);
        self.call.finish();
    }

    /// The response head arrived: the observer of its body.
    pub(crate) fn respond(self, status: u16, event_stream: bool) -> ResponseTap {
        self.call
            .span()
            .set("http.response.status_code", i64::from(status));
        let kind = if event_stream && status < 400 {
            Kind::Sse(Sse::default())
        } else {
            Kind::Json(Vec::new())
        };
        ResponseTap {
            call: self.call,
            started: self.started,
            status,
            kind,
            overflow: false,
            done: false,
        }
    }
}

#[derive(Debug)]
enum Kind {
    Json(Vec<u8>),
    Sse(Sse),
}

/// What a response said about the call, from its JSON body or from its stream's events.
#[derive(Debug, Default)]
struct Seen {
    usage: Option<TokenUsage>,
    model: Option<String>,
    id: Option<String>,
    finish_reasons: Vec<String>,
    output: String,
}

impl Seen {
    /// The model, id and usage `object` carries (a response, or a stream event's message).
    fn read(&mut self, object: &Json) {
        if let Some(m) = object.get("model").and_then(Json::as_str) {
            self.model = Some(m.to_owned());
        }
        if let Some(id) = object.get("id").and_then(Json::as_str) {
            self.id.get_or_insert_with(|| id.to_owned());
        }
        if let Some(u) = object.get("usage").and_then(usage_of) {
            self.usage = Some(merge_usage(self.usage, u));
        }
    }

    fn record(&self, call: &LlmCall) {
        match self.usage {
            Some(u) => {
                call.set_tokens(u);
            }
            None => {
                // Never guessed: a response without usage (a stream whose request did not ask
                // for a usage chunk) has unknown usage.
                call.span().set("botanu.usage.unknown", true);
            }
        }
        if let Some(m) = &self.model {
            call.set_response_model(m);
        }
        if let Some(id) = &self.id {
            call.set_request_id(id);
        }
        call.set_finish_reasons(self.finish_reasons.iter().cloned());
        if !self.output.is_empty() {
            call.set_output_content(&self.output);
        }
    }
}

/// What a server-sent event stream said so far.
#[derive(Debug, Default)]
struct Sse {
    /// The current, unfinished line.
    line: Vec<u8>,
    seen: Seen,
    first_token: Option<f64>,
    malformed: bool,
}

/// Watches a response body go by and records the call when it ends (dropped before the end: the
/// call is recorded as canceled).
#[derive(Debug)]
pub struct ResponseTap {
    call: LlmCall,
    started: Instant,
    status: u16,
    kind: Kind,
    overflow: bool,
    done: bool,
}

impl ResponseTap {
    /// A piece of the body, as the app receives it.
    pub fn data(&mut self, bytes: &[u8]) {
        match &mut self.kind {
            Kind::Json(buf) => {
                if buf.len() + bytes.len() > MAX_JSON_BYTES {
                    self.overflow = true;
                    buf.clear();
                    buf.shrink_to_fit();
                } else if !self.overflow {
                    buf.extend_from_slice(bytes);
                }
            }
            Kind::Sse(sse) => {
                for &b in bytes {
                    if b == b'\n' {
                        let line = std::mem::take(&mut sse.line);
                        sse.event_line(&line, self.started);
                    } else if sse.line.len() < MAX_JSON_BYTES {
                        sse.line.push(b);
                    }
                }
            }
        }
    }

    /// The body ended: record what it said.
    pub fn end(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let call = &self.call;
        match &mut self.kind {
            Kind::Json(buf) => {
                let parsed = (!self.overflow)
                    .then(|| serde_json::from_slice::<Json>(buf).ok())
                    .flatten();
                if self.status >= 400 {
                    record_error(call, self.status, parsed.as_ref());
                } else if let Some(v) = &parsed {
                    record_response(call, v);
                } else {
                    tracing::debug!(target: "botanu", status = self.status, overflow = self.overflow, "an LLM provider response was not JSON botanu could read; the call is recorded without usage");
                    call.span().set("botanu.usage.unknown", true);
                }
            }
            Kind::Sse(sse) => {
                if !sse.line.is_empty() {
                    let line = std::mem::take(&mut sse.line);
                    sse.event_line(&line, self.started);
                }
                sse.record(call);
            }
        }
        call.finish();
    }

    /// The body failed while the app read it.
    pub fn body_error(&mut self, message: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Kind::Sse(sse) = &self.kind {
            sse.record(&self.call);
        }
        self.call.set_error_class("body", message);
        self.call.finish();
    }
}

impl Drop for ResponseTap {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // The app dropped the response before its end (a stream it stopped reading).
        if let Kind::Sse(sse) = &self.kind {
            sse.record(&self.call);
        } else {
            self.call.span().set("botanu.usage.unknown", true);
        }
        self.call.span().set("botanu.request.canceled", true);
        self.call
            .span()
            .set_status_error("canceled: the response was dropped before its end");
        self.call.finish();
    }
}

impl Sse {
    fn event_line(&mut self, line: &[u8], started: Instant) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" || data.is_empty() {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Json>(data) else {
            self.malformed = true;
            return;
        };
        // Anthropic: the message (id, model, input usage) comes in `message_start`; the
        // Responses API: the whole response in `response.completed`.
        let object = v
            .get("message")
            .filter(|_| v.get("type").and_then(Json::as_str) == Some("message_start"))
            .or_else(|| {
                v.get("response").filter(|_| {
                    v.get("type")
                        .and_then(Json::as_str)
                        .is_some_and(|t| t.starts_with("response."))
                })
            })
            .unwrap_or(&v);
        self.seen.read(object);
        let text = v
            .pointer("/choices/0/delta/content")
            .or_else(|| v.pointer("/delta/text"))
            .or_else(|| v.get("delta").filter(|d| d.is_string()))
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty());
        if let Some(t) = text {
            if self.first_token.is_none() {
                self.first_token = Some(started.elapsed().as_secs_f64() * 1000.0);
            }
            if self.seen.output.len() < crate::track::capture::DEFAULT_MAX_CHARS * 4 {
                self.seen.output.push_str(t);
            }
        }
        for reason in finish_reasons(&v) {
            if !self.seen.finish_reasons.contains(&reason) {
                self.seen.finish_reasons.push(reason);
            }
        }
    }

    fn record(&self, call: &LlmCall) {
        self.seen.record(call);
        if let Some(ms) = self.first_token {
            call.span()
                .set("botanu.response.time_to_first_token_ms", ms);
        }
        if self.malformed {
            tracing::debug!(target: "botanu", "an LLM provider stream had events botanu could not read; they are left out of the call's record");
        }
    }
}

/// Token counts in any of the providers' shapes.
fn usage_of(u: &Json) -> Option<TokenUsage> {
    let n = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| u.pointer(k).and_then(Json::as_u64))
    };
    let input = n(&["/prompt_tokens", "/input_tokens"]);
    let output = n(&["/completion_tokens", "/output_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(TokenUsage {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
        cached: n(&[
            "/prompt_tokens_details/cached_tokens",
            "/input_tokens_details/cached_tokens",
        ])
        .unwrap_or(0),
        cache_read: n(&["/cache_read_input_tokens"]).unwrap_or(0),
        cache_write: n(&["/cache_creation_input_tokens"]).unwrap_or(0),
    })
}

/// Anthropic reports input tokens at the start of a stream and output tokens at its end.
fn merge_usage(old: Option<TokenUsage>, new: TokenUsage) -> TokenUsage {
    let Some(old) = old else { return new };
    let pick = |a: u64, b: u64| if b > 0 { b } else { a };
    TokenUsage {
        input: pick(old.input, new.input),
        output: pick(old.output, new.output),
        cached: pick(old.cached, new.cached),
        cache_read: pick(old.cache_read, new.cache_read),
        cache_write: pick(old.cache_write, new.cache_write),
    }
}

fn finish_reasons(v: &Json) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(choices) = v.get("choices").and_then(Json::as_array) {
        for c in choices {
            if let Some(r) = c.get("finish_reason").and_then(Json::as_str) {
                out.push(r.to_owned());
            }
        }
    }
    for p in ["/stop_reason", "/delta/stop_reason"] {
        if let Some(r) = v.pointer(p).and_then(Json::as_str) {
            out.push(r.to_owned());
        }
    }
    // The Responses API: a finished response's status, or why it is incomplete (a response
    // object, or the one a `response.completed`/`response.incomplete` event carries).
    let response = v
        .get("response")
        .filter(|r| r.get("object").and_then(Json::as_str) == Some("response"))
        .or_else(|| (v.get("object").and_then(Json::as_str) == Some("response")).then_some(v));
    if let Some(r) = response {
        let reason = r
            .pointer("/incomplete_details/reason")
            .or_else(|| r.get("status"))
            .and_then(Json::as_str)
            .filter(|s| !matches!(*s, "in_progress" | "queued"));
        if let Some(reason) = reason {
            out.push(reason.to_owned());
        }
    }
    out
}

/// The text a non-streamed response answered: chat completions, Anthropic's Messages, the
/// Responses API (its first message's first text, after any reasoning items).
fn answer_text(v: &Json) -> Option<&str> {
    v.pointer("/choices/0/message/content")
        .or_else(|| v.pointer("/content/0/text"))
        .or_else(|| {
            v.get("output")?
                .as_array()?
                .iter()
                .filter(|o| o.get("type").and_then(Json::as_str) == Some("message"))
                .filter_map(|o| o.get("content").and_then(Json::as_array))
                .flatten()
                .find(|c| c.get("type").and_then(Json::as_str) == Some("output_text"))?
                .get("text")
        })
        .and_then(Json::as_str)
}

fn record_response(call: &LlmCall, v: &Json) {
    let mut seen = Seen {
        finish_reasons: finish_reasons(v),
        ..Seen::default()
    };
    seen.read(v);
    if let Some(text) = answer_text(v) {
        seen.output = text.to_owned();
    }
    seen.record(call);
}

fn record_error(call: &LlmCall, status: u16, body: Option<&Json>) {
    let error = body.and_then(|b| b.get("error"));
    let class = error
        .and_then(|e| e.get("type").or_else(|| e.get("code")))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| status.to_string());
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status}"));
    call.set_error_class(&class, &message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn recognised_endpoints() {
        let e = LlmEndpoints::default();
        let op = |m: &str, u: &str| e.recognise(m, &url(u)).map(|r| (r.provider, r.operation));
        assert_eq!(
            op("POST", "https://api.openai.com/v1/chat/completions"),
            Some(("openai".to_owned(), "chat"))
        );
        assert_eq!(
            op("POST", "https://api.openai.com/v1/embeddings"),
            Some(("openai".to_owned(), "embeddings"))
        );
        assert_eq!(
            op("POST", "https://api.openai.com/v1/responses"),
            Some(("openai".to_owned(), "chat"))
        );
        assert_eq!(op("GET", "https://api.openai.com/v1/models"), None);
        assert_eq!(op("POST", "https://api.openai.com/v1/files"), None);
        assert_eq!(
            op("POST", "https://api.anthropic.com/v1/messages"),
            Some(("anthropic".to_owned(), "chat"))
        );
        assert_eq!(
            op(
                "POST",
                "https://acme.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"
            ),
            Some(("azure.openai".to_owned(), "chat"))
        );
        assert_eq!(
            op("POST", "https://evil-openai.azure.com/v1/chat/completions"),
            None
        );
        assert_eq!(
            op("POST", "http://localhost:11434/v1/chat/completions"),
            Some(("ollama".to_owned(), "chat"))
        );
        assert_eq!(
            op("POST", "http://localhost:11435/v1/chat/completions"),
            None
        );
        let azure = e
            .recognise(
                "POST",
                &url("https://acme.openai.azure.com/openai/deployments/gpt4o/chat/completions"),
            )
            .unwrap();
        assert_eq!(azure.deployment.as_deref(), Some("gpt4o"));
    }

    #[test]
    fn usage_in_every_shape() {
        let u = |s: &str| usage_of(&serde_json::from_str(s).unwrap());
        assert_eq!(
            u(
                r#"{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}"#
            ),
            Some(TokenUsage {
                input: 12,
                output: 5,
                cached: 4,
                ..Default::default()
            })
        );
        assert_eq!(
            u(
                r#"{"input_tokens":7,"output_tokens":3,"cache_read_input_tokens":2,"cache_creation_input_tokens":1}"#
            ),
            Some(TokenUsage {
                input: 7,
                output: 3,
                cached: 0,
                cache_read: 2,
                cache_write: 1
            })
        );
        assert_eq!(u(r#"{"total_tokens":9}"#), None);
        let merged = merge_usage(
            u(r#"{"input_tokens":7,"output_tokens":1}"#),
            u(r#"{"output_tokens":30}"#).unwrap(),
        );
        assert_eq!((merged.input, merged.output), (7, 30));
    }

    #[test]
    fn responses_api_answers() {
        let v: Json = serde_json::from_str(
            r#"{"object":"response","status":"completed","output":[{"type":"reasoning","summary":[]},{"type":"message","content":[{"type":"output_text","text":"Hi"}]}]}"#,
        )
        .unwrap();
        assert_eq!(answer_text(&v), Some("Hi"));
        assert_eq!(finish_reasons(&v), ["completed"]);
        let incomplete: Json = serde_json::from_str(
            r#"{"type":"response.incomplete","response":{"object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}}"#,
        )
        .unwrap();
        assert_eq!(finish_reasons(&incomplete), ["max_output_tokens"]);
        let running: Json =
            serde_json::from_str(r#"{"object":"response","status":"in_progress"}"#).unwrap();
        assert!(finish_reasons(&running).is_empty());
    }
}
