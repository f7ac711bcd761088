//! [`BotanuBody`]: keeps the run open until the response body ends.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use botanu_core::adapter::ResponseRun;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a run: polled under the run's context, ending the run exactly
    /// once — at the end of the stream, on a body error, or as canceled when dropped early.
    pub struct BotanuBody<B> {
        #[pin]
        inner: B,
        run: Option<ResponseRun>,
    }
}

impl<B: MessageBody> BotanuBody<B> {
    pub(crate) fn new(inner: B, mut run: Option<ResponseRun>) -> Self {
        // An empty body may never be polled.
        let empty = matches!(inner.size(), BodySize::None | BodySize::Sized(0));
        if let Some(run) = run.as_mut().filter(|_| empty) {
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

impl<B: MessageBody> MessageBody for BotanuBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        task: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        ResponseRun::poll_body(
            this.run,
            this.inner,
            |b| b.poll_next(task),
            |_| false,
            |_| None,
        )
    }
}
