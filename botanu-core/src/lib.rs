#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod baggage;
pub mod config;
mod enricher;
mod error;
mod export;
mod install;
pub mod run;
mod sampling;

pub use baggage::{BaggageLookup, BaggagePropagator};
pub use config::BotanuConfig;
pub use enricher::RunContextEnricher;
pub use error::Error;
pub use export::ExportStats;
pub use install::{enable, enable_with, tracer, Botanu, BotanuBuilder, Mode, SCOPE_NAME};
pub use run::{
    default_environment, new_run_id, set_default_environment, RunContext, RunContextBuilder,
    RunOutcome, RunStatus,
};
pub use sampling::{PreservingSampler, SampledSpanProcessor};
