//! [`BotanuBody`]: keeps the run open until the response body ends.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::lifecycle::{error_class_of, ActiveRun, ResponseRun};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a run: polled under the run's context (spans created while
    /// streaming are in the run), and ending the run exactly once — at the end of the stream,
    /// on a body error, or as canceled when dropped early.
    pub struct BotanuBody<B> {
        #[pin]
        inner: B,
        run: Option<ResponseRun>,
    }
}

impl<B: Body> BotanuBody<B> {
    pub(crate) fn new(inner: B, active: ActiveRun, status: StatusCode) -> Self {
        let mut run = ResponseRun::new(active, status.as_u16());
        // A body that is already complete may never be polled.
        if inner.is_end_stream() {
            run.end();
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
        let Some(cx) = this.run.as_ref().and_then(ResponseRun::context).cloned() else {
            return this.inner.poll_frame(task);
        };
        let polled = {
            let _inside = cx.attach();
            this.inner.as_mut().poll_frame(task)
        };
        if let Some(run) = this.run.as_mut() {
            match &polled {
                Poll::Ready(None) => run.end(),
                Poll::Ready(Some(Err(_))) => run.end_with_body_error(error_class_of::<B::Error>()),
                Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => run.end(),
                _ => {}
            }
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
