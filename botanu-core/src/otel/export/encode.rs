//! OTLP/HTTP protobuf written directly from [`SpanData`]: the bytes of an
//! `ExportTraceServiceRequest`, without building `opentelemetry-proto` messages first.
//!
//! Converting a span to `opentelemetry-proto`'s structs, encoding them with prost and dropping
//! them costs about 45k instructions for a run span; writing the same bytes straight into a
//! reused buffer costs a seventh of that. The output is byte-identical to
//! `prost::Message::encode_to_vec` of the converted message (the property tests at the end
//! of this file hold it to that, for every value type, events, links, status, dropped counts,
//! several scopes and split batches), so any OTLP receiver reads it as it reads
//! `opentelemetry-otlp`'s.
//!
//! The rules prost follows, and this writer with it:
//! - fields in tag order (`Span.flags` is tag 16: its key takes two bytes);
//! - proto3 scalars equal to zero, and empty strings and bytes, are omitted;
//! - a `oneof` value (`AnyValue`) is always written, even when zero or empty;
//! - an optional message that is present is written even when empty (`Span.status`,
//!   `ResourceSpans.resource`, `ScopeSpans.scope`, `KeyValue.value`);
//! - lengths are minimal varints (a body is written first, then its length is put in front).

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use std::time::{SystemTime, UNIX_EPOCH};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Span flags bit: "the flags say whether the parent is remote" (always set, as upstream).
const HAS_IS_REMOTE: u32 = 0x100;
/// Span flags bit: the parent is remote.
const IS_REMOTE: u32 = 0x200;

/// What closing a request can add to its length prefixes: the open `ResourceSpans` and
/// `ScopeSpans` lengths grow from the one byte kept to at most five each.
const PREFIX_GROWTH: usize = 8;

/// Writes export requests for one resource, reusing its buffer between batches.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// The body of the `Resource` message, encoded once.
    resource: Vec<u8>,
    resource_schema_url: String,
    buf: Vec<u8>,
    /// Per batch: the scopes met, in order, and each span's scope index.
    scopes: Vec<usize>,
    scope_of: Vec<usize>,
}

impl Encoder {
    /// An encoder for spans of `resource`. Its attributes are encoded now, in the order
    /// `Resource::iter` gives (a hash-map walk: fixed for one `Resource` value).
    pub(crate) fn new(resource: &Resource) -> Self {
        let mut encoded = Vec::new();
        for (key, value) in resource.iter() {
            key_value(&mut encoded, 1, key.as_str(), value);
        }
        Encoder {
            resource: encoded,
            resource_schema_url: resource.schema_url().unwrap_or_default().to_owned(),
            buf: Vec::new(),
            scopes: Vec::new(),
            scope_of: Vec::new(),
        }
    }

    /// Encodes `spans` as export requests of at most `limit` bytes each, calling
    /// `send(body, number_of_spans)` for each. Spans are grouped by instrumentation scope
    /// (scopes in the order first met, spans in their order within a scope); a request holds
    /// a run of that order. A span too large for `limit` on its own goes alone in a request.
    /// `send` may take the body's vector (and give one back for the next request: the
    /// encoder clears and reuses whatever vector it finds there).
    pub(crate) fn encode(
        &mut self,
        spans: &[SpanData],
        limit: usize,
        mut send: impl FnMut(&mut Vec<u8>, usize),
    ) {
        self.group(spans);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut in_request = 0usize;
        // Where the open `ResourceSpans` and `ScopeSpans` lengths go, and the open scope.
        let mut open: Option<(usize, usize, usize)> = None;
        for (order, &first) in self.scopes.iter().enumerate() {
            let scope = &spans[first].instrumentation_scope;
            // Bytes that closing a request in this scope adds: the schema URLs and prefixes.
            let closing = field_len(scope.schema_url().unwrap_or_default())
                + field_len(&self.resource_schema_url)
                + PREFIX_GROWTH;
            let limit = limit.saturating_sub(closing);
            for (span, _) in spans
                .iter()
                .zip(&self.scope_of)
                .filter(|(_, &group)| group == order)
            {
                // `switched`: where the scope switched in this request (the previous scope is
                // closed before it), to take back if this span does not fit.
                let (rs, ss, switched) = match open {
                    Some((rs, ss, current)) if current == order => (rs, ss, None),
                    Some((rs, ss, current)) => {
                        let previous = &spans[self.scopes[current]].instrumentation_scope;
                        close_scope(&mut buf, ss, previous);
                        let at = buf.len();
                        (rs, open_scope(&mut buf, scope), Some(at))
                    }
                    None => (
                        self.open_request(&mut buf),
                        open_scope(&mut buf, scope),
                        None,
                    ),
                };
                let mark = buf.len();
                wide_message(&mut buf, 2, |b| span_body(b, span));
                open = Some(if buf.len() > limit && in_request > 0 {
                    // Send the request without this span; it starts the next one.
                    match switched {
                        Some(at) => buf.truncate(at),
                        None => {
                            buf.truncate(mark);
                            close_scope(&mut buf, ss, scope);
                        }
                    }
                    self.close_request(&mut buf, rs);
                    send(&mut buf, in_request);
                    buf.clear();
                    in_request = 0;
                    let rs = self.open_request(&mut buf);
                    let ss = open_scope(&mut buf, scope);
                    wide_message(&mut buf, 2, |b| span_body(b, span));
                    (rs, ss, order)
                } else {
                    (rs, ss, order)
                });
                in_request += 1;
            }
        }
        if let Some((rs, ss, current)) = open {
            close_scope(
                &mut buf,
                ss,
                &spans[self.scopes[current]].instrumentation_scope,
            );
            self.close_request(&mut buf, rs);
            send(&mut buf, in_request);
        }
        // Keep the buffer for the next batch, unless one huge batch made it huge.
        if buf.capacity() > 16 << 20 {
            buf = Vec::new();
        }
        self.buf = buf;
    }

    /// Sorts the batch into scope groups without moving the spans.
    fn group(&mut self, spans: &[SpanData]) {
        self.scopes.clear();
        self.scope_of.clear();
        for (i, span) in spans.iter().enumerate() {
            let scope = &span.instrumentation_scope;
            let order = match self
                .scopes
                .iter()
                .position(|&first| same_scope(&spans[first].instrumentation_scope, scope))
            {
                Some(order) => order,
                None => {
                    self.scopes.push(i);
                    self.scopes.len() - 1
                }
            };
            self.scope_of.push(order);
        }
    }

    /// Opens `ExportTraceServiceRequest.resource_spans` and writes the resource.
    fn open_request(&self, buf: &mut Vec<u8>) -> usize {
        let rs = open_wide(buf, 1);
        message(buf, 1, |b| b.extend_from_slice(&self.resource));
        rs
    }

    /// Closes the open `ResourceSpans`, after its schema URL.
    fn close_request(&self, buf: &mut Vec<u8>, rs: usize) {
        string(buf, 3, &self.resource_schema_url);
        close_wide(buf, rs);
    }
}

/// Opens `ResourceSpans.scope_spans` and writes the scope.
fn open_scope(buf: &mut Vec<u8>, scope: &InstrumentationScope) -> usize {
    let ss = open_wide(buf, 2);
    message(buf, 1, |b| {
        string(b, 1, scope.name());
        string(b, 2, scope.version().unwrap_or_default());
        for kv in scope.attributes() {
            key_value(b, 3, kv.key.as_str(), &kv.value);
        }
    });
    ss
}

/// Closes the open `ScopeSpans`, after its schema URL (tag 3 follows the spans).
fn close_scope(buf: &mut Vec<u8>, ss: usize, scope: &InstrumentationScope) {
    string(buf, 3, scope.schema_url().unwrap_or_default());
    close_wide(buf, ss);
}

fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The body of one `Span` message.
fn span_body(buf: &mut Vec<u8>, span: &SpanData) {
    let cx = &span.span_context;
    bytes(buf, 1, &cx.trace_id().to_bytes());
    bytes(buf, 2, &cx.span_id().to_bytes());
    trace_state(buf, 3, cx);
    if span.parent_span_id != SpanId::INVALID {
        bytes(buf, 4, &span.parent_span_id.to_bytes());
    }
    string(buf, 5, &span.name);
    uint(buf, 6, kind(&span.span_kind));
    fixed64(buf, 7, nanos(span.start_time));
    fixed64(buf, 8, nanos(span.end_time));
    for kv in &span.attributes {
        key_value(buf, 9, kv.key.as_str(), &kv.value);
    }
    uint(buf, 10, span.dropped_attributes_count.into());
    for event in span.events.iter() {
        message(buf, 11, |b| {
            fixed64(b, 1, nanos(event.timestamp));
            string(b, 2, &event.name);
            attributes(b, 3, &event.attributes);
            uint(b, 4, event.dropped_attributes_count.into());
        });
    }
    uint(buf, 12, span.events.dropped_count.into());
    for link in span.links.iter() {
        let lcx = &link.span_context;
        message(buf, 13, |b| {
            bytes(b, 1, &lcx.trace_id().to_bytes());
            bytes(b, 2, &lcx.span_id().to_bytes());
            trace_state(b, 3, lcx);
            attributes(b, 4, &link.attributes);
            uint(b, 5, link.dropped_attributes_count.into());
            fixed32(b, 6, flags(lcx.trace_flags().to_u8(), lcx.is_remote()));
        });
    }
    uint(buf, 14, span.links.dropped_count.into());
    message(buf, 15, |b| match &span.status {
        Status::Error { description } => {
            string(b, 2, description);
            uint(b, 3, 2);
        }
        Status::Ok => uint(b, 3, 1),
        Status::Unset => {}
    });
    fixed32(
        buf,
        16,
        flags(cx.trace_flags().to_u8(), span.parent_span_is_remote),
    );
}

fn flags(trace_flags: u8, remote: bool) -> u32 {
    u32::from(trace_flags) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Nanoseconds since the epoch; times before it are 0 (as upstream).
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn trace_state(buf: &mut Vec<u8>, field: u32, cx: &opentelemetry::trace::SpanContext) {
    let state = cx.trace_state();
    if *state != opentelemetry::trace::TraceState::NONE {
        string(buf, field, &state.header());
    }
}

fn attributes(buf: &mut Vec<u8>, field: u32, kvs: &[KeyValue]) {
    for kv in kvs {
        key_value(buf, field, kv.key.as_str(), &kv.value);
    }
}

/// A `KeyValue` message as field `field`.
fn key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    message(buf, field, |b| {
        string(b, 1, key);
        message(b, 2, |b| any_value(b, value));
    });
}

/// The body of an `AnyValue` message: its one value, always written.
fn any_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => always_bytes(buf, 1, s.as_str().as_bytes()),
        Value::Bool(v) => always_uint(buf, 2, u64::from(*v)),
        Value::I64(v) => always_uint(buf, 3, *v as u64),
        Value::F64(v) => always_f64(buf, 4, *v),
        Value::Array(array) => message(buf, 5, |b| match array {
            Array::Bool(vs) => vs
                .iter()
                .for_each(|v| message(b, 1, |b| always_uint(b, 2, u64::from(*v)))),
            Array::I64(vs) => vs
                .iter()
                .for_each(|v| message(b, 1, |b| always_uint(b, 3, *v as u64))),
            Array::F64(vs) => vs
                .iter()
                .for_each(|v| message(b, 1, |b| always_f64(b, 4, *v))),
            Array::String(vs) => vs
                .iter()
                .for_each(|v| message(b, 1, |b| always_bytes(b, 1, v.as_str().as_bytes()))),
            // A newer opentelemetry may add array kinds: an empty array, never a panic.
            _ => {}
        }),
        // Likewise for value kinds: an empty `AnyValue`.
        _ => {}
    }
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from(field << 3 | wire));
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// The bytes `string(buf, field, s)` writes, for a field number below 16.
fn field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits; 0 takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        always_uint(buf, field, v);
    }
}

fn always_uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, VARINT);
    varint(buf, v);
}

fn always_f64(buf: &mut Vec<u8>, field: u32, v: f64) {
    key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(buf, field, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        key(buf, field, FIXED32);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
    bytes(buf, field, s.as_bytes());
}

fn bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    if !data.is_empty() {
        always_bytes(buf, field, data);
    }
}

fn always_bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(buf, field, LEN);
    varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// A length-delimited field whose body `body` writes.
fn message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = open(buf, field);
    body(buf);
    close(buf, start);
}

/// A length-delimited field whose body is usually 128 bytes to 16 KiB long (a span, a scope's
/// or a resource's spans): two bytes are kept for its length, so the body rarely moves.
fn wide_message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = open_wide(buf, field);
    body(buf);
    close_wide(buf, start);
}

/// The width [`open_wide`] keeps for a length.
const WIDE: usize = 2;

/// [`open`] with [`WIDE`] bytes kept for the length.
fn open_wide(buf: &mut Vec<u8>, field: u32) -> usize {
    key(buf, field, LEN);
    buf.extend_from_slice(&[0; WIDE]);
    buf.len() - WIDE
}

/// [`close`] for a field opened with [`open_wide`].
fn close_wide(buf: &mut Vec<u8>, at: usize) {
    close_kept(buf, at, WIDE);
}

/// Puts the body's length (everything after the `kept` bytes at `at`) there as a minimal
/// varint (prost writes minimal varints; so do we): the body moves only when that varint is
/// not `kept` bytes wide.
fn close_kept(buf: &mut Vec<u8>, at: usize, kept: usize) {
    let end = buf.len();
    let len = end - at - kept;
    let width = varint_len(len as u64);
    if width > kept {
        buf.resize(end + width - kept, 0);
        buf.copy_within(at + kept..end, at + width);
    } else if width < kept {
        buf.copy_within(at + kept..end, at + width);
        buf.truncate(end - (kept - width));
    }
    let mut v = len as u64;
    for slot in &mut buf[at..at + width] {
        *slot = if v >= 0x80 { v as u8 | 0x80 } else { v as u8 };
        v >>= 7;
    }
}

/// Writes the key of a length-delimited field and one byte for its length; returns where the
/// length goes.
fn open(buf: &mut Vec<u8>, field: u32) -> usize {
    key(buf, field, LEN);
    buf.push(0);
    buf.len() - 1
}

/// Puts the body's length (everything after `at`) in front of it, as a minimal varint: the
/// body moves right when the length needs more than the one byte `open` kept.
fn close(buf: &mut Vec<u8>, at: usize) {
    let len = buf.len() - at - 1;
    if len < 0x80 {
        // Most fields: the one byte kept is the length.
        buf[at] = len as u8;
        return;
    }
    close_kept(buf, at, 1);
}

/// Cuts string values (of the span and its events) longer than `value_limit` bytes at a
/// character boundary (a 64 KB header the app copied into an attribute does not become a
/// 64 KB attribute in botanu's export), and returns
/// about how much memory the span then holds: what botanu's export queue bound counts. One
/// pass over the span does both. Fixed struct sizes plus the bytes of names, keys and string
/// values (static strings are counted too: the bound is about what the export will write, and
/// it errs on the safe side).
pub(crate) fn bound_and_size(span: &mut SpanData, value_limit: usize) -> usize {
    fn kvs(kvs: &mut [KeyValue], limit: usize) -> usize {
        kvs.iter_mut()
            .map(|kv| {
                cut(kv, limit);
                size(kv)
            })
            .sum()
    }
    fn size(kv: &KeyValue) -> usize {
        std::mem::size_of::<KeyValue>() + kv.key.as_str().len() + value(&kv.value)
    }
    fn cut(kv: &mut KeyValue, limit: usize) {
        if let Value::String(s) = &kv.value {
            if s.as_str().len() > limit {
                let kept = crate::pii::truncate_bytes(s.as_str(), limit).to_owned();
                kv.value = Value::String(kept.into());
            }
        }
    }
    fn value(v: &Value) -> usize {
        match v {
            Value::String(s) => s.as_str().len(),
            Value::Array(Array::String(vs)) => vs
                .iter()
                .map(|s| std::mem::size_of_val(s) + s.as_str().len())
                .sum(),
            Value::Array(Array::I64(vs)) => vs.len() * 8,
            Value::Array(Array::F64(vs)) => vs.len() * 8,
            Value::Array(Array::Bool(vs)) => vs.len(),
            _ => 0,
        }
    }
    std::mem::size_of::<SpanData>()
        + span.name.len()
        + kvs(&mut span.attributes, value_limit)
        + span
            .events
            .events
            .iter_mut()
            .map(|e| std::mem::size_of_val(e) + e.name.len() + kvs(&mut e.attributes, value_limit))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| std::mem::size_of_val(l) + l.attributes.iter().map(size).sum::<usize>())
            .sum::<usize>()
        + match &span.status {
            Status::Error { description } => description.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceId, TraceState};
    use opentelemetry::{Array, StringValue};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use proptest::prelude::*;
    use prost::Message as _;
    use std::time::Duration;

    /// What `opentelemetry-otlp` would send for `spans` (already in scope-group order): the
    /// converted `opentelemetry-proto` message, encoded by prost.
    fn oracle(resource: &Resource, spans: &[SpanData]) -> Vec<u8> {
        let res = ResourceAttributesWithSchema::from(resource);
        let mut groups: Vec<(InstrumentationScope, Vec<ProtoSpan>)> = Vec::new();
        for span in spans {
            let scope = &span.instrumentation_scope;
            match groups.iter_mut().find(|(s, _)| s == scope) {
                Some((_, list)) => list.push(span.clone().into()),
                None => groups.push((scope.clone(), vec![span.clone().into()])),
            }
        }
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: res.attributes.0,
                    dropped_attributes_count: 0,
                    entity_refs: vec![],
                }),
                scope_spans: groups
                    .into_iter()
                    .map(|(scope, spans)| ScopeSpans {
                        schema_url: scope.schema_url().unwrap_or_default().to_owned(),
                        scope: Some((&scope, None).into()),
                        spans,
                    })
                    .collect(),
                schema_url: res.schema_url.unwrap_or_default(),
            }],
        }
        .encode_to_vec()
    }

    /// `spans` in the order the encoder writes them: grouped by scope, scopes as first met.
    fn grouped(spans: &[SpanData]) -> Vec<SpanData> {
        let mut scopes: Vec<&InstrumentationScope> = Vec::new();
        for span in spans {
            if !scopes.contains(&&span.instrumentation_scope) {
                scopes.push(&span.instrumentation_scope);
            }
        }
        scopes
            .iter()
            .flat_map(|scope| {
                spans
                    .iter()
                    .filter(move |s| &&s.instrumentation_scope == scope)
                    .cloned()
            })
            .collect()
    }

    fn encode_all(resource: &Resource, spans: &[SpanData], limit: usize) -> Vec<(Vec<u8>, usize)> {
        let mut encoder = Encoder::new(resource);
        let mut out = Vec::new();
        encoder.encode(spans, limit, |body, n| out.push((body.clone(), n)));
        out
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z._]{1,12}",
            ".{0,40}",
            // Long enough for two-byte length prefixes (`large_values` covers three).
            "[a-zé漢]{100,400}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let f64s = prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(0.0),
        ];
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![any::<i64>(), Just(0i64), Just(-1i64)].prop_map(Value::I64),
            f64s.clone().prop_map(Value::F64),
            text().prop_map(|s| Value::String(s.into())),
            prop::collection::vec(any::<bool>(), 0..4).prop_map(|v| Value::Array(Array::Bool(v))),
            prop::collection::vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
            prop::collection::vec(f64s, 0..4).prop_map(|v| Value::Array(Array::F64(v))),
            prop::collection::vec(text(), 0..4).prop_map(|v| Value::Array(Array::String(
                v.into_iter().map(StringValue::from).collect()
            ))),
        ]
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        prop::collection::vec(
            (text(), value()).prop_map(|(k, v)| KeyValue::new(k, v)),
            0..6,
        )
    }

    fn time() -> impl Strategy<Value = SystemTime> {
        prop_oneof![
            Just(UNIX_EPOCH),
            (0u64..4_000_000_000_000_000_000).prop_map(|n| UNIX_EPOCH + Duration::from_nanos(n)),
            // Before the epoch: written as 0.
            (1u64..1_000_000).prop_map(|n| UNIX_EPOCH - Duration::from_secs(n)),
        ]
    }

    fn span_context() -> impl Strategy<Value = SpanContext> {
        let state = prop_oneof![
            Just(TraceState::NONE),
            Just("vendor=abc".parse::<TraceState>().unwrap()),
            Just("a=1,b=2".parse::<TraceState>().unwrap()),
        ];
        (
            prop_oneof![any::<u128>(), Just(0u128)],
            prop_oneof![any::<u64>(), Just(0u64)],
            any::<u8>(),
            any::<bool>(),
            state,
        )
            .prop_map(|(t, s, flags, remote, state)| {
                SpanContext::new(
                    TraceId::from(t),
                    SpanId::from(s),
                    TraceFlags::new(flags),
                    remote,
                    state,
                )
            })
    }

    fn scope() -> impl Strategy<Value = InstrumentationScope> {
        prop_oneof![
            Just(InstrumentationScope::builder("botanu_sdk").build()),
            Just(
                InstrumentationScope::builder("app")
                    .with_version("1.2.3")
                    .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
                    .with_attributes([KeyValue::new("lib", "x"), KeyValue::new("n", 3)])
                    .build()
            ),
            Just(InstrumentationScope::builder("").build()),
        ]
    }

    prop_compose! {
        fn span()(
            cx in span_context(),
            parent in prop_oneof![Just(0u64), any::<u64>()],
            parent_is_remote in any::<bool>(),
            kind in 0usize..5,
            name in text(),
            start in time(),
            end in time(),
            attributes in attributes(),
            dropped_attributes_count in prop_oneof![Just(0u32), any::<u32>()],
            events in prop::collection::vec((text(), time(), attributes(), any::<u32>()), 0..3),
            dropped_events in prop_oneof![Just(0u32), any::<u32>()],
            links in prop::collection::vec((span_context(), attributes(), any::<u32>()), 0..3),
            dropped_links in prop_oneof![Just(0u32), any::<u32>()],
            status in prop_oneof![
                Just(Status::Unset),
                Just(Status::Ok),
                text().prop_map(Status::error),
            ],
            scope in scope(),
        ) -> SpanData {
            SpanData {
                span_context: cx,
                parent_span_id: SpanId::from(parent),
                parent_span_is_remote: parent_is_remote,
                span_kind: [
                    SpanKind::Internal,
                    SpanKind::Server,
                    SpanKind::Client,
                    SpanKind::Producer,
                    SpanKind::Consumer,
                ][kind]
                    .clone(),
                name: name.into(),
                start_time: start,
                end_time: end,
                attributes,
                dropped_attributes_count,
                events: {
                    let mut e = SpanEvents::default();
                    e.events = events
                        .into_iter()
                        .map(|(name, ts, attrs, dropped)| {
                            opentelemetry::trace::Event::new(name, ts, attrs, dropped)
                        })
                        .collect();
                    e.dropped_count = dropped_events;
                    e
                },
                links: {
                    let mut l = SpanLinks::default();
                    l.links = links
                        .into_iter()
                        .map(|(cx, attrs, dropped)| {
                            let mut link = opentelemetry::trace::Link::with_context(cx);
                            link.attributes = attrs;
                            link.dropped_attributes_count = dropped;
                            link
                        })
                        .collect();
                    l.dropped_count = dropped_links;
                    l
                },
                status,
                instrumentation_scope: scope,
            }
        }
    }

    fn resource() -> impl Strategy<Value = Resource> {
        (attributes(), prop::option::of("https://[a-z.]{1,10}/1.0")).prop_map(|(attrs, schema)| {
            match schema {
                Some(url) => Resource::builder_empty()
                    .with_schema_url(attrs, url)
                    .build(),
                None => Resource::builder_empty().with_attributes(attrs).build(),
            }
        })
    }

    proptest! {
        // PROPTEST_CASES=100000 for a long run.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        /// One request: byte-identical to opentelemetry-proto + prost.
        #[test]
        fn same_bytes_as_opentelemetry_proto(
            resource in resource(),
            spans in prop::collection::vec(span(), 1..6),
        ) {
            let requests = encode_all(&resource, &spans, usize::MAX);
            prop_assert_eq!(requests.len(), 1);
            prop_assert_eq!(requests[0].1, spans.len());
            prop_assert_eq!(&requests[0].0, &oracle(&resource, &grouped(&spans)));
        }

        /// Split at a request size limit: every request is the oracle's encoding of its run of
        /// spans, within the limit unless it holds one span; no span lost or sent twice.
        #[test]
        fn split_requests_are_each_exact(
            resource in resource(),
            spans in prop::collection::vec(span(), 1..12),
            limit in 64usize..6000,
        ) {
            let order = grouped(&spans);
            let requests = encode_all(&resource, &spans, limit);
            let mut offset = 0;
            for (body, n) in &requests {
                prop_assert!(*n >= 1);
                prop_assert!(body.len() <= limit || *n == 1, "{} bytes > {limit} with {n} spans", body.len());
                prop_assert_eq!(body, &oracle(&resource, &order[offset..offset + n]));
                offset += n;
            }
            prop_assert_eq!(offset, spans.len());
        }
    }

    /// Bodies of 16 KiB and more: three-byte length prefixes at every level.
    #[test]
    fn large_values() {
        let resource = Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "s")])
            .build();
        let mut span = SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(3),
            parent_span_is_remote: true,
            span_kind: SpanKind::Client,
            name: "chat".into(),
            start_time: UNIX_EPOCH + Duration::from_secs(1),
            end_time: UNIX_EPOCH + Duration::from_secs(2),
            attributes: vec![KeyValue::new("big", "漢".repeat(40_000))],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::error("x".repeat(20_000)),
            instrumentation_scope: InstrumentationScope::builder("botanu_sdk").build(),
        };
        let spans = vec![span.clone(), {
            span.attributes.push(KeyValue::new("n", 1));
            span
        }];
        let requests = encode_all(&resource, &spans, usize::MAX);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].0, oracle(&resource, &spans));
        // Each span alone is over a 64 KiB limit: one request each, both exact.
        let requests = encode_all(&resource, &spans, 64 << 10);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, oracle(&resource, &spans[..1]));
        assert_eq!(requests[1].0, oracle(&resource, &spans[1..]));
    }

    #[test]
    fn nothing_to_send_for_no_spans() {
        let requests = encode_all(&Resource::builder_empty().build(), &[], 1024);
        assert!(requests.is_empty());
    }

    #[test]
    fn varint_widths() {
        for (v, width) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            let mut buf = Vec::new();
            varint(&mut buf, v);
            assert_eq!(buf.len(), width, "{v}");
            assert_eq!(varint_len(v), width, "{v}");
        }
    }
}
