//! Helpers that record business facts on the current run's span from anywhere inside the run
//! (handler code, nested functions, tasks started with [`spawn`](crate::run::spawn)). Outside a run
//! they do nothing. Names are the reference Python SDK's.
//!
//! What they record is written on the run span when the run ends, so they work from any task
//! and thread that carries the run's context, whatever span is current there.

use std::time::SystemTime;

use opentelemetry::{Context, KeyValue, Value};

use crate::run::{non_empty, Recorded, RunContext, RunStatus};

/// Event added by [`emit_outcome`].
pub(crate) const EVENT_OUTCOME_EMITTED: &str = "botanu.outcome_emitted";

/// How much an outcome produced: an integer or a float, written with the type the caller gave
/// it (an OTLP int or double), as the reference SDK writes Python's `int` or `float`.
///
/// ```
/// use botanu_core::{Amount, Outcome};
/// assert_eq!(Amount::from(3), Amount::Int(3));
/// assert_eq!(Amount::from(0.5), Amount::Double(0.5));
/// let _ = Outcome::success().value("tickets_resolved", 3); // an int on the wire
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A count (`1` ticket, `3` documents).
    Int(i64),
    /// A measure (`0.5` of a ticket, `12.40` dollars).
    Double(f64),
}

impl Amount {
    /// The amount as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Amount::Int(v) => v as f64,
            Amount::Double(v) => v,
        }
    }
}

macro_rules! amount_from {
    ($variant:ident as $target:ty: $($t:ty),*) => {$(
        impl From<$t> for Amount {
            fn from(v: $t) -> Self {
                Amount::$variant(<$target>::from(v))
            }
        }
    )*};
}
amount_from!(Int as i64: i8, i16, i32, i64, u8, u16, u32);
amount_from!(Double as f64: f32, f64);

impl From<u64> for Amount {
    /// Saturates at `i64::MAX`.
    fn from(v: u64) -> Self {
        Amount::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Amount {
    /// Saturates at `i64::MAX`.
    fn from(v: usize) -> Self {
        Amount::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<Amount> for Value {
    fn from(a: Amount) -> Self {
        match a {
            Amount::Int(v) => Value::I64(v),
            Amount::Double(v) => Value::F64(v),
        }
    }
}

/// A business outcome of a run: whether it did what it was for, what it produced, how sure it
/// is, why it failed. The one type for both ways of recording it: [`emit_outcome`] from
/// anywhere inside a run, and [`RunContext::complete`] on a run driven by hand.
///
/// ```
/// use botanu_core::{emit_outcome, Outcome};
/// emit_outcome(Outcome::success().value("tickets_resolved", 1.0).confidence(0.92));
/// ```
///
/// The status is the app's verdict on the business result. A run started by botanu (a layer,
/// a scope, `#[workflow]`) ends with it when the work itself succeeded: a handler that answers
/// 200 but emitted `Outcome::failure("no_answer")` is a failed run with `error.type`
/// `no_answer`. When the work itself failed (a 5xx, an error, a panic) or was canceled, that
/// status wins over the app's verdict.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Outcome {
    pub(crate) status: RunStatus,
    pub(crate) value_type: Option<String>,
    pub(crate) value_amount: Option<Amount>,
    pub(crate) confidence: Option<f64>,
    pub(crate) reason: Option<String>,
    pub(crate) error_type: Option<String>,
    pub(crate) metadata: Vec<(String, Value)>,
}

impl Outcome {
    /// An outcome with this status and nothing else.
    pub fn new(status: RunStatus) -> Self {
        Outcome {
            status,
            value_type: None,
            value_amount: None,
            confidence: None,
            reason: None,
            error_type: None,
            metadata: Vec::new(),
        }
    }
    /// The run did what it was for (set what it produced with [`value`](Self::value)).
    pub fn success() -> Self {
        Self::new(RunStatus::Success)
    }
    /// The run did part of what it was for.
    pub fn partial() -> Self {
        Self::new(RunStatus::Partial)
    }
    /// The run failed, for a reason of type `error_type` (a short, low-cardinality name such
    /// as `no_answer`): the run's `error.type`.
    pub fn failure(error_type: impl Into<String>) -> Self {
        Outcome {
            error_type: Some(error_type.into()),
            ..Self::new(RunStatus::Failure)
        }
    }
    /// What the run produced and how much, e.g. `("tickets_resolved", 1)` (an int) or
    /// `("refund_usd", 12.5)` (a float): the [`Amount`] keeps the type given.
    pub fn value(mut self, value_type: impl Into<String>, amount: impl Into<Amount>) -> Self {
        self.value_type = Some(value_type.into());
        self.value_amount = Some(amount.into());
        self
    }
    /// Confidence in the outcome, 0–1.
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = Some(confidence);
        self
    }
    /// A reason, free text (`botanu.outcome.reason` when emitted,
    /// `botanu.outcome.reason_code` when a run completes with it).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// A metadata entry, written as `botanu.outcome.metadata.<key>`.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
    /// The status.
    pub fn status(&self) -> RunStatus {
        self.status
    }
}

fn current_run() -> Option<RunContext> {
    Context::map_current(RunContext::from_context_local)
}

/// Records an outcome on the current run: `botanu.outcome.*` attributes, one
/// `botanu.outcome_emitted` event {value_type?, value_amount?, error_type?}, and the app's
/// verdict on the run (see [`Outcome`]): its status, value and confidence go into the run's
/// `botanu.run.completed` event and attributes when it ends. A later call overrides what an
/// earlier one set. No `botanu.outcome.status` attribute is written (as in the reference
/// SDK). Outside a run it does nothing.
pub fn emit_outcome(outcome: Outcome) {
    let Some(run) = current_run() else { return };
    let mut event = Vec::new();
    let mut attributes = Vec::new();
    if let Some(v) = non_empty(&outcome.value_type) {
        event.push(KeyValue::new("value_type", v.to_owned()));
    }
    if let Some(v) = outcome.value_amount {
        event.push(KeyValue::new("value_amount", v));
    }
    if let Some(v) = non_empty(&outcome.reason) {
        attributes.push(KeyValue::new("botanu.outcome.reason", v.to_owned()));
    }
    if let Some(v) = non_empty(&outcome.error_type) {
        attributes.push(KeyValue::new("botanu.outcome.error_type", v.to_owned()));
        event.push(KeyValue::new("error_type", v.to_owned()));
    }
    for (k, v) in &outcome.metadata {
        attributes.push(KeyValue::new(
            format!("botanu.outcome.metadata.{k}"),
            v.clone(),
        ));
    }
    mark_current_span(&run, &outcome, &attributes, &event);
    for kv in attributes {
        run.record(Recorded::Attribute(kv));
    }
    run.record(Recorded::Event(
        EVENT_OUTCOME_EMITTED,
        SystemTime::now(),
        event,
    ));
    run.merge_verdict(outcome);
}

/// The reference SDK writes an outcome on the current span; botanu writes it on the run span
/// (where a backend finds it for the whole run) and, when the current span is another one of
/// botanu's pipeline (a step, a handler's span), marks that span the reference's way too:
/// `botanu.outcome.*` attributes and the `botanu.outcome_emitted` event. With an app pipeline
/// (migrated, parallel) the current span is the app's and is left alone.
fn mark_current_span(
    run: &RunContext,
    outcome: &Outcome,
    attributes: &[KeyValue],
    event: &[KeyValue],
) {
    use opentelemetry::trace::TraceContextExt as _;
    let Some(run_span) = run.markable_span() else {
        return;
    };
    Context::map_current(|cx| {
        let span = cx.span();
        if !span.is_recording() || span.span_context().span_id() == run_span {
            return;
        }
        if let Some(v) = non_empty(&outcome.value_type) {
            span.set_attribute(KeyValue::new(
                crate::semconv::attr::OUTCOME_VALUE_TYPE,
                v.to_owned(),
            ));
        }
        if let Some(v) = outcome.value_amount {
            span.set_attribute(KeyValue::new(crate::semconv::attr::OUTCOME_VALUE_AMOUNT, v));
        }
        if let Some(v) = outcome.confidence {
            span.set_attribute(KeyValue::new(crate::semconv::attr::OUTCOME_CONFIDENCE, v));
        }
        for kv in attributes {
            span.set_attribute(kv.clone());
        }
        span.add_event(EVENT_OUTCOME_EMITTED, event.to_vec());
    });
}

/// Business context of the current run (reference `set_business_context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct BusinessContext {
    customer_id: Option<String>,
    team: Option<String>,
    cost_center: Option<String>,
    region: Option<String>,
}

impl BusinessContext {
    /// Nothing set yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// `botanu.customer_id`, for runs whose customer is only known inside the handler.
    pub fn customer_id(mut self, v: impl Into<String>) -> Self {
        self.customer_id = Some(v.into());
        self
    }
    /// `botanu.team`.
    pub fn team(mut self, v: impl Into<String>) -> Self {
        self.team = Some(v.into());
        self
    }
    /// `botanu.cost_center`.
    pub fn cost_center(mut self, v: impl Into<String>) -> Self {
        self.cost_center = Some(v.into());
        self
    }
    /// `botanu.region`.
    pub fn region(mut self, v: impl Into<String>) -> Self {
        self.region = Some(v.into());
        self
    }
}

/// Records business context on the current run span.
///
/// A customer id is written only when the run has none yet (one found by an extractor or
/// inbound baggage is authoritative); spans started earlier in the run keep what they had.
pub fn set_business_context(ctx: BusinessContext) {
    let Some(run) = current_run() else { return };
    if let Some(c) = non_empty(&ctx.customer_id) {
        if run.customer_id().is_empty() {
            run.record(Recorded::Attribute(KeyValue::new(
                crate::semconv::keys::CUSTOMER_ID,
                c.to_owned(),
            )));
        } else if run.customer_id() != c {
            tracing::debug!(target: "botanu", run_id = run.run_id(), "set_business_context: the run already has a customer id; keeping it");
        }
    }
    for (key, v) in [
        ("botanu.team", &ctx.team),
        ("botanu.cost_center", &ctx.cost_center),
        ("botanu.region", &ctx.region),
    ] {
        if let Some(v) = non_empty(v) {
            run.record(Recorded::Attribute(KeyValue::new(key, v.to_owned())));
        }
    }
}

/// Systems of record the reference SDK knows; other prefixes are written too, with a log line.
const KNOWN_SOR_PREFIXES: [&str; 11] = [
    "zendesk",
    "stripe",
    "salesforce",
    "sfdc",
    "jira",
    "servicenow",
    "hubspot",
    "intercom",
    "freshdesk",
    "zoho",
    "front",
];

/// Links the run to records in other systems: `botanu.correlation.<key>` = value, e.g.
/// `set_correlation([("zendesk_ticket_id", "4711")])`. Empty values are skipped.
pub fn set_correlation<K, V>(pairs: impl IntoIterator<Item = (K, V)>)
where
    K: AsRef<str>,
    V: ToString,
{
    let Some(run) = current_run() else { return };
    for (k, v) in pairs {
        let (k, v) = (k.as_ref(), v.to_string());
        if k.is_empty() || v.is_empty() {
            continue;
        }
        let prefix = k.split('_').next().unwrap_or(k);
        if !KNOWN_SOR_PREFIXES.contains(&prefix) {
            tracing::info!(target: "botanu", key = k, "set_correlation: unfamiliar SoR prefix {prefix:?}; recorded anyway");
        }
        run.record(Recorded::Attribute(KeyValue::new(
            format!("botanu.correlation.{k}"),
            v,
        )));
    }
}
