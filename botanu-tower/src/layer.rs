//! [`BotanuLayer`]: the builder users hold.

use botanu_core::adapter::{Extract, Http, HttpRuns};
use tower_layer::Layer;

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
///     .customer_id(extract::header("x-customer-id"))
///     .skip(|req: &http::request::Parts| matches!(req.uri.path(), "/healthz" | "/metrics"));
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
/// (5xx by default, see [`classify`](Self::classify); a service error, a body error, a panic —
/// the panic keeps propagating) or canceled (the future or body dropped early, e.g. the client
/// went away).
///
/// Building the layer has no side effect. The first request it serves installs botanu from
/// the environment unless the app installed it (`botanu_core::enable_with`,
/// `Botanu::builder()`) before serving, so building the router and installing botanu work in
/// either order.
#[derive(Debug, Clone)]
#[must_use]
pub struct BotanuLayer {
    runs: HttpRuns<Http>,
}

impl BotanuLayer {
    /// A layer for runs of `workflow` (a low-cardinality name, e.g. `"Customer Support"`).
    pub fn workflow(workflow: impl Into<String>) -> Self {
        BotanuLayer {
            runs: HttpRuns::new(workflow),
        }
    }

    /// A layer over runs configured elsewhere (another adapter built on this one, e.g.
    /// botanu-axum).
    pub fn from_runs(runs: HttpRuns<Http>) -> Self {
        BotanuLayer { runs }
    }

    botanu_core::http_runs_builder!(Http, runs);

    /// How to find the low-cardinality route template for `http.route` (never the raw path;
    /// botanu-axum sets axum's `MatchedPath`). With a route extractor, requests it finds no
    /// route for (a router's fallback: `/wp-login.php`, `/.env` probes) are served without a
    /// run; [`runs_for_unmatched`](Self::runs_for_unmatched) changes that.
    pub fn route(mut self, extractor: impl Extract<Http>) -> Self {
        self.runs = self.runs.route(extractor);
        self
    }
}

impl<S> Layer<S> for BotanuLayer {
    type Service = BotanuService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BotanuService {
            inner,
            runs: self.runs.clone(),
        }
    }
}
