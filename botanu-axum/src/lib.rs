//! botanu for [axum](https://docs.rs/axum): every request a run of a business workflow.
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use botanu_axum::{emit_outcome, extract, path_param, BotanuLayer, Outcome, Run};
//!
//! async fn handle_ticket(Run(run): Run) -> String {
//!     // … call the model; every span created here carries the run's attributes …
//!     emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
//!     format!("resolved in run {}", run.run_id())
//! }
//!
//! let app: Router = Router::new()
//!     .route("/tickets/{id}", post(handle_ticket))
//!     .layer(
//!         BotanuLayer::workflow("Customer Support")
//!             .event_id(path_param("id"))
//!             .customer_id(extract::header("x-customer-id")),
//!     );
//! ```
//!
//! This crate is sugar over [`botanu_tower`]: [`BotanuLayer`] is a Tower [`Layer`] (its
//! service is `botanu_tower::BotanuService`) that records axum's [`MatchedPath`] (the route
//! template, never the raw path) as `http.route`; [`path_param`] extracts a parameter of the
//! matched route; [`Run`] hands the run to handlers. Add the layer with `Router::layer` (it runs after
//! routing, where the matched route is known); `route_layer` works too. Requests no route
//! matched (the router's fallback) are served without a run; outside the router (a
//! `ServiceBuilder` around it) no route is known yet: add `.runs_for_unmatched(true)` there.
#![cfg_attr(docsrs, feature(doc_cfg))]

use axum::extract::{FromRequestParts, MatchedPath, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use botanu_core::adapter::{Extract, Http, HttpRuns};
use botanu_core::RunContext;
use botanu_tower::BotanuService;
use http::request::Parts;
use http::StatusCode;
use tower_layer::Layer;

pub use botanu_core;
pub use botanu_core::adapter::classify;
pub use botanu_core::{
    emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome,
};
pub use botanu_tower::{extract, PropagateLayer, RUN_ID_HEADER};

/// A [`Layer`] that makes every request a run of one workflow, with axum's matched route as
/// `http.route`: `botanu_tower::BotanuLayer` set up for axum (same rules, same builder).
///
/// ```
/// use botanu_axum::{extract, path_param, BotanuLayer};
///
/// fn support_layer() -> BotanuLayer {
///     BotanuLayer::workflow("Customer Support")
///         .event_id(path_param("id"))
///         .customer_id(extract::header("x-customer-id"))
///         .skip(|req: &http::request::Parts| req.uri.path() == "/healthz")
/// }
/// # let _ = support_layer();
/// ```
///
/// Building it has no side effect: the first request it serves installs botanu from the
/// environment unless the app installed it before serving (any order of building the router
/// and installing botanu works).
#[derive(Debug, Clone)]
#[must_use]
pub struct BotanuLayer {
    runs: HttpRuns<Http>,
}

impl BotanuLayer {
    /// A layer for runs of `workflow` (a low-cardinality name, e.g. `"Customer Support"`),
    /// recording the matched route as `http.route`.
    pub fn workflow(workflow: impl Into<String>) -> Self {
        BotanuLayer {
            runs: HttpRuns::new(workflow).route(MatchedRoute),
        }
    }

    botanu_core::http_runs_builder!(Http, runs);
}

impl<S> Layer<S> for BotanuLayer {
    type Service = BotanuService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        botanu_tower::BotanuLayer::from_runs(self.runs.clone()).layer(inner)
    }
}

/// Extracts axum's [`MatchedPath`], the route template (e.g. `/tickets/{id}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchedRoute;

impl Extract<Http> for MatchedRoute {
    fn extract(&self, parts: &Parts) -> Option<String> {
        parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
    }
}

/// Extracts parameter `name` of the matched route, e.g. `path_param("id")` on
/// `/tickets/{id}` gives `42` for `/tickets/42` (percent-decoded). `{*rest}` wildcards give the
/// rest of the path.
pub fn path_param(name: &'static str) -> PathParam {
    PathParam(name)
}

/// The extractor of [`path_param`].
#[derive(Debug, Clone, Copy)]
pub struct PathParam(&'static str);

impl Extract<Http> for PathParam {
    fn extract(&self, parts: &Parts) -> Option<String> {
        let template = parts.extensions.get::<MatchedPath>()?.as_str();
        let mut path = parts.uri.path().trim_start_matches('/').split('/');
        for (i, segment) in template.trim_start_matches('/').split('/').enumerate() {
            let value = path.next();
            let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                continue;
            };
            if let Some(wildcard) = param.strip_prefix('*') {
                if wildcard != self.0 {
                    return None;
                }
                let rest: Vec<&str> = parts
                    .uri
                    .path()
                    .trim_start_matches('/')
                    .split('/')
                    .skip(i)
                    .collect();
                return Some(decode(&rest.join("/"))).filter(|v| !v.is_empty());
            }
            if param == self.0 {
                return value.map(decode).filter(|v| !v.is_empty());
            }
        }
        None
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The current run, for handlers: `async fn handler(Run(run): Run)`.
///
/// Rejected with 500 when the route has no botanu layer; use `Option<Run>` where that is
/// expected (e.g. botanu disabled).
#[derive(Debug, Clone)]
pub struct Run(pub RunContext);

/// Rejection of [`Run`]: the request did not pass through a botanu layer.
#[derive(Debug, Clone, Copy)]
pub struct MissingRun;

impl IntoResponse for MissingRun {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no botanu run for this request: add BotanuLayer to the router",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Run {
    type Rejection = MissingRun;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RunContext>()
            .cloned()
            .map(Run)
            .ok_or(MissingRun)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Run {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<RunContext>().cloned().map(Run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    /// Runs `uri` through a router with route `template` and returns what the extractors see.
    async fn seen(template: &'static str, uri: &str, param: &'static str) -> String {
        let app = Router::new().route(
            template,
            get(move |parts: Parts| async move {
                format!(
                    "{:?}|{:?}",
                    MatchedRoute.extract(&parts),
                    path_param(param).extract(&parts)
                )
            }),
        );
        let response = app
            .oneshot(
                http::Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn path_params_of_the_matched_route() {
        assert_eq!(
            seen("/tickets/{id}", "/tickets/42", "id").await,
            r#"Some("/tickets/{id}")|Some("42")"#
        );
        assert_eq!(
            seen(
                "/orgs/{org}/tickets/{id}",
                "/orgs/acme%20inc/tickets/7?x=1",
                "org"
            )
            .await,
            r#"Some("/orgs/{org}/tickets/{id}")|Some("acme inc")"#
        );
        assert_eq!(
            seen("/files/{*path}", "/files/a/b/c.txt", "path").await,
            r#"Some("/files/{*path}")|Some("a/b/c.txt")"#
        );
        assert_eq!(
            seen("/tickets/{id}", "/tickets/42", "missing").await,
            r#"Some("/tickets/{id}")|None"#
        );
    }

    #[test]
    fn without_routing_there_is_nothing_to_extract() {
        let parts = http::Request::builder()
            .uri("/t/1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert_eq!(path_param("id").extract(&parts), None);
        assert_eq!(MatchedRoute.extract(&parts), None);
    }
}
