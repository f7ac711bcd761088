#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod adapter;
pub mod baggage;
pub mod capture;
pub mod config;
pub mod data;
mod enricher;
mod error;
mod export;
mod install;
mod lifecycle;
pub mod llm;
#[cfg(feature = "reqwest")]
mod outbound_reqwest;
mod outcome;
mod own_span;
pub mod pii;
mod pipeline;
pub mod propagation;
pub mod run;
mod sampling;
mod scope;
mod spawn;
#[cfg(feature = "tracing")]
mod tracing_bridge;
mod tracking;

pub use baggage::{BaggageLookup, BaggagePropagator};
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
/// `botanu.workflow.version` is `v:` plus 12 hex digits of a hash of the function's tokens, so
/// it changes when the code does (values differ from the Python SDK's).
#[cfg(feature = "macros")]
pub use botanu_macros::workflow;
pub use config::BotanuConfig;
pub use data::{track_db_operation, track_messaging_operation, track_storage_operation};
pub use enricher::RunContextEnricher;
pub use error::{Error, Incomplete};
pub use export::ExportStats;
pub use install::{
    enable, enable_with, shutdown_guard, tracer, Botanu, BotanuBuilder, Mode, ShutdownGuard,
    SCOPE_NAME,
};
pub use llm::{track_llm, track_tool_call};
#[cfg(feature = "reqwest")]
pub use outbound_reqwest::BotanuPropagation;
pub use outcome::{emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome};
pub use run::{
    default_environment, new_run_id, set_default_environment, RunContext, RunContextBuilder,
    RunOutcome, RunStatus,
};
pub use sampling::{PreservingSampler, SampledSpanProcessor};
pub use scope::{workflow, RunResult, ScopeFuture, WorkflowScope};
pub use spawn::InCurrentRun;
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};
#[cfg(feature = "tracing")]
pub use tracing_bridge::tracing_layer;

/// Internals the benchmarks measure (feature `__bench`). Not part of the API: no stability,
/// no semver.
#[cfg(feature = "__bench")]
#[doc(hidden)]
pub mod __bench {
    /// botanu's direct OTLP encoder.
    #[derive(Debug)]
    pub struct Encoder(crate::export::Encoder);

    impl Encoder {
        /// An encoder for spans of `resource`.
        pub fn new(resource: &opentelemetry_sdk::Resource) -> Self {
            Encoder(crate::export::Encoder::new(resource))
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
}
