//! Keeping work in its run across tasks.
//!
//! The run lives in the OpenTelemetry [`Context`], which is per task: plain `tokio::spawn` and
//! `spawn_blocking` start from an empty context, so spans created there belong to no run.
//! [`spawn`] and [`InCurrentRun::in_current_run`] carry the current context along.

use std::future::Future;

use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::Context;

/// Binds a future to the run (the whole OpenTelemetry context) that is current now.
pub trait InCurrentRun: Sized {
    /// Polls `self` under the context current at this call.
    fn in_current_run(self) -> WithContext<Self>;
}

impl<F: Future> InCurrentRun for F {
    fn in_current_run(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }
}

/// `tokio::spawn` that keeps the current run: spans created by the task carry its attributes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use botanu_core::RunContext;
/// use opentelemetry::Context;
///
/// let run = RunContext::new("Support", "t-1", "acme");
/// let _inside = run.to_context(&Context::current()).attach();
/// let seen = botanu_core::spawn(async { RunContext::current().map(|r| r.run_id().to_owned()) })
///     .await
///     .unwrap();
/// assert_eq!(seen.as_deref(), Some(run.run_id()));
/// # }
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_run())
}

/// `tokio::task::spawn_blocking` that keeps the current run.
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let cx = Context::current();
    tokio::task::spawn_blocking(move || {
        let _inside = cx.attach();
        f()
    })
}
