//! Extractors: how a run finds its business ids in a request.
//!
//! Any `Fn(&http::request::Parts) -> Option<String>` is an extractor, so closures work
//! directly; [`header`] and [`query`] are ready-made. Extractors see only the request head
//! (method, URI, headers, extensions), never the body.

use http::request::Parts;
use http::HeaderName;

/// Finds one value in a request head.
pub trait Extract: Clone + Send + Sync + 'static {
    /// The value, if the request has one.
    fn extract(&self, parts: &Parts) -> Option<String>;
    /// Whether this is a real extractor: when it finds nothing, the id is not taken from
    /// inbound baggage either (only [`NoExtractor`] says no).
    fn is_configured(&self) -> bool {
        true
    }
}

impl<F> Extract for F
where
    F: Fn(&Parts) -> Option<String> + Clone + Send + Sync + 'static,
{
    fn extract(&self, parts: &Parts) -> Option<String> {
        self(parts)
    }
}

/// The extractor that finds nothing (the default for every id).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtractor;

impl Extract for NoExtractor {
    fn extract(&self, _parts: &Parts) -> Option<String> {
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
    fn extract(&self, parts: &Parts) -> Option<String> {
        parts
            .headers
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
    fn extract(&self, parts: &Parts) -> Option<String> {
        botanu_core::lifecycle::query_param(parts.uri.query()?, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Parts {
        http::Request::builder()
            .uri(uri)
            .header("x-customer-id", " acme ")
            .header("x-empty", "")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn headers_and_queries() {
        let p = parts("/t?customer=a%20b+c&x=1&flag&bad=%zz&end=%4");
        assert_eq!(header("x-customer-id").extract(&p).as_deref(), Some("acme"));
        assert_eq!(header("x-empty").extract(&p), None);
        assert_eq!(header("x-missing").extract(&p), None);
        assert_eq!(query("customer").extract(&p).as_deref(), Some("a b c"));
        assert_eq!(query("x").extract(&p).as_deref(), Some("1"));
        assert_eq!(query("flag").extract(&p), None);
        assert_eq!(query("bad").extract(&p).as_deref(), Some("%zz"));
        assert_eq!(query("end").extract(&p).as_deref(), Some("%4"));
        assert_eq!(query("nope").extract(&parts("/t")), None);
        let closure = |p: &Parts| Some(p.uri.path().to_owned());
        assert_eq!(closure.extract(&p).as_deref(), Some("/t"));
    }
}
