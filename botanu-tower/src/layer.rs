//! [`BotanuLayer`]: the builder users hold.

use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;

use crate::extract::{Extract, NoExtractor};
use crate::service::BotanuService;

/// A [`Layer`] that makes every request a run of one workflow.
///
/// ```
/// use botanu_tower::{extract, BotanuLayer};
///
/// let layer = BotanuLayer::workflow("Customer Support")
///     .event_id(|req: &http::request::Parts| {
///         req.uri.path().rsplit('/').next().map(str::to_owned)
///     })
///     .customer_id(extract::header("x-customer-id"));
/// # let _ = layer;
/// ```
///
/// Per request: the inbound `traceparent` is continued; the run gets a UUIDv7 `run_id`, the
/// extracted ids (falling back to inbound `botanu.*` baggage when trusted, then — for the event
/// id — `x-request-id`, then the run id; a missing customer stays unset); the run span
/// `botanu.run/{workflow}` (kind Server) carries `http.request.method`, `http.route`,
/// `url.path`, and at the end `http.response.status_code` and `error.type`. The handler
/// future and the response body are polled with the run's context current, so every span
/// created there is enriched. The run ends when the **response body** ends: success, failure
/// (5xx, service error, body error, panic — the panic keeps propagating) or canceled (the
/// future or body dropped early, e.g. the client went away).
///
/// Building the layer installs botanu from the environment ([`botanu_core::enable`]) unless
/// it is already installed, so a router with the layer works with no other setup.
#[derive(Debug, Clone)]
#[must_use]
pub struct BotanuLayer<E = NoExtractor, C = NoExtractor, T = NoExtractor, R = NoExtractor> {
    pub(crate) config: Arc<LayerConfig>,
    pub(crate) event_id: E,
    pub(crate) customer_id: C,
    pub(crate) tenant_id: T,
    pub(crate) route: R,
}

#[derive(Clone)]
pub(crate) struct LayerConfig {
    pub(crate) workflow: Arc<str>,
    pub(crate) trust_inbound: bool,
    pub(crate) run_id_header: bool,
    /// Requests the route extractor finds no route for are not runs.
    pub(crate) skip_unmatched: bool,
    pub(crate) skip: Option<SkipFn>,
}

/// The predicate of [`BotanuLayer::skip`].
pub(crate) type SkipFn = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

impl std::fmt::Debug for LayerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerConfig")
            .field("workflow", &self.workflow)
            .field("trust_inbound", &self.trust_inbound)
            .field("run_id_header", &self.run_id_header)
            .field("skip_unmatched", &self.skip_unmatched)
            .field("skip", &self.skip.is_some())
            .finish()
    }
}

impl BotanuLayer {
    /// A layer for runs of `workflow` (a low-cardinality name, e.g. `"Customer Support"`).
    pub fn workflow(workflow: impl Into<String>) -> Self {
        botanu_core::ensure_installed();
        BotanuLayer {
            config: Arc::new(LayerConfig {
                workflow: workflow.into().into(),
                trust_inbound: false,
                run_id_header: true,
                skip_unmatched: false,
                skip: None,
            }),
            event_id: NoExtractor,
            customer_id: NoExtractor,
            tenant_id: NoExtractor,
            route: NoExtractor,
        }
    }
}

impl<E, C, T, R> BotanuLayer<E, C, T, R> {
    fn edit(mut self, f: impl FnOnce(&mut LayerConfig)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// How to find the business event id (ticket, order, conversation) in a request.
    pub fn event_id<X: Extract>(self, extractor: X) -> BotanuLayer<X, C, T, R> {
        BotanuLayer {
            config: self.config,
            event_id: extractor,
            customer_id: self.customer_id,
            tenant_id: self.tenant_id,
            route: self.route,
        }
    }

    /// How to find the customer the request's cost belongs to.
    pub fn customer_id<X: Extract>(self, extractor: X) -> BotanuLayer<E, X, T, R> {
        BotanuLayer {
            config: self.config,
            event_id: self.event_id,
            customer_id: extractor,
            tenant_id: self.tenant_id,
            route: self.route,
        }
    }

    /// How to find the tenant.
    pub fn tenant_id<X: Extract>(self, extractor: X) -> BotanuLayer<E, C, X, R> {
        BotanuLayer {
            config: self.config,
            event_id: self.event_id,
            customer_id: self.customer_id,
            tenant_id: extractor,
            route: self.route,
        }
    }

    /// How to find the low-cardinality route template for `http.route` (never the raw path;
    /// `botanu-axum` sets axum's `MatchedPath`). With a route extractor, requests it finds no
    /// route for (a router's fallback: `/wp-login.php`, `/.env` probes) are served without a
    /// run; [`runs_for_unmatched`](Self::runs_for_unmatched) changes that.
    pub fn route<X: Extract>(self, extractor: X) -> BotanuLayer<E, C, T, X> {
        let this = self.edit(|c| c.skip_unmatched = true);
        BotanuLayer {
            config: this.config,
            event_id: this.event_id,
            customer_id: this.customer_id,
            tenant_id: this.tenant_id,
            route: extractor,
        }
    }

    /// Whether callers are trusted to say whose work a request is (default **false**).
    ///
    /// Untrusted (the default, right for anything a client on the internet can reach), a run
    /// continues the caller's trace and records the caller's `botanu.run_id` as its
    /// `parent_run_id`, but its event, customer and tenant come only from the app's extractors
    /// (then `x-request-id`, then the run id, for the event) — inbound `botanu.*` baggage is
    /// dropped, so a client cannot move its cost to another customer.
    ///
    /// Trusted (`true`: internal services called only by the app's own services, e.g. behind
    /// a service mesh), inbound baggage also fills the ids the app has **no** extractor for,
    /// so one run chain crosses services. An extractor that finds nothing never falls back to
    /// inbound baggage. (Trust by the peer's address is not offered: behind a load balancer
    /// every peer is on a private network.)
    pub fn trust_inbound(self, trust: bool) -> Self {
        self.edit(|c| c.trust_inbound = trust)
    }

    /// Whether responses carry `x-botanu-run-id` (default true).
    pub fn run_id_header(self, enabled: bool) -> Self {
        self.edit(|c| c.run_id_header = enabled)
    }

    /// Requests for which `predicate` is true are served without a run (nothing recorded,
    /// nothing exported): health checks, metrics endpoints, readiness probes.
    ///
    /// ```
    /// use botanu_tower::BotanuLayer;
    ///
    /// let layer = BotanuLayer::workflow("Customer Support")
    ///     .skip(|req: &http::request::Parts| matches!(req.uri.path(), "/healthz" | "/metrics"));
    /// # let _ = layer;
    /// ```
    pub fn skip<F>(self, predicate: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.edit(|c| c.skip = Some(Arc::new(predicate)))
    }

    /// Whether requests the route extractor finds no route for are runs (default false once
    /// a route extractor is set; `botanu-axum` sets one). Set it when the layer wraps the
    /// router from outside (`ServiceBuilder` around the `Router`), where no route is known yet.
    pub fn runs_for_unmatched(self, runs: bool) -> Self {
        self.edit(|c| c.skip_unmatched = !runs)
    }
}

impl<S, E: Clone, C: Clone, T: Clone, R: Clone> Layer<S> for BotanuLayer<E, C, T, R> {
    type Service = BotanuService<S, E, C, T, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BotanuService {
            inner,
            layer: self.clone(),
        }
    }
}
