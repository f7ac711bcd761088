//! [`BotanuBody`]: keeps the run open until the response body ends.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::lifecycle::{error_class_of, ActiveRun, RunEnd};
use botanu_core::RunStatus;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a run: polled under the run's context (spans created while
    /// streaming are in the run), and ending the run exactly once — at the end of the stream,
    /// on a body error, or as canceled when dropped early.
    pub struct BotanuBody<B> {
        #[pin]
        inner: B,
        run: Option<BodyRun>,
    }
}

struct BodyRun {
    active: Option<ActiveRun>,
    cx: Context,
    status: StatusCode,
}

impl BodyRun {
    fn end(&mut self, outcome: Result<(), String>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let code = KeyValue::new("http.response.status_code", i64::from(self.status.as_u16()));
        let end = match outcome {
            Err(class) => RunEnd::failure(class).message("response body failed"),
            Ok(()) if self.status.is_server_error() => {
                RunEnd::failure(self.status.as_str().to_owned())
                    .message(format!("HTTP {}", self.status))
            }
            Ok(()) => RunEnd::new(RunStatus::Success),
        };
        active.finish(end.attribute(code));
    }
}

impl Drop for BodyRun {
    fn drop(&mut self) {
        if let Some(active) = self.active.take() {
            let code = KeyValue::new("http.response.status_code", i64::from(self.status.as_u16()));
            active.finish(
                RunEnd::new(RunStatus::Canceled)
                    .message("response body dropped before its end (client went away)")
                    .attribute(code),
            );
        }
    }
}

impl<B: Body> BotanuBody<B> {
    pub(crate) fn new(inner: B, active: ActiveRun, cx: Context, status: StatusCode) -> Self {
        let mut run = BodyRun {
            active: Some(active),
            cx,
            status,
        };
        // A body that is already complete may never be polled.
        if inner.is_end_stream() {
            run.end(Ok(()));
        }
        BotanuBody {
            inner,
            run: Some(run),
        }
    }

    pub(crate) fn passthrough(inner: B) -> Self {
        BotanuBody { inner, run: None }
    }
}

impl<B> std::fmt::Debug for BotanuBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotanuBody").finish_non_exhaustive()
    }
}

impl<B: Body> Body for BotanuBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        task: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(run) = this.run.as_mut() else {
            return this.inner.poll_frame(task);
        };
        let polled = {
            let _inside = run.cx.clone().attach();
            this.inner.as_mut().poll_frame(task)
        };
        match &polled {
            Poll::Ready(None) => run.end(Ok(())),
            Poll::Ready(Some(Err(_))) => run.end(Err(error_class_of::<B::Error>())),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => run.end(Ok(())),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
