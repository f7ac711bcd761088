#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod adapter;
mod config;
mod error;
mod lifecycle;
mod otel;
pub mod pii;
pub mod propagation;
mod run;
pub mod semconv;
mod track;

#[cfg(feature = "async-openai")]
pub use track::openai;
pub use track::step::{step, Step};
pub use track::{data, llm};

/// Makes each call of a function one botanu run — the Rust form of the reference SDK's
/// `@botanu_workflow` decorator.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use botanu_core::{workflow, RunContext};
///
/// struct Ticket { id: u64, org: String }
///
/// #[workflow(name = "Customer Support", event_id = ticket.id, customer_id = ticket.org)]
/// async fn resolve(ticket: &Ticket) -> Result<String, std::io::Error> {
///     let run = RunContext::current().expect("inside the run");
///     Ok(format!("{} for {}", run.event_id(), run.customer_id()))
/// }
///
/// let t = Ticket { id: 42, org: "acme".into() };
/// assert_eq!(resolve(&t).await.unwrap(), "42 for acme");
/// # }
/// ```
///
/// Keys: `name` (required), `event_id`, `customer_id`, `tenant_id` — any expressions over the
/// function's arguments, turned into strings with `ToString`, evaluated before the body runs.
/// Works on `async fn` and `fn`, free functions and methods. A function returning a `Result`
/// (any type named `Result`) fails the run on `Err`; other return types are a success unless
/// the call panics (failure, the panic continues) or the future is dropped (canceled).
/// `botanu.workflow.version` is `v:` plus 12 hex digits of a hash of the function's tokens in a
/// canonical form, so it changes when the code does and not with the toolchain or the layout
/// (values differ from the Python SDK's).
///
/// `capture_input = true` (every call), `sampled` (at `BOTANU_CONTENT_CAPTURE_RATE`) or `false`
/// (the default) records the run's content on its span as the reference SDK's `capture_input`
/// does: the arguments by name (`{"ticket": …}`, each in its `Debug` form; not `self`) as
/// `botanu.eval.input_content` before the body runs, and on success the value (the `Ok` value of
/// a `Result`) in its `Debug` form as `botanu.eval.output_content`; PII-scrubbed, cut to 4096
/// characters, one decision per call for both. The expansion calls `::botanu_core`; an app that
/// depends only on an adapter names the path with `crate`:
/// `#[botanu_axum::botanu_core::workflow(crate = botanu_axum::botanu_core, name = "Digest")]`.
#[cfg(feature = "macros")]
pub use botanu_macros::workflow;
pub use config::BotanuConfig;
pub use data::{track_db_operation, track_messaging_operation, track_storage_operation};
pub use error::{Error, Incomplete};
pub use lifecycle::scope::{workflow, RunResult, ScopeFuture, WorkflowScope};
pub use llm::{track_llm, track_tool_call};
pub use otel::enricher::RunContextEnricher;
pub use otel::export::ExportStats;
pub use otel::install::{
    enable, enable_with, shutdown_guard, tracer, Botanu, BotanuBuilder, Mode, ShutdownGuard,
    SCOPE_NAME,
};
pub use otel::sampling::{PreservingSampler, SampledSpanProcessor};
#[cfg(feature = "tracing")]
pub use otel::tracing_bridge::tracing_layer;
pub use propagation::baggage::BaggagePropagator;
pub use run::outcome::{
    emit_outcome, set_business_context, set_correlation, Amount, BusinessContext, Outcome,
};
pub use run::spawn::InCurrentRun;
#[cfg(feature = "tokio")]
pub use run::spawn::{spawn, spawn_blocking};
pub use run::{
    default_environment, new_run_id, set_default_environment, RunContext, RunContextBuilder,
    RunOutcome, RunStatus,
};
#[cfg(feature = "reqwest")]
pub use track::reqwest::BotanuPropagation;

/// What `#[workflow]` expands to besides a scope. Not part of the API.
#[doc(hidden)]
pub mod __private {
    use crate::run::{Recorded, RunContext};
    use crate::track::capture;

    /// Whether this call's content is recorded (`capture_input`).
    pub fn capture_decision(explicit: Option<bool>) -> bool {
        capture::decide(explicit)
    }

    /// The run's input (`botanu.eval.input_content`), scrubbed and cut.
    pub fn record_run_input(text: &str) {
        record("botanu.eval.input_content", text);
    }

    /// The run's output (`botanu.eval.output_content`), scrubbed and cut.
    pub fn record_run_output(text: &str) {
        record("botanu.eval.output_content", text);
    }

    fn record(key: &'static str, text: &str) {
        let Some(run) = RunContext::current() else {
            return;
        };
        if let Some(text) = capture::prepare_decided(text, capture::DEFAULT_MAX_CHARS) {
            run.record(Recorded::Attribute(opentelemetry::KeyValue::new(key, text)));
        }
    }
}

/// Internals the benchmarks measure and the fuzz targets drive (feature `__bench`). Not part of
/// the API: no stability, no semver.
#[cfg(feature = "__bench")]
#[doc(hidden)]
pub mod __bench {
    /// botanu's direct OTLP encoder.
    #[derive(Debug)]
    pub struct Encoder(crate::otel::export::Encoder);

    impl Encoder {
        /// An encoder for spans of `resource`.
        pub fn new(resource: &opentelemetry_sdk::Resource) -> Self {
            Encoder(crate::otel::export::Encoder::new(resource))
        }

        /// Encodes `spans` into requests of at most `limit` bytes; returns the bytes written.
        pub fn encode(
            &mut self,
            spans: &[opentelemetry_sdk::trace::SpanData],
            limit: usize,
        ) -> usize {
            let mut total = 0;
            self.0.encode(spans, limit, |body, _| total += body.len());
            total
        }
    }

    /// Content capture's cut and scrub of `text` (see `llm::call`'s content capture).
    pub fn prepare_with(
        text: &str,
        max_chars: usize,
        scrubber: Option<&crate::pii::Scrubber>,
    ) -> Option<String> {
        crate::track::capture::prepare_with(text, max_chars, scrubber)
    }

    /// The traces endpoint `config` exports to, or the configuration error.
    pub fn traces_endpoint(config: &crate::BotanuConfig) -> Result<String, crate::Error> {
        config.resolve().map(|r| r.traces_endpoint)
    }

    /// One provider call through the wire recogniser, as `BotanuPropagation` makes it: the
    /// request recognised and read, the span started, the response observed in `chunks` and
    /// recorded. `false` when `url` is not a provider endpoint.
    #[cfg(feature = "reqwest")]
    pub fn wire_call(
        endpoints: &crate::llm::LlmEndpoints,
        url: &url::Url,
        request: &[u8],
        chunks: &[&[u8]],
        event_stream: bool,
    ) -> bool {
        let Some(recognised) = endpoints.recognise("POST", url) else {
            return false;
        };
        let mut tap = recognised.start(Some(request)).respond(200, event_stream);
        for chunk in chunks {
            tap.data(chunk);
        }
        tap.end();
        true
    }
}
