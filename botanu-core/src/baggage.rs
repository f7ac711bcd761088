//! Baggage keys, the run ↔ context binding, and the wire codec.
//!
//! Runs travel as W3C Baggage. Header parsing is OpenTelemetry's own
//! [`BaggagePropagator`](opentelemetry_sdk::propagation::BaggagePropagator); botanu's
//! [`BaggagePropagator`] wraps it with the two things the reference Python SDK needs for
//! a run to continue across languages:
//!
//! * **decoding**: Python sends a space as `+` (`botanu.workflow=Customer+Support`). In
//!   `botanu.*` values a `+` therefore decodes to a space; a literal plus arrives as `%2B`.
//!   Other keys keep W3C semantics (a `+` is a `+`).
//! * **encoding**: every byte outside `A–Z a–z 0–9 - . _ ~` is percent-encoded, so `+` goes
//!   out as `%2B`, `%` as `%25` and a space as `%20`, all of which Python decodes exactly.
//!   (OpenTelemetry's own encoder leaves `+` and `%` bare, which a Python peer misreads.)
//!
//! It also enforces the W3C limits on what it sends: at most 64 members and 8192 bytes; run
//! keys are written first so they are the last to be left out.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::{Context, KeyValue, StringValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::run::RunContext;

/// Baggage keys (the reference SDK's wire names).
pub mod keys {
    /// `botanu.run_id`
    pub const RUN_ID: &str = "botanu.run_id";
    /// `botanu.workflow`
    pub const WORKFLOW: &str = "botanu.workflow";
    /// `botanu.event_id`
    pub const EVENT_ID: &str = "botanu.event_id";
    /// `botanu.customer_id`
    pub const CUSTOMER_ID: &str = "botanu.customer_id";
    /// `botanu.environment`
    pub const ENVIRONMENT: &str = "botanu.environment";
    /// `botanu.tenant_id`
    pub const TENANT_ID: &str = "botanu.tenant_id";
    /// `botanu.parent_run_id`
    pub const PARENT_RUN_ID: &str = "botanu.parent_run_id";
    /// `botanu.root_run_id`
    pub const ROOT_RUN_ID: &str = "botanu.root_run_id";
    /// `botanu.attempt`
    pub const ATTEMPT: &str = "botanu.attempt";
    /// `botanu.retry_of_run_id`
    pub const RETRY_OF_RUN_ID: &str = "botanu.retry_of_run_id";
    /// `botanu.deadline` (Unix milliseconds)
    pub const DEADLINE: &str = "botanu.deadline";
    /// `botanu.cancelled` (`true`)
    pub const CANCELLED: &str = "botanu.cancelled";
    /// `botanu.step`
    pub const STEP: &str = "botanu.step";

    /// The keys [`RunContextEnricher`](crate::RunContextEnricher) copies onto every span,
    /// in the reference order.
    pub const ENRICHED: [&str; 7] = [
        RUN_ID,
        WORKFLOW,
        EVENT_ID,
        CUSTOMER_ID,
        ENVIRONMENT,
        TENANT_ID,
        PARENT_RUN_ID,
    ];

    /// Keys that describe one run's place in a retry chain. A run that does not write them
    /// removes an outer run's values, so they never describe the wrong run.
    pub(crate) const RUN_SCOPED: [&str; 5] =
        [ROOT_RUN_ID, ATTEMPT, RETRY_OF_RUN_ID, DEADLINE, CANCELLED];

    /// The prefix of every botanu key.
    pub const PREFIX: &str = "botanu.";
}

/// Read access to decoded baggage entries, for [`RunContext::from_baggage`].
///
/// Implemented for OpenTelemetry's [`Baggage`], for maps of strings (message headers,
/// decoded queue metadata) and for lists of pairs (what [`RunContext::to_baggage`] returns).
pub trait BaggageLookup {
    /// The decoded value stored under `key`.
    fn lookup(&self, key: &str) -> Option<&str>;
}

impl BaggageLookup for Baggage {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(StringValue::as_str)
    }
}

impl<K, V, S> BaggageLookup for HashMap<K, V, S>
where
    K: std::borrow::Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K, V> BaggageLookup for BTreeMap<K, V>
where
    K: std::borrow::Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> BaggageLookup for [(K, V)] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> BaggageLookup for Vec<(K, V)> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_slice().lookup(key)
    }
}

// ---- run <-> context ----------------------------------------------------------------------

/// The run carried in a [`Context`] next to its baggage, so code inside the run gets the very
/// object the lifecycle owns (shared cancellation and outcome state), not a copy; with the
/// attributes the enricher stamps on every span of the run, worked out once per run.
#[derive(Debug)]
pub(crate) struct CurrentRun {
    run: RunContext,
    enriched: Box<[KeyValue]>,
}

impl CurrentRun {
    /// The attributes for spans started inside the run: the [`keys::ENRICHED`] entries of the
    /// run's baggage (its own values, and an outer tenant it does not override).
    pub(crate) fn enriched(&self) -> &[KeyValue] {
        &self.enriched
    }
}

/// Every key a run writes into baggage, in the order the header carries them.
const CANONICAL: [&str; 12] = [
    keys::RUN_ID,
    keys::WORKFLOW,
    keys::EVENT_ID,
    keys::CUSTOMER_ID,
    keys::ENVIRONMENT,
    keys::TENANT_ID,
    keys::PARENT_RUN_ID,
    keys::ROOT_RUN_ID,
    keys::ATTEMPT,
    keys::RETRY_OF_RUN_ID,
    keys::DEADLINE,
    keys::CANCELLED,
];

/// The baggage entries `run` writes, by their place in [`CANONICAL`] (`None`: not written).
fn canonical_entries(run: &RunContext) -> [Option<StringValue>; 12] {
    let mut entries: [Option<StringValue>; 12] = Default::default();
    run.for_each_baggage_entry(|k, v| {
        if let Some(i) = CANONICAL.iter().position(|e| *e == k) {
            entries[i] = Some(v);
        }
    });
    entries
}

/// A copy of `baggage` without the entries `drop` names.
fn copy_except(baggage: &Baggage, drop: impl Fn(&str) -> bool) -> Baggage {
    let mut out = Baggage::new();
    for (key, (value, metadata)) in baggage {
        if !drop(key.as_str()) {
            out.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
        }
    }
    out
}

/// Whether `propagator` writes the `botanu.*` entries of a run that is only in the context
/// as a [`CurrentRun`] (not in its `Baggage`): true when it contains [`BaggagePropagator`].
pub(crate) fn writes_run_baggage(propagator: &dyn TextMapPropagator) -> bool {
    let run = RunContext::new("botanu.probe", "", "");
    let cx = Context::new().with_value(CurrentRun {
        run: run.clone(),
        enriched: Box::new([]),
    });
    let mut headers = HashMap::new();
    propagator.inject_context(&cx, &mut headers);
    headers
        .get(BAGGAGE_HEADER)
        .is_some_and(|h: &String| h.contains(run.run_id()))
}

/// Marks a context whose run is not to be written into an outbound `baggage` header: what
/// the propagation policy gives the global propagator for a host it does not allow.
#[derive(Debug)]
pub(crate) struct WithoutRunBaggage;

/// The attributes [`RunContextEnricher`](crate::RunContextEnricher) stamps for `baggage`: its
/// non-empty [`keys::ENRICHED`] entries, in that order.
pub(crate) fn enriched_attributes(baggage: &Baggage) -> Box<[KeyValue]> {
    enriched_values(baggage)
        .into_iter()
        .zip(keys::ENRICHED)
        .filter_map(|(value, key)| value.map(|v| KeyValue::new(key, v.clone())))
        .collect()
}

/// One pass over the (small) baggage instead of seven hashed lookups.
fn enriched_values(baggage: &Baggage) -> [Option<&StringValue>; 7] {
    let mut found: [Option<&StringValue>; 7] = [None; 7];
    for (key, (value, _)) in baggage {
        let key = key.as_str();
        if !key.starts_with(keys::PREFIX) || value.as_str().is_empty() {
            continue;
        }
        if let Some(i) = keys::ENRICHED.iter().position(|k| *k == key) {
            found[i] = Some(value);
        }
    }
    found
}

impl RunContext {
    /// A child of `parent` that carries this run: the run's baggage entries layered over the
    /// parent's baggage, and the run itself for [`RunContext::current`].
    ///
    /// Entries of other keys are kept (as is an outer `botanu.tenant_id` this run does not
    /// override, as in the reference SDK). Retry-chain keys (`root_run_id`, `attempt`,
    /// `retry_of_run_id`, `deadline`, `cancelled`) that this run does not write are removed
    /// rather than inherited, so they never describe an outer run (the reference SDK lets them
    /// leak; see the README's notes on differences).
    ///
    /// Read the run back with [`RunContext::from_context`] (or [`RunContext::current`] once
    /// attached), not from `cx.baggage()`: when botanu's [`BaggagePropagator`] is the global
    /// baggage propagator, the run's `botanu.*` entries are written from the run at inject
    /// time and are not in the context's `Baggage`.
    ///
    /// ```
    /// use botanu_core::RunContext;
    /// use opentelemetry::Context;
    ///
    /// let run = RunContext::new("Customer Support", "ticket-42", "acme");
    /// let cx = run.to_context(&Context::new());
    /// let back = RunContext::from_context(&cx).unwrap();
    /// assert_eq!(back.run_id(), run.run_id());
    /// ```
    pub fn to_context(&self, parent: &Context) -> Context {
        self.context_over(parent, parent.baggage())
    }

    /// [`to_context`](Self::to_context) over `base`, with the run's entries layered over
    /// `inbound` instead of `base`'s own baggage.
    ///
    /// When botanu's propagator is the one that writes outbound `baggage` headers
    /// ([`crate::install::typed_run_baggage`]), the run's entries are not copied into the
    /// context's `Baggage` (that costs ~13k instructions of key validation and hashing per
    /// run): the propagator writes them from the run at inject time, and the context's
    /// `Baggage` keeps only the other entries. Otherwise (an app's own W3C propagator would
    /// not see the run) they are written into the `Baggage` as well. The header is the same.
    pub(crate) fn context_over(&self, base: &Context, inbound: &Baggage) -> Context {
        // What the enricher stamps comes from the run itself, not from what fits in the
        // baggage: every span of the run carries its ids whatever the header's limits drop.
        let entries = canonical_entries(self);
        let mut found: [Option<StringValue>; 7] = std::array::from_fn(|i| entries[i].clone());
        // An outer tenant this run does not override is inherited (as in the reference SDK).
        const TENANT: usize = 5;
        if found[TENANT].is_none() {
            found[TENANT] = inbound
                .get(keys::TENANT_ID)
                .filter(|v| !v.as_str().is_empty())
                .cloned();
        }
        let enriched = found
            .into_iter()
            .zip(keys::ENRICHED)
            .filter_map(|(v, k)| {
                v.filter(|v| !v.as_str().is_empty())
                    .map(|v| KeyValue::new(k, v))
            })
            .collect();
        // Inbound entries the run replaces, and retry-chain keys of an outer run, go.
        let replaced = |k: &str| {
            CANONICAL
                .iter()
                .position(|e| *e == k)
                .is_some_and(|i| entries[i].is_some() || keys::RUN_SCOPED.contains(&k))
        };
        let current = CurrentRun {
            run: self.clone(),
            enriched,
        };
        if crate::install::typed_run_baggage() {
            let own = std::ptr::eq(inbound, base.baggage());
            let keep_all = !inbound.iter().any(|(k, _)| replaced(k.as_str()));
            let cx = if (own && keep_all) || (inbound.is_empty() && base.baggage().is_empty()) {
                base.clone()
            } else if inbound.is_empty() {
                base.with_cleared_baggage()
            } else {
                base.with_baggage(copy_except(inbound, replaced))
            };
            return cx.with_value(current);
        }
        let mut baggage = Baggage::new();
        // Our entries first: if the parent's baggage is near the W3C limits, ours win.
        for (key, value) in CANONICAL.iter().zip(&entries) {
            if let Some(v) = value {
                baggage.insert(*key, v.clone());
            }
        }
        for (key, (value, metadata)) in inbound {
            if !replaced(key.as_str()) {
                baggage.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
            }
        }
        base.with_baggage(baggage).with_value(current)
    }

    /// The run of the current context, if code is running inside one.
    ///
    /// Inside a run started by botanu this is the run object itself; in a context that only
    /// has botanu baggage (e.g. extracted from an inbound request) it is rebuilt from it.
    pub fn current() -> Option<RunContext> {
        Context::map_current(Self::from_context)
    }

    /// The run object a botanu lifecycle put in `cx` (not one rebuilt from baggage).
    pub(crate) fn from_context_local(cx: &Context) -> Option<RunContext> {
        cx.get::<CurrentRun>().map(|r| r.run.clone())
    }

    /// The run carried by `cx` (see [`current`](Self::current)).
    pub fn from_context(cx: &Context) -> Option<RunContext> {
        match cx.get::<CurrentRun>() {
            Some(current) => Some(current.run.clone()),
            None => RunContext::from_baggage(cx.baggage()),
        }
    }
}

// ---- wire codec -----------------------------------------------------------------------------

const BAGGAGE_HEADER: &str = "baggage";
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
/// metadata handled there); see the [module docs](self) for the encoding rules.
///
/// ```
/// use botanu_core::baggage::{decode_header, encode_header, BaggagePropagator};
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
            Some(current) if cx.get::<WithoutRunBaggage>().is_none() => Some(&current.run),
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

/// Percent-decodes `s` (invalid sequences are kept as they are, invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
