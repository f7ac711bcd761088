#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod baggage;
pub mod config;
mod enricher;
mod error;
mod export;
mod install;
pub mod lifecycle;
#[cfg(feature = "reqwest")]
mod outbound_reqwest;
mod outcome;
pub mod propagation;
pub mod run;
mod sampling;
mod spawn;

pub use baggage::{BaggageLookup, BaggagePropagator};
pub use config::BotanuConfig;
pub use enricher::RunContextEnricher;
pub use error::Error;
pub use export::ExportStats;
pub use install::{
    enable, enable_with, is_active, tracer, Botanu, BotanuBuilder, Mode, SCOPE_NAME,
};
#[cfg(feature = "reqwest")]
pub use outbound_reqwest::BotanuPropagation;
pub use outcome::{emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome};
pub use run::{
    default_environment, new_run_id, set_default_environment, RunContext, RunContextBuilder,
    RunOutcome, RunStatus,
};
pub use sampling::{PreservingSampler, SampledSpanProcessor};
pub use spawn::InCurrentRun;
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};
