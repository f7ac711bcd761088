//! [`Botanu`] (the `Transform` users hold), [`BotanuMiddleware`] and [`ResponseFuture`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest};
use botanu_core::lifecycle::{
    guard_callback, http_request_attributes, poll_in_run, skips_request, ActiveRun, ResponseRun,
    RunEnd, RunSpec,
};
use opentelemetry::propagation::Extractor;
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

use crate::body::BotanuBody;
use crate::extract::{Extract, NoExtractor};

/// Response header naming the run.
pub const RUN_ID_HEADER: &str = "x-botanu-run-id";

/// actix-web middleware that makes every request a run of one workflow: the same builder,
/// rules and lifecycle as `botanu_tower::BotanuLayer` (see its docs for the id fallbacks,
/// statuses and the trust rule).
#[derive(Debug, Clone)]
#[must_use]
pub struct Botanu<E = NoExtractor, C = NoExtractor, T = NoExtractor> {
    config: Rc<Config>,
    event_id: E,
    customer_id: C,
    tenant_id: T,
}

#[derive(Clone)]
struct Config {
    workflow: Arc<str>,
    trust_inbound: bool,
    run_id_header: bool,
    skip_unmatched: bool,
    skip: Option<SkipFn>,
}

/// The predicate of [`Botanu::skip`].
type SkipFn = Rc<dyn Fn(&HttpRequest) -> bool>;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("workflow", &self.workflow)
            .field("trust_inbound", &self.trust_inbound)
            .field("run_id_header", &self.run_id_header)
            .field("skip_unmatched", &self.skip_unmatched)
            .field("skip", &self.skip.is_some())
            .finish()
    }
}

impl Botanu {
    /// Middleware for runs of `workflow`. Installs botanu from the environment unless it is
    /// already installed.
    pub fn workflow(workflow: impl Into<String>) -> Self {
        botanu_core::ensure_installed();
        Botanu {
            config: Rc::new(Config {
                workflow: workflow.into().into(),
                trust_inbound: false,
                run_id_header: true,
                skip_unmatched: true,
                skip: None,
            }),
            event_id: NoExtractor,
            customer_id: NoExtractor,
            tenant_id: NoExtractor,
        }
    }
}

impl<E, C, T> Botanu<E, C, T> {
    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Rc::make_mut(&mut self.config));
        self
    }

    /// How to find the business event id.
    pub fn event_id<X: Extract>(self, extractor: X) -> Botanu<X, C, T> {
        Botanu {
            config: self.config,
            event_id: extractor,
            customer_id: self.customer_id,
            tenant_id: self.tenant_id,
        }
    }

    /// How to find the customer.
    pub fn customer_id<X: Extract>(self, extractor: X) -> Botanu<E, X, T> {
        Botanu {
            config: self.config,
            event_id: self.event_id,
            customer_id: extractor,
            tenant_id: self.tenant_id,
        }
    }

    /// How to find the tenant.
    pub fn tenant_id<X: Extract>(self, extractor: X) -> Botanu<E, C, X> {
        Botanu {
            config: self.config,
            event_id: self.event_id,
            customer_id: self.customer_id,
            tenant_id: extractor,
        }
    }

    /// Whether callers are trusted to say whose work a request is (default false): see
    /// `botanu_tower::BotanuLayer::trust_inbound`.
    pub fn trust_inbound(self, trust: bool) -> Self {
        self.edit(|c| c.trust_inbound = trust)
    }

    /// Whether responses carry `x-botanu-run-id` (default true).
    pub fn run_id_header(self, enabled: bool) -> Self {
        self.edit(|c| c.run_id_header = enabled)
    }

    /// Requests for which `predicate` is true are served without a run (health checks,
    /// metrics endpoints).
    ///
    /// ```
    /// use botanu_actix::Botanu;
    ///
    /// let mw = Botanu::workflow("Customer Support")
    ///     .skip(|req: &actix_web::HttpRequest| req.path() == "/healthz");
    /// # let _ = mw;
    /// ```
    pub fn skip<F: Fn(&HttpRequest) -> bool + 'static>(self, predicate: F) -> Self {
        self.edit(|c| c.skip = Some(Rc::new(predicate)))
    }

    /// Whether requests that match no resource of the app (its default service: 404s,
    /// `/wp-login.php` probes) are runs (default false).
    pub fn runs_for_unmatched(self, runs: bool) -> Self {
        self.edit(|c| c.skip_unmatched = !runs)
    }
}

impl<S, B, E, C, T> Transform<S, ServiceRequest> for Botanu<E, C, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    E: Extract,
    C: Extract,
    T: Extract,
{
    type Response = ServiceResponse<BotanuBody<B>>;
    type Error = Error;
    type Transform = BotanuMiddleware<S, E, C, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BotanuMiddleware {
            service,
            botanu: self.clone(),
        }))
    }
}

/// The service of [`Botanu`].
#[derive(Debug)]
pub struct BotanuMiddleware<S, E, C, T> {
    service: S,
    botanu: Botanu<E, C, T>,
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

impl<S, B, E, C, T> Service<ServiceRequest> for BotanuMiddleware<S, E, C, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
    E: Extract,
    C: Extract,
    T: Extract,
{
    type Response = ServiceResponse<BotanuBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let b = &self.botanu;
        let route = req.match_pattern();
        let skip = b.config.skip.as_ref().map(|f| || f(req.request()));
        if skips_request(b.config.skip_unmatched, route.is_some(), skip)
            || !botanu_core::is_active()
        {
            return ResponseFuture::passthrough(self.service.call(req));
        }
        let http = req.request();
        let request_id = Headers(req.headers())
            .get("x-request-id")
            .map(str::to_owned);
        let route_known = route.is_some();
        let active = RunSpec::new(b.config.workflow.clone())
            .event_id(guard_callback("event_id extractor", || b.event_id.extract(http)).flatten())
            .customer_id(
                guard_callback("customer_id extractor", || b.customer_id.extract(http)).flatten(),
            )
            .tenant_id(
                guard_callback("tenant_id extractor", || b.tenant_id.extract(http)).flatten(),
            )
            .fallback_event_id(request_id)
            .trust_inbound(b.config.trust_inbound)
            .extractors(
                b.event_id.is_configured(),
                b.customer_id.is_configured(),
                b.tenant_id.is_configured(),
            )
            .attributes(http_request_attributes(
                req.method().as_str(),
                req.path(),
                route,
            ))
            .start_request(&Headers(req.headers()));
        req.extensions_mut().insert(active.run().clone());
        let cx = active.context().clone();
        let future = {
            let _inside = cx.clone().attach();
            self.service.call(req)
        };
        ResponseFuture {
            inner: future,
            run: Some(Running {
                active,
                cx,
                run_id_header: b.config.run_id_header,
                route_known,
            }),
        }
    }
}

pin_project! {
    /// The future of [`BotanuMiddleware`]: polls the inner service under the run's context.
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
    route_known: bool,
}

impl<F> ResponseFuture<F> {
    fn passthrough(inner: F) -> Self {
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

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<BotanuBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(running) = this.run.as_ref() else {
            return this
                .inner
                .poll(task)
                .map(|r| r.map(|res| res.map_body(|_, b| BotanuBody::passthrough(b))));
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
                    let status = e.as_response_error().status_code();
                    running.active.finish(
                        RunEnd::failure(status.as_str().to_owned())
                            .message(e.to_string())
                            .attribute(KeyValue::new(
                                "http.response.status_code",
                                i64::from(status.as_u16()),
                            )),
                    );
                }
                Poll::Ready(Err(e))
            }
            Poll::Ready(Ok(mut response)) => {
                let Some(running) = this.run.take() else {
                    return Poll::Ready(Ok(response.map_body(|_, b| BotanuBody::passthrough(b))));
                };
                if running.run_id_header {
                    if let Ok(v) = HeaderValue::from_str(running.active.run().run_id()) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static(RUN_ID_HEADER), v);
                    }
                }
                let route = (!running.route_known)
                    .then(|| response.request().match_pattern())
                    .flatten();
                let mut run = ResponseRun::new(running.active, response.status().as_u16());
                if let Some(route) = route {
                    run.add_attribute(KeyValue::new("http.route", route));
                }
                Poll::Ready(Ok(response.map_body(|_, b| BotanuBody::new(b, run))))
            }
        }
    }
}
