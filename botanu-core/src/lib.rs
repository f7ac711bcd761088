#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod baggage;
mod enricher;
mod error;
pub mod run;
mod sampling;

pub use baggage::{BaggageLookup, BaggagePropagator};
pub use enricher::RunContextEnricher;
pub use error::Error;
pub use run::{
    default_environment, new_run_id, set_default_environment, RunContext, RunContextBuilder,
    RunOutcome, RunStatus,
};
pub use sampling::{PreservingSampler, SampledSpanProcessor};
