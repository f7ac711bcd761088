//! Steps of a run (the reference SDK's `step()`): `botanu.step/<name>` spans for the phases of
//! a workflow (retrieval, planning, each turn of an agent loop).

use std::future::Future;

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, ContextGuard, KeyValue};

use crate::lifecycle::scope::RunResult;
use crate::semconv::keys;
use crate::track::TrackedSpan;

/// Starts a step named `name` of the current run: a span `botanu.step/<name>` (kind internal,
/// scope `botanu_sdk`, a child of the current span) with `botanu.step` = `name`, and the
/// `botanu.step` baggage key for the work inside it (it goes to downstream services with the
/// run's baggage, under the same host policy). As in the reference SDK, spans inside the step
/// carry the run's ids but not the step name, and a step has no events of its own.
///
/// Three forms: a future ([`Step::run`]), a closure ([`Step::run_sync`]), or a guard for code
/// in between ([`Step::enter`], then [`Step::end`] or drop). An `Err` or a panic inside marks
/// the step failed (status `Type: message`, an `exception` event); a step dropped unfinished
/// ends as it is.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use botanu_core::{step, workflow};
///
/// let answer: Result<String, std::io::Error> = workflow("Research Agent")
///     .event_id("q-17")
///     .run(async {
///         let docs = step("retrieval").run(async { Ok::<_, std::io::Error>(vec!["a", "b"]) }).await?;
///         for turn in 0..2 {
///             let plan = step("plan");
///             let _inside = plan.enter(); // sync code inside the step
///             let _ = (turn, &docs);
///         } // each `plan` step ends here
///         Ok("done".to_owned())
///     })
///     .await;
/// assert_eq!(answer.unwrap(), "done");
/// # }
/// ```
pub fn step(name: &str) -> Step {
    let span = TrackedSpan::start(
        crate::semconv::scopes::RUN,
        format!("botanu.step/{name}"),
        SpanKind::Internal,
        vec![KeyValue::new(keys::STEP, name.to_owned())],
        None,
        "error.type",
    );
    let base = span.context();
    let mut baggage = crate::run::current::copy_except(base.baggage(), |k| k == keys::STEP);
    let _ = baggage.insert(keys::STEP, name.to_owned());
    let cx = base.with_baggage(baggage);
    Step { span, cx }
}

/// A step in progress (see [`step`]). Clones share the step; it ends on [`end`](Self::end) or
/// when the last clone is dropped.
#[derive(Debug, Clone)]
#[must_use = "the step ends when it is dropped"]
pub struct Step {
    span: TrackedSpan,
    cx: Context,
}

impl Step {
    /// The context for work inside the step (to pass to `with_context` or spawn under).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Makes the step current on this thread until the guard is dropped (sync code; across
    /// `.await`, use [`run`](Self::run)).
    pub fn enter(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// Runs `work` inside the step and ends it; an `Err` marks the step failed.
    pub async fn run<F>(self, work: F) -> F::Output
    where
        F: Future,
        F::Output: RunResult,
    {
        use opentelemetry::context::FutureExt as _;
        let out = work.with_context(self.cx.clone()).await;
        self.finish(&out);
        out
    }

    /// Runs `f` inside the step and ends it; an `Err` marks the step failed.
    pub fn run_sync<T: RunResult>(self, f: impl FnOnce() -> T) -> T {
        let out = {
            let _inside = self.enter();
            f()
        };
        self.finish(&out);
        out
    }

    /// Marks the step failed with `error` (its type name as `error.type`, an `exception`
    /// event, status `Type: message`).
    pub fn fail<E: std::fmt::Display + ?Sized + 'static>(&self, error: &E) {
        self.span
            .set_error(&crate::lifecycle::error_class_of::<E>(), &error.to_string());
    }

    /// Ends the step now.
    pub fn end(self) {
        self.span.end();
    }

    fn finish(self, out: &impl RunResult) {
        let end = out.run_end();
        if let Some((class, message)) = end.failure_parts() {
            self.span.set_error(class, message);
        }
        self.span.end();
    }
}
