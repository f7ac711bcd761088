//! [`BotanuService`]: starts a run per request.

use std::task::{Context as TaskContext, Poll};

use botanu_core::lifecycle::{guard_callback, http_request_attributes, skips_request, RunSpec};
use http::{Request, Response};
use opentelemetry_http::HeaderExtractor;
use tower_service::Service;

use crate::body::BotanuBody;
use crate::extract::Extract;
use crate::future::ResponseFuture;
use crate::layer::BotanuLayer;

/// The service of [`BotanuLayer`].
#[derive(Debug, Clone)]
pub struct BotanuService<S, E, C, T, R> {
    pub(crate) inner: S,
    pub(crate) layer: BotanuLayer<E, C, T, R>,
}

impl<S, E, C, T, R, ReqBody, ResBody> Service<Request<ReqBody>> for BotanuService<S, E, C, T, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: Extract,
    C: Extract,
    T: Extract,
    R: Extract,
    ResBody: http_body::Body,
{
    type Response = Response<BotanuBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !botanu_core::is_active() {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let (mut parts, body) = req.into_parts();
        let l = &self.layer;
        let route = guard_callback("route extractor", || l.route.extract(&parts)).flatten();
        let skip = l.config.skip.as_ref().map(|f| || f(&parts));
        if skips_request(l.config.skip_unmatched, route.is_some(), skip) {
            return ResponseFuture::passthrough(self.inner.call(Request::from_parts(parts, body)));
        }
        let attributes = http_request_attributes(parts.method.as_str(), parts.uri.path(), route);
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let active = RunSpec::new(l.config.workflow.clone())
            .event_id(guard_callback("event_id extractor", || l.event_id.extract(&parts)).flatten())
            .customer_id(
                guard_callback("customer_id extractor", || l.customer_id.extract(&parts)).flatten(),
            )
            .tenant_id(
                guard_callback("tenant_id extractor", || l.tenant_id.extract(&parts)).flatten(),
            )
            .fallback_event_id(request_id)
            .trust_inbound(l.config.trust_inbound)
            .extractors(
                l.event_id.is_configured(),
                l.customer_id.is_configured(),
                l.tenant_id.is_configured(),
            )
            .attributes(attributes)
            .start_request(&HeaderExtractor(&parts.headers));
        parts.extensions.insert(active.run().clone());
        let cx = active.context().clone();
        let future = {
            let _inside = cx.clone().attach();
            self.inner.call(Request::from_parts(parts, body))
        };
        ResponseFuture::new(future, active, cx, l.config.run_id_header)
    }
}
