//! [`BotanuBody`]: keeps the run open until the response body ends.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::adapter::ResponseRun;
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
    pub(crate) fn new(inner: B, mut run: Option<ResponseRun>) -> Self {
        // A body that is already complete may never be polled.
        if let Some(run) = run.as_mut().filter(|_| inner.is_end_stream()) {
            run.end();
        }
        BotanuBody { inner, run }
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
        let this = self.project();
        ResponseRun::poll_body(
            this.run,
            this.inner,
            |b| b.poll_frame(task),
            B::is_end_stream,
            Frame::trailers_ref,
        )
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
