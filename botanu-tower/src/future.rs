//! [`ResponseFuture`]: polls the inner service under the run's context.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use botanu_core::adapter::{RequestRun, RUN_ID_HEADER};
use http::{HeaderValue, Response};
use opentelemetry_http::HeaderExtractor;
use pin_project_lite::pin_project;

use crate::body::BotanuBody;

pin_project! {
    /// The future of [`BotanuService`](crate::BotanuService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        run: Option<RequestRun>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, run: Option<RequestRun>) -> Self {
        ResponseFuture { inner, run }
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
        let inner = &mut this.inner;
        let polled = RequestRun::poll(this.run, || inner.as_mut().poll(task));
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        let Some(run) = this.run.take() else {
            return Poll::Ready(result.map(|res| res.map(|b| BotanuBody::new(b, None))));
        };
        match result {
            Err(e) => {
                run.fail::<E>(None);
                Poll::Ready(Err(e))
            }
            Ok(mut response) => {
                if let Some(v) = run
                    .run_id_header()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    // A prepared name: a `&str` one would be parsed and copied per response.
                    const NAME: http::HeaderName = http::HeaderName::from_static(RUN_ID_HEADER);
                    response.headers_mut().insert(NAME, v);
                }
                let status = response.status().as_u16();
                let run = run.respond(status, &HeaderExtractor(response.headers()));
                Poll::Ready(Ok(response.map(|b| BotanuBody::new(b, Some(run)))))
            }
        }
    }
}
