//! Extractors: how a run finds its business ids in an actix request.
//!
//! Any `Fn(&HttpRequest) -> Option<String> + Send + Sync` closure is an extractor;
//! [`header`], [`query`] and [`match_info`] are ready-made. They see the request head only,
//! never the body.

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::HttpRequest;
use botanu_core::adapter::Framework;
use opentelemetry::propagation::Extractor;

pub use botanu_core::adapter::{header, query, Extract, Header, Query};

/// [`Framework`] for actix-web: extractors read an [`HttpRequest`]; the route is the matched
/// resource pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct Actix;

impl Framework for Actix {
    type Request = HttpRequest;
    const KNOWS_ROUTES: bool = true;

    fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    }
    fn header_names(req: &HttpRequest) -> Vec<&str> {
        req.headers().keys().map(HeaderName::as_str).collect()
    }
    fn method(req: &HttpRequest) -> &str {
        req.method().as_str()
    }
    fn path(req: &HttpRequest) -> &str {
        req.path()
    }
    fn query(req: &HttpRequest) -> Option<&str> {
        Some(req.query_string()).filter(|q| !q.is_empty())
    }
    fn route(req: &HttpRequest) -> Option<String> {
        req.match_pattern()
    }
}

/// An actix header map as an OpenTelemetry [`Extractor`].
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// A parameter of the matched resource pattern (`/tickets/{id}` → `match_info("id")`).
///
/// actix routes a request *after* middleware registered with `App::wrap` or `Scope::wrap`
/// runs, so the parameter is known only to middleware on the resource itself
/// (`web::resource("/tickets/{id}").wrap(..)`); elsewhere this finds nothing.
#[derive(Debug, Clone, Copy)]
pub struct MatchInfo(&'static str);

/// Extracts match-info parameter `name`.
pub fn match_info(name: &'static str) -> MatchInfo {
    MatchInfo(name)
}

impl Extract<Actix> for MatchInfo {
    fn extract(&self, req: &HttpRequest) -> Option<String> {
        req.match_info()
            .get(self.0)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}
