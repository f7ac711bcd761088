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
    fn header_named<'r>(req: &'r HttpRequest, name: &http::HeaderName) -> Option<&'r str> {
        // actix-web's map is on another `http` version: the kit's names (`KIT_HEADERS`),
        // prepared in that version once (a `&str` is parsed and, when not a standard name,
        // copied per lookup).
        const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
        const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
        const BAGGAGE: HeaderName = HeaderName::from_static("baggage");
        const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
        let prepared = match name.as_str() {
            "traceparent" => &TRACEPARENT,
            "tracestate" => &TRACESTATE,
            "baggage" => &BAGGAGE,
            "x-request-id" => &X_REQUEST_ID,
            "content-type" => &actix_web::http::header::CONTENT_TYPE,
            other => return Self::header(req, other),
        };
        req.headers().get(prepared).and_then(|v| v.to_str().ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use botanu_core::adapter::KIT_HEADERS;

    #[test]
    fn prepared_header_names_find_what_plain_names_find() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((
                "Traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ))
            .insert_header(("tracestate", "k=v"))
            .insert_header(("baggage", "botanu.run_id=r"))
            .insert_header(("x-request-id", "req-1"))
            .insert_header(("content-type", "application/grpc"))
            .insert_header(("x-other", "o"))
            .to_http_request();
        for name in KIT_HEADERS.into_iter().chain(["x-other", "x-missing"]) {
            let prepared = http::HeaderName::from_static(name);
            let found = Actix::header_named(&req, &prepared);
            assert_eq!(found, Actix::header(&req, name), "{name}");
            assert_eq!(found.is_some(), name != "x-missing", "{name}");
        }
    }
}
