//! Runs outside HTTP: background jobs, queue consumers, CLI batches, agent loops (see
//! [`workflow`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::SpanKind;
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::lifecycle::{error_class_of, extract_inbound, poll_in_run, ActiveRun, RunEnd, RunSpec};
use crate::{RunContext, RunStatus};

/// How a scope's result decides the run's status.
pub trait RunResult {
    /// The end of the run for this result.
    fn run_end(&self) -> RunEnd;
}

/// An `Err` is a failure: its type name is the error class, its `Display` form the message
/// (the status is `Type: message`, as the reference SDK writes `str(exception)`).
impl<T, E: std::fmt::Display + 'static> RunResult for Result<T, E> {
    fn run_end(&self) -> RunEnd {
        match self {
            Ok(_) => RunEnd::new(RunStatus::Success),
            Err(e) => {
                let mut message = e.to_string();
                let kept = crate::pii::truncate_bytes(&message, 512).len();
                message.truncate(kept);
                RunEnd::failure(error_class_of::<E>())
                    .message(message)
                    .exception()
            }
        }
    }
}

/// Starts a run of `workflow` outside HTTP: background jobs, queue consumers, CLI batches,
/// agent loops.
///
/// It returns a builder; [`WorkflowScope::run`] runs a future as one run,
/// [`WorkflowScope::run_sync`] a closure. A `Result` decides the status (an `Err` is a failure
/// whose error class is the error's type name); a panic is a failure of class `panic` and keeps
/// unwinding; a future dropped before it finishes is `canceled`. Inside, the run is current:
/// [`RunContext::current`] returns it, spans are enriched, nested scopes get it as parent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use botanu_core::{workflow, RunContext};
///
/// let answer: Result<u32, std::io::Error> = workflow("Nightly Summary")
///     .event_id("2026-11-23")
///     .customer_id("acme")
///     .run(async {
///         let run = RunContext::current().expect("inside the run");
///         assert_eq!(run.workflow(), "Nightly Summary");
///         Ok(42)
///     })
///     .await;
/// assert_eq!(answer.unwrap(), 42);
/// # }
/// ```
pub fn workflow(workflow: impl Into<String>) -> WorkflowScope {
    WorkflowScope {
        workflow: workflow.into(),
        event_id: None,
        customer_id: None,
        tenant_id: None,
        workflow_version: None,
        parent: None,
        retry_of: None,
        kind: SpanKind::Server,
    }
}

/// A run about to start; see [`workflow`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkflowScope {
    workflow: String,
    event_id: Option<String>,
    customer_id: Option<String>,
    tenant_id: Option<String>,
    workflow_version: Option<String>,
    parent: Option<Context>,
    retry_of: Option<RunContext>,
    kind: SpanKind,
}

impl WorkflowScope {
    /// The business event id (default: inherited, else the run id).
    pub fn event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }
    /// The customer.
    pub fn customer_id(mut self, id: impl Into<String>) -> Self {
        self.customer_id = Some(id.into());
        self
    }
    /// The tenant.
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }
    /// A version label for the workflow's code (`botanu.workflow.version`).
    pub fn workflow_version(mut self, version: impl Into<String>) -> Self {
        self.workflow_version = Some(version.into());
        self
    }
    /// Continues from `parent` (e.g. a context extracted from message headers) instead of the
    /// current context: same trace, `parent_run_id` from its run, event and customer inherited.
    pub fn parent(mut self, parent: Context) -> Self {
        self.parent = Some(parent);
        self
    }
    /// Continues from the `traceparent` and `baggage` in message headers (see
    /// [`RunContext::inject`]).
    pub fn parent_from(self, headers: &dyn Extractor) -> Self {
        self.parent(extract_inbound(headers))
    }
    /// Makes this run the next attempt of `previous` (redelivery, retry).
    pub fn retry_of(mut self, previous: &RunContext) -> Self {
        self.retry_of = Some(previous.clone());
        self
    }
    /// The span kind of the run span (default Server, as in the reference SDK).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    fn start(self) -> ActiveRun {
        let parent = self.parent.unwrap_or_else(Context::current);
        let mut spec = RunSpec::new(self.workflow)
            .event_id(self.event_id)
            .customer_id(self.customer_id)
            .tenant_id(self.tenant_id)
            .workflow_version(self.workflow_version)
            .kind(self.kind);
        if let Some(previous) = &self.retry_of {
            spec = spec.retry_of(previous);
        }
        spec.start(&parent)
    }

    /// Runs `future` as the run; its `Result` decides the status.
    pub fn run<F>(self, future: F) -> ScopeFuture<F>
    where
        F: Future,
        F::Output: RunResult,
    {
        ScopeFuture::new(self.start(), future, |out: &F::Output| out.run_end())
    }

    /// Runs `future` as the run, whatever it returns (success unless it panics or is dropped).
    pub fn run_any<F: Future>(self, future: F) -> ScopeFuture<F> {
        ScopeFuture::new(self.start(), future, |_| RunEnd::new(RunStatus::Success))
    }

    /// Runs `f` as the run; its `Result` decides the status.
    pub fn run_sync<R: RunResult>(self, f: impl FnOnce() -> R) -> R {
        self.run_sync_with(f, |r| r.run_end())
    }

    /// Runs `f` as the run, whatever it returns.
    pub fn run_sync_any<R>(self, f: impl FnOnce() -> R) -> R {
        self.run_sync_with(f, |_| RunEnd::new(RunStatus::Success))
    }

    fn run_sync_with<R>(self, f: impl FnOnce() -> R, end: impl FnOnce(&R) -> RunEnd) -> R {
        let mut active = Some(self.start());
        let cx = active
            .as_ref()
            .map(|a| a.context().clone())
            .unwrap_or_default();
        let value = poll_in_run(&cx, f, || active.take());
        if let Some(a) = active {
            a.finish(end(&value));
        }
        value
    }

    /// Runs `attempt` up to `max_attempts` times until it returns `Ok`; each attempt is its own
    /// run (`attempt` 1, 2, …, the same `root_run_id`, `retry_of_run_id` = the previous run) and
    /// receives that run. Returns the last result.
    pub async fn run_retrying<T, E, Fut>(
        self,
        max_attempts: u32,
        mut attempt: impl FnMut(RunContext) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display + 'static,
    {
        let mut previous: Option<RunContext> = None;
        let mut n = 0;
        loop {
            n += 1;
            let mut scope = self.clone();
            if let Some(p) = &previous {
                scope = scope.retry_of(p);
            }
            let active = scope.start();
            let run = active.run().clone();
            let result =
                ScopeFuture::new(active, attempt(run.clone()), |r: &Result<T, E>| r.run_end())
                    .await;
            if result.is_ok() || n >= max_attempts.max(1) {
                return result;
            }
            previous = Some(run);
        }
    }

    /// [`run_retrying`](Self::run_retrying) for blocking code.
    pub fn run_sync_retrying<T, E: std::fmt::Display + 'static>(
        self,
        max_attempts: u32,
        mut attempt: impl FnMut(RunContext) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut previous: Option<RunContext> = None;
        let mut n = 0;
        loop {
            n += 1;
            let mut scope = self.clone();
            if let Some(p) = &previous {
                scope = scope.retry_of(p);
            }
            let mut this_run = None;
            let result = scope.run_sync(|| {
                let run = RunContext::current().expect("inside the run");
                this_run = Some(run.clone());
                attempt(run)
            });
            if result.is_ok() || n >= max_attempts.max(1) {
                return result;
            }
            previous = this_run;
        }
    }
}

type EndFn<O> = fn(&O) -> RunEnd;

pin_project! {
    /// A future running as a botanu run (from [`WorkflowScope::run`]). Dropping it before it
    /// finishes ends the run as `canceled`.
    pub struct ScopeFuture<F: Future> {
        #[pin]
        inner: F,
        active: Option<ActiveRun>,
        cx: Context,
        end: EndFn<F::Output>,
    }
}

impl<F: Future> ScopeFuture<F> {
    fn new(active: ActiveRun, inner: F, end: EndFn<F::Output>) -> Self {
        let cx = active.context().clone();
        ScopeFuture {
            inner,
            active: Some(active),
            cx,
            end,
        }
    }
}

impl<F: Future> std::fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for ScopeFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let active = &mut *this.active;
        let polled = poll_in_run(this.cx, || this.inner.as_mut().poll(task), || active.take());
        if let Poll::Ready(out) = &polled {
            if let Some(active) = this.active.take() {
                active.finish((this.end)(out));
            }
        }
        polled
    }
}

impl RunContext {
    /// Writes the current trace context (`traceparent`) and this run's baggage into message
    /// headers, for a consumer to continue with [`WorkflowScope::parent_from`] or
    /// [`RunContext::extract`]. Same W3C formats as HTTP; no host policy (queues are internal).
    pub fn inject(&self, headers: &mut dyn opentelemetry::propagation::Injector) {
        let cx = self.to_context(&Context::current());
        crate::propagation::PropagationPolicy::none()
            .allow("*")
            .inject(&cx, Some("queue"), headers);
    }

    /// The run carried by message headers written with [`RunContext::inject`].
    pub fn extract(headers: &dyn Extractor) -> Option<RunContext> {
        RunContext::from_context(&extract_inbound(headers))
    }
}
