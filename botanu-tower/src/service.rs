//! [`BotanuService`]: starts a run per request.

use std::task::{Context as TaskContext, Poll};

use botanu_core::adapter::{Http, HttpRuns};
use http::{Request, Response};
use tower_service::Service;

use crate::body::BotanuBody;
use crate::future::ResponseFuture;

/// The service of [`BotanuLayer`](crate::BotanuLayer).
#[derive(Debug, Clone)]
pub struct BotanuService<S> {
    pub(crate) inner: S,
    pub(crate) runs: HttpRuns<Http>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BotanuService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<BotanuBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let Some(run) = self.runs.start(&parts) else {
            return ResponseFuture::new(self.inner.call(Request::from_parts(parts, body)), None);
        };
        parts.extensions.insert(run.run().clone());
        let future = {
            let _inside = run.context().clone().attach();
            self.inner.call(Request::from_parts(parts, body))
        };
        ResponseFuture::new(future, Some(run))
    }
}
