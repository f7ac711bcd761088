//! [`Botanu`] (the `Transform` users hold), [`BotanuMiddleware`] and [`ResponseFuture`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use botanu_core::adapter::{HttpRuns, NoHeaders, RequestRun, RUN_ID_HEADER};
use opentelemetry::KeyValue;
use pin_project_lite::pin_project;

/// [`RUN_ID_HEADER`] as a name made once.
const RUN_ID_NAME: HeaderName = HeaderName::from_static(RUN_ID_HEADER);

use crate::body::BotanuBody;
use crate::extract::{Actix, Headers};

/// actix-web middleware that makes every request a run of one workflow: the same builder,
/// rules and lifecycle as `botanu_tower::BotanuLayer` (see its docs for the id fallbacks and
/// statuses).
///
/// ```
/// use botanu_actix::{extract, Botanu};
///
/// let mw = Botanu::workflow("Customer Support")
///     .event_id(extract::match_info("id"))
///     .customer_id(extract::header("x-customer-id"))
///     .skip(|req: &actix_web::HttpRequest| req.path() == "/healthz");
/// # let _ = mw;
/// ```
///
/// Building it has no side effect: the first request it serves installs botanu from the
/// environment unless the app installed it before serving.
#[derive(Debug, Clone)]
#[must_use]
pub struct Botanu {
    runs: HttpRuns<Actix>,
}

impl Botanu {
    /// Middleware for runs of `workflow` (a low-cardinality name, e.g. `"Customer Support"`).
    pub fn workflow(workflow: impl Into<String>) -> Self {
        Botanu {
            runs: HttpRuns::new(workflow),
        }
    }

    botanu_core::http_runs_builder!(Actix, runs);
}

impl<S, B> Transform<S, ServiceRequest> for Botanu
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<BotanuBody<B>>;
    type Error = Error;
    type Transform = BotanuMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BotanuMiddleware {
            service,
            runs: self.runs.clone(),
        }))
    }
}

/// The service of [`Botanu`].
#[derive(Debug)]
pub struct BotanuMiddleware<S> {
    service: S,
    runs: HttpRuns<Actix>,
}

impl<S, B> Service<ServiceRequest> for BotanuMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<BotanuBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let Some(run) = self.runs.start(req.request()) else {
            return ResponseFuture {
                inner: self.service.call(req),
                run: None,
            };
        };
        req.extensions_mut().insert(run.run().clone());
        let inner = {
            let _inside = run.context().clone().attach();
            self.service.call(req)
        };
        ResponseFuture {
            inner,
            run: Some(run),
        }
    }
}

pin_project! {
    /// The future of [`BotanuMiddleware`]: polls the inner service under the run's context.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        run: Option<RequestRun>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("in_run", &self.run.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<BotanuBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner = &mut this.inner;
        let Poll::Ready(result) = RequestRun::poll(this.run, || inner.as_mut().poll(task)) else {
            return Poll::Pending;
        };
        let Some(run) = this.run.take() else {
            return Poll::Ready(result.map(|res| res.map_body(|_, b| BotanuBody::new(b, None))));
        };
        match result {
            // actix answers the error with the response it describes: the run ends as that
            // response would (same classifier, `error.type` = its status when it fails).
            Err(e) => {
                let status = e.as_response_error().status_code().as_u16();
                let mut response = run.respond(status, &NoHeaders);
                response.set_message(e.to_string());
                response.end();
                Poll::Ready(Err(e))
            }
            Ok(mut response) => {
                if let Some(v) = run
                    .run_id_header()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    response.headers_mut().insert(RUN_ID_NAME, v);
                }
                // actix routes after `App::wrap` middleware ran: the route may be known only now.
                let route = (!run.route_known())
                    .then(|| response.request().match_pattern())
                    .flatten();
                let status = response.status().as_u16();
                let mut tail = run.respond(status, &Headers(response.headers()));
                if let Some(route) = route {
                    tail.add_attribute(KeyValue::new("http.route", route));
                }
                Poll::Ready(Ok(response.map_body(|_, b| BotanuBody::new(b, Some(tail)))))
            }
        }
    }
}
