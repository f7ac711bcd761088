//! Extractors: how a run finds its business ids in an actix request.
//!
//! Any `Fn(&HttpRequest) -> Option<String>` is an extractor; [`header`], [`query`] and
//! [`match_info`] are ready-made. They see the request head only, never the body.

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;

/// Finds one value in a request.
pub trait Extract: Clone + 'static {
    /// The value, if the request has one.
    fn extract(&self, req: &HttpRequest) -> Option<String>;
    /// Whether this is a real extractor: when it finds nothing, the id is not taken from
    /// inbound baggage either (only [`NoExtractor`] says no).
    fn is_configured(&self) -> bool {
        true
    }
}

impl<F> Extract for F
where
    F: Fn(&HttpRequest) -> Option<String> + Clone + 'static,
{
    fn extract(&self, req: &HttpRequest) -> Option<String> {
        self(req)
    }
}

/// The extractor that finds nothing (the default for every id).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtractor;

impl Extract for NoExtractor {
    fn extract(&self, _req: &HttpRequest) -> Option<String> {
        None
    }
    fn is_configured(&self) -> bool {
        false
    }
}

/// The value of a request header (non-UTF-8 or empty values count as absent).
#[derive(Debug, Clone)]
pub struct Header(HeaderName);

/// Extracts the value of header `name`.
///
/// # Panics
/// If `name` is not a valid header name — a programming error caught at startup.
pub fn header(name: &'static str) -> Header {
    Header(HeaderName::from_static(name))
}

impl Extract for Header {
    fn extract(&self, req: &HttpRequest) -> Option<String> {
        req.headers()
            .get(&self.0)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

/// The value of a query-string parameter, percent-decoded (`+` as space).
#[derive(Debug, Clone)]
pub struct Query(&'static str);

/// Extracts the value of query parameter `name`.
pub fn query(name: &'static str) -> Query {
    Query(name)
}

impl Extract for Query {
    fn extract(&self, req: &HttpRequest) -> Option<String> {
        botanu_core::lifecycle::query_param(req.query_string(), self.0)
    }
}

/// A parameter of the matched resource pattern (`/tickets/{id}` → `match_info("id")`).
///
/// actix routes a request *after* middleware registered with `App::wrap` or `Scope::wrap`
/// runs, so the parameter is known only to middleware on the resource itself
/// (`web::resource("/tickets/{id}").wrap(..)`); elsewhere this finds nothing.
#[derive(Debug, Clone)]
pub struct MatchInfo(&'static str);

/// Extracts match-info parameter `name`.
pub fn match_info(name: &'static str) -> MatchInfo {
    MatchInfo(name)
}

impl Extract for MatchInfo {
    fn extract(&self, req: &HttpRequest) -> Option<String> {
        req.match_info()
            .get(self.0)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}
