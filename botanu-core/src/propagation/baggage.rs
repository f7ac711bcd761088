//! botanu's W3C Baggage codec (see the [`propagation`](crate::propagation) docs).

use std::borrow::Cow;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::run::current::{canonical_entries, CurrentRun, WithoutRunBaggage, CANONICAL};
use crate::run::RunContext;
use crate::semconv::{keys, BAGGAGE_HEADER};

// ---- wire codec -----------------------------------------------------------------------------

/// W3C Baggage limits (<https://www.w3.org/TR/baggage/#limits>).
pub const MAX_HEADER_BYTES: usize = 8192;
/// W3C Baggage limits (<https://www.w3.org/TR/baggage/#limits>).
pub const MAX_MEMBERS: usize = 64;

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const VALUE_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// W3C Baggage propagator that is wire-compatible with the reference Python SDK.
///
/// Parsing is delegated to OpenTelemetry's W3C propagator (limits, malformed members and
/// metadata handled there); see [`propagation`](crate::propagation) for the encoding rules.
///
/// ```
/// use botanu_core::propagation::{decode_header, encode_header};
/// use botanu_core::BaggagePropagator;
///
/// let header = encode_header([("botanu.workflow", "a+b c")]).unwrap();
/// assert_eq!(header, "botanu.workflow=a%2Bb%20c");
/// // Python's encoding of "Customer Support":
/// let b = decode_header("botanu.workflow=Customer+Support");
/// assert_eq!(b.get("botanu.workflow").unwrap().as_str(), "Customer Support");
/// ```
#[derive(Debug, Default)]
pub struct BaggagePropagator {
    w3c: opentelemetry_sdk::propagation::BaggagePropagator,
}

impl BaggagePropagator {
    /// A new propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

static FIELDS: std::sync::OnceLock<[String; 1]> = std::sync::OnceLock::new();

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let run = match cx.get::<CurrentRun>() {
            Some(current) if cx.get::<WithoutRunBaggage>().is_none() => Some(current.run()),
            _ => None,
        };
        if let Some(header) = encode_baggage(run, cx.baggage()) {
            injector.set(BAGGAGE_HEADER, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get(BAGGAGE_HEADER) {
            None => cx.clone(),
            Some(raw) => {
                let header = plus_as_space_in_botanu_values(raw);
                self.w3c.extract_with_context(cx, &OneHeader(&header))
            }
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.get_or_init(|| [BAGGAGE_HEADER.to_owned()]))
    }
}

struct OneHeader<'a>(&'a str);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == BAGGAGE_HEADER).then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec![BAGGAGE_HEADER]
    }
}

/// Decodes a `baggage` header value the way [`BaggagePropagator`] does.
pub fn decode_header(header: &str) -> Baggage {
    let cx = BaggagePropagator::new().extract_with_context(&Context::new(), &OneHeader(header));
    let mut out = Baggage::new();
    for (k, (v, m)) in cx.baggage() {
        out.insert_with_metadata(k.clone(), v.clone(), m.clone());
    }
    out
}

/// Encodes `(key, value)` pairs as a `baggage` header value the way [`BaggagePropagator`]
/// does (pairs with keys that are not W3C tokens are left out). `None` when nothing is left.
pub fn encode_header<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut baggage = Baggage::new();
    let mut order = Vec::new();
    for (k, v) in entries {
        let fresh = baggage.get(k).is_none();
        baggage.insert(k.to_owned(), v.to_owned());
        if fresh && baggage.get(k).is_some() {
            order.push(k);
        }
    }
    let mut enc = HeaderEncoder::default();
    for k in order {
        if let Some((v, m)) = baggage.get_with_metadata(k) {
            enc.push(k, v.as_str(), m.as_str());
        }
    }
    enc.finish()
}

/// Encodes a context's run and baggage: `botanu.*` keys first, in their canonical order (the
/// run's values, else the baggage's), then the rest of the baggage.
fn encode_baggage(run: Option<&RunContext>, baggage: &Baggage) -> Option<String> {
    let from_run = run.map(canonical_entries).unwrap_or_default();
    if run.is_none() && baggage.is_empty() {
        return None;
    }
    let mut enc = HeaderEncoder::default();
    for (i, key) in CANONICAL.iter().enumerate() {
        match &from_run[i] {
            Some(v) => enc.push(key, v.as_str(), ""),
            // Retry-chain keys describe the run: with one, an outer run's never go out.
            None if run.is_some() && keys::RUN_SCOPED.contains(key) => {}
            None => {
                if let Some((v, m)) = baggage.get_with_metadata(key) {
                    enc.push(key, v.as_str(), m.as_str());
                }
            }
        }
    }
    for (key, (v, m)) in baggage {
        let k = key.as_str();
        if !CANONICAL.contains(&k) {
            enc.push(k, v.as_str(), m.as_str());
        }
    }
    enc.finish()
}

#[derive(Default)]
struct HeaderEncoder {
    out: String,
    members: usize,
    member: String,
}

impl HeaderEncoder {
    /// Appends one member unless it would break the W3C limits (then it is left out, with a
    /// debug log: a header is never sent malformed or oversized).
    fn push(&mut self, key: &str, value: &str, metadata: &str) {
        self.member.clear();
        self.member.push_str(key.trim());
        self.member.push('=');
        self.member
            .extend(utf8_percent_encode(value.trim(), VALUE_ESCAPES));
        let metadata = metadata.trim();
        if !metadata.is_empty() {
            self.member.push(';');
            self.member.push_str(metadata);
        }
        let sep = usize::from(self.members > 0);
        if self.members >= MAX_MEMBERS
            || self.out.len() + sep + self.member.len() > MAX_HEADER_BYTES
        {
            tracing::debug!(
                target: "botanu",
                key,
                encoded_bytes = self.member.len(),
                "baggage member left out of the outbound header: W3C limit of {MAX_MEMBERS} members / {MAX_HEADER_BYTES} bytes reached"
            );
            return;
        }
        if sep == 1 {
            self.out.push(',');
        }
        self.out.push_str(&self.member);
        self.members += 1;
    }

    fn finish(self) -> Option<String> {
        (self.members > 0).then_some(self.out)
    }
}

/// Rewrites `+` to `%20` inside the values of `botanu.*` members (Python's form-style
/// encoding). Borrows when there is nothing to rewrite.
fn plus_as_space_in_botanu_values(header: &str) -> Cow<'_, str> {
    if !header.contains('+') || header.len() > MAX_HEADER_BYTES {
        return Cow::Borrowed(header);
    }
    let mut out = String::with_capacity(header.len() + 16);
    for (i, member) in header.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        let is_botanu = member
            .split_once('=')
            .is_some_and(|(k, _)| k.trim().starts_with(keys::PREFIX));
        if !is_botanu {
            out.push_str(member);
            continue;
        }
        let (kv, props) = match member.find(';') {
            Some(p) => member.split_at(p),
            None => (member, ""),
        };
        out.push_str(&kv.replace('+', "%20"));
        out.push_str(props);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_rewrite_only_touches_botanu_values() {
        assert_eq!(
            plus_as_space_in_botanu_values("botanu.workflow=a+b;p=x+y,other=c+d"),
            "botanu.workflow=a%20b;p=x+y,other=c+d"
        );
        assert!(matches!(
            plus_as_space_in_botanu_values("botanu.workflow=ab"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn encoder_respects_member_limit() {
        let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let header = encode_header(keys.iter().map(|k| (k.as_str(), "v"))).unwrap();
        assert_eq!(header.split(',').count(), MAX_MEMBERS);
    }

    #[test]
    fn encoder_respects_byte_limit_after_percent_encoding() {
        // 3000 raw bytes become 9000 encoded bytes: over the limit, so left out.
        let big = "é".repeat(1500);
        let header = encode_header([("botanu.workflow", "w"), ("big", big.as_str())]).unwrap();
        assert_eq!(header, "botanu.workflow=w");
        assert!(header.len() <= MAX_HEADER_BYTES);
    }
}
