//! [`ResponseFuture`]: polls the inner service under the run's context.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::lifecycle::{error_class_of, poll_in_run, ActiveRun, RunEnd};
use http::{HeaderValue, Response};
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::body::BotanuBody;

/// Response header naming the run.
pub const RUN_ID_HEADER: &str = "x-botanu-run-id";

pin_project! {
    /// The future of [`BotanuService`](crate::BotanuService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        run: Option<Running>,
    }
}

struct Running {
    active: ActiveRun,
    cx: Context,
    run_id_header: bool,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, active: ActiveRun, cx: Context, run_id_header: bool) -> Self {
        ResponseFuture {
            inner,
            run: Some(Running {
                active,
                cx,
                run_id_header,
            }),
        }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        ResponseFuture { inner, run: None }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("in_run", &self.run.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<BotanuBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(running) = this.run.as_ref() else {
            return this
                .inner
                .poll(task)
                .map(|r| r.map(|res| res.map(BotanuBody::passthrough)));
        };
        let cx = running.cx.clone();
        let run = &mut *this.run;
        let polled = poll_in_run(
            &cx,
            || this.inner.as_mut().poll(task),
            || run.take().map(|running| running.active),
        );
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                if let Some(running) = this.run.take() {
                    running
                        .active
                        .finish(RunEnd::failure(error_class_of::<E>()));
                }
                Poll::Ready(Err(e))
            }
            Poll::Ready(Ok(mut response)) => {
                let Some(running) = this.run.take() else {
                    return Poll::Ready(Ok(response.map(BotanuBody::passthrough)));
                };
                if running.run_id_header {
                    if let Ok(v) = HeaderValue::from_str(running.active.run().run_id()) {
                        response.headers_mut().insert(RUN_ID_HEADER, v);
                    }
                }
                let status = response.status();
                Poll::Ready(Ok(
                    response.map(|b| BotanuBody::new(b, running.active, status))
                ))
            }
        }
    }
}
