//! The run model: one execution of a business workflow.
//!
//! A [`RunContext`] names the run (`run_id`, a UUIDv7), the workflow it executes, the business
//! event and customer it is for, and its place in a retry chain. It travels between services as
//! W3C Baggage ([`RunContext::to_baggage`] / [`RunContext::from_baggage`]) and is written on the
//! run span as attributes ([`RunContext::to_span_attributes`]). Names and encodings are those of
//! the reference Python SDK, so a Python service and a Rust service continue each other's runs.

pub(crate) mod current;
pub(crate) mod outcome;
pub(crate) mod spawn;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::baggage::Baggage;
use opentelemetry::{KeyValue, StringValue, Value};

use crate::semconv::{attr, keys};

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

/// The final status of a run. The string forms are the wire values of the reference SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// The run did what it was for.
    Success,
    /// The run failed (an error, a 5xx, a panic).
    Failure,
    /// The run did part of what it was for.
    Partial,
    /// The run ran out of time.
    Timeout,
    /// The run was abandoned (client went away, future dropped). Spelled with one "l".
    Canceled,
}

impl RunStatus {
    /// The wire value: `success`, `failure`, `partial`, `timeout` or `canceled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Partial => "partial",
            RunStatus::Timeout => "timeout",
            RunStatus::Canceled => "canceled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, as [`RunContext::outcome`] reports it: the status and what the app said
/// about the result ([`Outcome`](crate::Outcome), through [`emit_outcome`](crate::emit_outcome)
/// or [`RunContext::complete`]). Read-only: the app records an outcome with an `Outcome`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// The status.
    pub status: RunStatus,
    /// A machine-readable reason (`botanu.outcome.reason_code`).
    pub reason_code: Option<String>,
    /// The error type on failure (`error.type`, `botanu.outcome.error_class`).
    pub error_class: Option<String>,
    /// What the run produced, e.g. `tickets_resolved` (`botanu.outcome.value_type`).
    pub value_type: Option<String>,
    /// How much of it (`botanu.outcome.value_amount`).
    pub value_amount: Option<crate::Amount>,
    /// Confidence in the outcome, 0–1 (`botanu.outcome.confidence`).
    pub confidence: Option<f64>,
    /// Metadata given to [`RunContext::complete`] (`botanu.outcome.metadata.<key>`).
    pub metadata: Vec<(String, Value)>,
}

impl RunOutcome {
    pub(crate) fn new(status: RunStatus) -> Self {
        RunOutcome {
            status,
            reason_code: None,
            error_class: None,
            value_type: None,
            value_amount: None,
            confidence: None,
            metadata: Vec::new(),
        }
    }
}

impl From<crate::Outcome> for RunOutcome {
    fn from(o: crate::Outcome) -> Self {
        RunOutcome {
            status: o.status,
            reason_code: o.reason,
            error_class: o.error_type,
            value_type: o.value_type,
            value_amount: o.value_amount,
            confidence: o.confidence,
            metadata: o.metadata,
        }
    }
}

/// Mutable run state shared by every clone of one [`RunContext`]: cancelling or completing a
/// clone (e.g. the one a handler extracted) is seen by the lifecycle that owns the run.
#[derive(Debug, Default)]
struct RunState {
    cancelled: AtomicBool,
    /// Unix time in microseconds; 0 = not recorded.
    cancelled_at_us: AtomicU64,
    outcome: Mutex<Option<(RunOutcome, Duration)>>,
    /// Attributes and events for the run span, recorded from anywhere inside the run and
    /// written when the run ends (the span itself belongs to the lifecycle).
    recorded: Mutex<Vec<Recorded>>,
    /// The run span's id (big-endian bytes as a u64; 0 = none) when botanu owns the tracing,
    /// so that `emit_outcome` may also mark the current span when it is another one.
    markable_span: AtomicU64,
}

/// Something recorded for the run span by code inside the run.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    Attribute(KeyValue),
    Event(&'static str, SystemTime, Vec<KeyValue>),
}

/// At most this many records per run: a loop calling `emit_outcome` cannot grow memory.
const MAX_RECORDED: usize = 256;

/// One execution of a business workflow.
///
/// Cloning is cheap-ish and clones share cancellation and outcome state.
///
/// ```
/// use botanu_core::RunContext;
///
/// let run = RunContext::builder("Customer Support")
///     .event_id("ticket-42")
///     .customer_id("acme")
///     .environment("production")
///     .build();
/// assert_eq!(run.attempt(), 1);
/// assert_eq!(run.root_run_id(), run.run_id());
///
/// // What goes on the wire, and back.
/// let baggage = run.to_baggage();
/// let back = RunContext::from_baggage(&baggage).unwrap();
/// assert_eq!(back.run_id(), run.run_id());
/// assert_eq!(back.customer_id(), "acme");
///
/// // A retry is a new run in the same chain.
/// let retry = RunContext::retry(&run);
/// assert_eq!(retry.attempt(), 2);
/// assert_eq!(retry.retry_of_run_id(), Some(run.run_id()));
/// assert_eq!(retry.root_run_id(), run.run_id());
/// ```
#[derive(Debug, Clone)]
pub struct RunContext {
    inner: Arc<RunInner>,
}

/// A run's identity (fixed at build) and its shared mutable state. Strings are `Arc<str>` so
/// that baggage, span attributes and enriched child spans share them instead of copying.
#[derive(Debug)]
struct RunInner {
    run_id: Arc<str>,
    workflow: Arc<str>,
    event_id: Arc<str>,
    customer_id: Arc<str>,
    environment: Arc<str>,
    tenant_id: Option<Arc<str>>,
    parent_run_id: Option<Arc<str>>,
    root_run_id: Arc<str>,
    attempt: i64,
    retry_of_run_id: Option<Arc<str>>,
    workflow_version: Option<Arc<str>>,
    start_time: SystemTime,
    started: Instant,
    deadline: Option<SystemTime>,
    state: RunState,
}

/// Builder for a [`RunContext`]; see [`RunContext::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RunContextBuilder {
    workflow: Arc<str>,
    run_id: Option<Arc<str>>,
    event_id: Option<Arc<str>>,
    customer_id: Option<Arc<str>>,
    environment: Option<Arc<str>>,
    tenant_id: Option<Arc<str>>,
    parent_run_id: Option<Arc<str>>,
    root_run_id: Option<Arc<str>>,
    attempt: i64,
    retry_of_run_id: Option<Arc<str>>,
    workflow_version: Option<Arc<str>>,
    deadline: Option<SystemTime>,
}

impl RunContextBuilder {
    /// Uses a given run id instead of a fresh UUIDv7 (replays, tests, continuing a known run).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(shared(run_id));
        self
    }
    /// The business transaction id (ticket, order, conversation).
    pub fn event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(shared(event_id));
        self
    }
    /// The customer the run's cost is attributed to.
    pub fn customer_id(mut self, customer_id: impl Into<String>) -> Self {
        self.customer_id = Some(shared(customer_id));
        self
    }
    /// The environment label; default: [`default_environment`].
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(shared(environment));
        self
    }
    /// The tenant, for multi-tenant products.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(shared(tenant_id));
        self
    }
    /// The run that started this one.
    pub fn parent_run_id(mut self, parent_run_id: impl Into<String>) -> Self {
        self.parent_run_id = Some(shared(parent_run_id));
        self
    }
    /// The first run of the retry chain; default: this run's own id.
    pub fn root_run_id(mut self, root_run_id: impl Into<String>) -> Self {
        self.root_run_id = Some(shared(root_run_id));
        self
    }
    /// The attempt number (1 for a first attempt).
    pub fn attempt(mut self, attempt: i64) -> Self {
        self.attempt = attempt;
        self
    }
    /// The run this one retries.
    pub fn retry_of_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.retry_of_run_id = Some(shared(run_id));
        self
    }
    /// A version label for the workflow's code (`botanu.workflow.version`).
    pub fn workflow_version(mut self, version: impl Into<String>) -> Self {
        self.workflow_version = Some(shared(version));
        self
    }
    /// A deadline this far from now. Deadlines are cooperative: nothing enforces them.
    pub fn deadline_in(mut self, timeout: Duration) -> Self {
        self.deadline = SystemTime::now().checked_add(timeout);
        self
    }
    /// An absolute deadline.
    pub fn deadline_at(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the ids that are given from strings the caller already shares (the lifecycle's
    /// inbound and parent-run ids, a retried run's) without copying them.
    pub(crate) fn shared_ids(
        mut self,
        event_id: Option<Arc<str>>,
        customer_id: Option<Arc<str>>,
        tenant_id: Option<Arc<str>>,
        parent_run_id: Option<Arc<str>>,
    ) -> Self {
        self.event_id = event_id.or(self.event_id);
        self.customer_id = customer_id.or(self.customer_id);
        self.tenant_id = tenant_id.or(self.tenant_id);
        self.parent_run_id = parent_run_id.or(self.parent_run_id);
        self
    }

    /// Builds the run, starting its clock now.
    pub fn build(self) -> RunContext {
        self.build_with_event_fallback(false)
    }

    /// Builds the run; with `event_id_defaults_to_run_id` a run without an event id uses its
    /// own run id as one (what the lifecycle does for requests nothing identifies).
    pub(crate) fn build_with_event_fallback(self, event_id_defaults_to_run_id: bool) -> RunContext {
        let start_time = SystemTime::now();
        let run_id = self.run_id.unwrap_or_else(|| run_id_at(start_time));
        let event_id = match self.event_id {
            Some(e) => e,
            None if event_id_defaults_to_run_id => run_id.clone(),
            None => empty(),
        };
        RunContext {
            inner: Arc::new(RunInner {
                workflow: self.workflow,
                event_id,
                customer_id: self.customer_id.unwrap_or_else(empty),
                environment: self.environment.unwrap_or_else(default_environment_shared),
                tenant_id: self.tenant_id,
                parent_run_id: self.parent_run_id,
                root_run_id: self.root_run_id.unwrap_or_else(|| run_id.clone()),
                attempt: self.attempt,
                retry_of_run_id: self.retry_of_run_id,
                workflow_version: self.workflow_version,
                start_time,
                started: Instant::now(),
                deadline: self.deadline,
                state: RunState::default(),
                run_id,
            }),
        }
    }
}

/// A fresh run id: a UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, variant `10`,
/// 74 random bits), lowercase hyphenated.
///
/// The random bits come from `rand`'s thread-local generator (ChaCha12, seeded and reseeded from
/// the OS), the one `uuid`'s `fast-rng` feature uses, and not from a system call per id: the
/// reference SDK reads the OS generator for every id, which costs a run a `getrandom` system
/// call (measured: about 1 µs of kernel time per request under load). The layout is the
/// reference's (§2.2): no counter within a millisecond, ids a millisecond apart sort by time.
pub fn new_run_id() -> String {
    run_id_at(SystemTime::now()).to_string()
}

/// A fresh run id for a run starting at `now`.
fn run_id_at(now: SystemTime) -> Arc<str> {
    use rand::Rng;
    let millis = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let random: [u8; 10] = rand::rng().random();
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    Arc::from(&*id.hyphenated().encode_lower(&mut buf))
}

/// A shared string; empty strings share one allocation.
fn shared(s: impl Into<String>) -> Arc<str> {
    let s: String = s.into();
    if s.is_empty() {
        empty()
    } else {
        Arc::from(s)
    }
}

fn empty() -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

impl RunContext {
    /// Starts building a run of `workflow` with a fresh UUIDv7 run id.
    pub fn builder(workflow: impl Into<String>) -> RunContextBuilder {
        Self::shared_builder(shared(workflow))
    }

    /// [`builder`](Self::builder) for a workflow name the caller already shares.
    pub(crate) fn shared_builder(workflow: Arc<str>) -> RunContextBuilder {
        RunContextBuilder {
            workflow,
            run_id: None,
            event_id: None,
            customer_id: None,
            environment: None,
            tenant_id: None,
            parent_run_id: None,
            root_run_id: None,
            attempt: 1,
            retry_of_run_id: None,
            workflow_version: None,
            deadline: None,
        }
    }

    /// A first-attempt run of `workflow` for one event and customer.
    pub fn new(
        workflow: impl Into<String>,
        event_id: impl Into<String>,
        customer_id: impl Into<String>,
    ) -> Self {
        Self::builder(workflow)
            .event_id(event_id)
            .customer_id(customer_id)
            .build()
    }

    /// The next attempt of `previous`: a new run id, `attempt + 1`, the same root, and
    /// `retry_of_run_id` = the previous run. Identity (workflow, event, customer, version,
    /// environment, tenant, parent) is kept; deadline, cancellation and outcome are not.
    pub fn retry(previous: &RunContext) -> RunContext {
        let p = &*previous.inner;
        let mut b = RunContext::shared_builder(p.workflow.clone())
            .attempt(p.attempt.saturating_add(1))
            .shared_ids(
                Some(p.event_id.clone()),
                Some(p.customer_id.clone()),
                p.tenant_id.clone(),
                p.parent_run_id.clone(),
            );
        b.environment = Some(p.environment.clone());
        b.root_run_id = Some(p.root_run_id.clone());
        b.retry_of_run_id = Some(p.run_id.clone());
        b.workflow_version = p.workflow_version.clone();
        b.build()
    }

    /// `run_id` and `workflow` as the run events carry them (shared strings).
    pub(crate) fn identity_attributes(&self) -> [KeyValue; 2] {
        [
            KeyValue::new("run_id", sv(&self.inner.run_id)),
            KeyValue::new("workflow", sv(&self.inner.workflow)),
        ]
    }

    /// The run id, shared (a nested run names its parent without copying it).
    pub(crate) fn shared_run_id(&self) -> Arc<str> {
        self.inner.run_id.clone()
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }
    /// The workflow name.
    pub fn workflow(&self) -> &str {
        &self.inner.workflow
    }
    /// The business event id.
    pub fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    /// The customer id (may be empty when unknown).
    pub fn customer_id(&self) -> &str {
        &self.inner.customer_id
    }
    /// The environment label.
    pub fn environment(&self) -> &str {
        &self.inner.environment
    }
    /// The tenant id.
    pub fn tenant_id(&self) -> Option<&str> {
        self.inner.tenant_id.as_deref()
    }
    /// The run that started this one.
    pub fn parent_run_id(&self) -> Option<&str> {
        self.inner.parent_run_id.as_deref()
    }
    /// The first run of the retry chain (this run's own id for a first attempt).
    pub fn root_run_id(&self) -> &str {
        self.root_shared()
    }

    fn root_shared(&self) -> &Arc<str> {
        if self.inner.root_run_id.is_empty() {
            &self.inner.run_id
        } else {
            &self.inner.root_run_id
        }
    }
    /// The attempt number, 1 for a first attempt.
    pub fn attempt(&self) -> i64 {
        self.inner.attempt
    }
    /// The run this one retries.
    pub fn retry_of_run_id(&self) -> Option<&str> {
        self.inner.retry_of_run_id.as_deref()
    }
    /// The workflow version label.
    pub fn workflow_version(&self) -> Option<&str> {
        self.inner.workflow_version.as_deref()
    }
    /// When the run started (wall clock).
    pub fn start_time(&self) -> SystemTime {
        self.inner.start_time
    }
    /// The deadline, if any.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.inner.deadline
    }

    /// True when a deadline is set and now is strictly after it.
    pub fn is_past_deadline(&self) -> bool {
        self.inner.deadline.is_some_and(|d| SystemTime::now() > d)
    }

    /// Time left until the deadline (zero once past it); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner.deadline.map(|d| {
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    /// Requests cooperative cancellation of the run (seen by every clone).
    pub fn cancel(&self) {
        let now_us = unix_micros(SystemTime::now()).max(1);
        let _ = self.inner.state.cancelled_at_us.compare_exchange(
            0,
            now_us,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.inner.state.cancelled.store(true, Ordering::Release);
    }

    /// True when cancellation was requested or the deadline has passed.
    pub fn is_cancelled(&self) -> bool {
        self.inner.state.cancelled.load(Ordering::Acquire) || self.is_past_deadline()
    }

    /// When [`cancel`](Self::cancel) was first called.
    pub fn cancelled_at(&self) -> Option<SystemTime> {
        match self.inner.state.cancelled_at_us.load(Ordering::Relaxed) {
            0 => None,
            us => UNIX_EPOCH.checked_add(Duration::from_micros(us)),
        }
    }

    /// Records how the run ended, replacing any earlier outcome, and fixes its duration: for
    /// runs driven by hand (their span attributes then carry it, see
    /// [`to_span_attributes`](Self::to_span_attributes)). In a run botanu started (a layer, a
    /// scope, `#[workflow]`) it is the app's verdict, as [`emit_outcome`](crate::emit_outcome)
    /// records it: the run ends with its status unless the work itself failed, and its reason,
    /// value, confidence and metadata are written on the run span.
    ///
    /// ```
    /// use botanu_core::{Outcome, RunContext, RunStatus};
    ///
    /// let run = RunContext::new("Customer Support", "ticket-42", "acme");
    /// run.complete(Outcome::partial().value("tickets_resolved", 0.5).reason("escalated"));
    /// let outcome = run.outcome().unwrap();
    /// assert_eq!(outcome.status, RunStatus::Partial);
    /// assert_eq!(outcome.reason_code.as_deref(), Some("escalated"));
    /// ```
    pub fn complete(&self, outcome: crate::Outcome) {
        self.record_outcome(outcome.into());
    }

    /// Stores the run's outcome and fixes its duration.
    pub(crate) fn record_outcome(&self, outcome: RunOutcome) {
        self.record_outcome_after(outcome, self.inner.started.elapsed());
    }

    /// [`record_outcome`](Self::record_outcome) for a run that took `elapsed`.
    pub(crate) fn record_outcome_after(&self, outcome: RunOutcome, elapsed: Duration) {
        *lock(&self.inner.state.outcome) = Some((outcome, elapsed));
    }

    /// Lets `emit_outcome` mark the current span too (only when botanu owns the tracing, so an
    /// app pipeline's spans are never touched): `run_span` is the run's own span, which gets
    /// the outcome when the run ends and is not marked twice.
    pub(crate) fn set_markable_span(&self, run_span: opentelemetry::trace::SpanId) {
        self.inner
            .state
            .markable_span
            .store(u64::from_be_bytes(run_span.to_bytes()), Ordering::Relaxed);
    }

    /// The run span's id, when the current span may be marked (see `set_markable_span`).
    pub(crate) fn markable_span(&self) -> Option<opentelemetry::trace::SpanId> {
        match self.inner.state.markable_span.load(Ordering::Relaxed) {
            0 => None,
            id => Some(opentelemetry::trace::SpanId::from_bytes(id.to_be_bytes())),
        }
    }

    /// Merges an emitted outcome into the app's verdict: its status, and the value, confidence
    /// and error type it sets (a later emit overrides an earlier one).
    pub(crate) fn merge_verdict(&self, o: crate::Outcome) {
        let elapsed = self.inner.started.elapsed();
        let mut slot = lock(&self.inner.state.outcome);
        let (verdict, _) = slot.get_or_insert_with(|| (RunOutcome::new(o.status), elapsed));
        verdict.status = o.status;
        verdict.value_type = o.value_type.or(verdict.value_type.take());
        verdict.value_amount = o.value_amount.or(verdict.value_amount);
        verdict.confidence = o.confidence.or(verdict.confidence);
        verdict.error_class = match o.status {
            RunStatus::Success => None,
            _ => o.error_type.or(verdict.error_class.take()),
        };
    }

    /// The recorded outcome.
    pub fn outcome(&self) -> Option<RunOutcome> {
        lock(&self.inner.state.outcome)
            .as_ref()
            .map(|(o, _)| o.clone())
    }

    /// Time from start to [`complete`](Self::complete); `None` until completed.
    pub fn duration(&self) -> Option<Duration> {
        lock(&self.inner.state.outcome).as_ref().map(|(_, d)| *d)
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Records an attribute or event for the run span; dropped past a fixed bound.
    pub(crate) fn record(&self, r: Recorded) {
        let mut recorded = lock(&self.inner.state.recorded);
        if recorded.len() < MAX_RECORDED {
            recorded.push(r);
        }
    }

    pub(crate) fn take_recorded(&self) -> Vec<Recorded> {
        std::mem::take(&mut *lock(&self.inner.state.recorded))
    }

    /// The baggage entries of this run, with the reference keys and string encodings.
    ///
    /// Always: `botanu.run_id`, `botanu.workflow`, `botanu.event_id`, `botanu.customer_id`,
    /// `botanu.environment`. When set: `botanu.tenant_id`, `botanu.parent_run_id`,
    /// `botanu.root_run_id` (only when it differs from the run id), `botanu.attempt` (only
    /// when > 1), `botanu.retry_of_run_id`, `botanu.deadline` (Unix milliseconds),
    /// `botanu.cancelled` (`true`).
    pub fn to_baggage(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(8);
        self.for_each_baggage_entry(|k, v| out.push((k, v.as_str().to_owned())));
        out
    }

    /// The non-empty values of the run's [`keys::ENRICHED`] entries, in that order (what the
    /// enricher stamps on spans inside the run).
    pub(crate) fn enriched_values(&self) -> [Option<StringValue>; 7] {
        let r = &*self.inner;
        let set = |s: &Arc<str>| (!s.is_empty()).then(|| sv(s));
        [
            set(&r.run_id),
            set(&r.workflow),
            set(&r.event_id),
            set(&r.customer_id),
            set(&r.environment),
            non_empty(&r.tenant_id).map(sv),
            non_empty(&r.parent_run_id).map(sv),
        ]
    }

    /// Visits the baggage entries of [`to_baggage`](Self::to_baggage). Values share the run's
    /// strings (a clone is a reference count); only `attempt` and `deadline` are formatted.
    pub(crate) fn for_each_baggage_entry(&self, mut f: impl FnMut(&'static str, StringValue)) {
        let r = &*self.inner;
        f(keys::RUN_ID, sv(&r.run_id));
        f(keys::WORKFLOW, sv(&r.workflow));
        f(keys::EVENT_ID, sv(&r.event_id));
        f(keys::CUSTOMER_ID, sv(&r.customer_id));
        f(keys::ENVIRONMENT, sv(&r.environment));
        for (key, value) in [
            (keys::TENANT_ID, &r.tenant_id),
            (keys::PARENT_RUN_ID, &r.parent_run_id),
        ] {
            if let Some(v) = non_empty(value) {
                f(key, sv(v));
            }
        }
        if !r.root_run_id.is_empty() && r.root_run_id != r.run_id {
            f(keys::ROOT_RUN_ID, sv(&r.root_run_id));
        }
        if r.attempt > 1 {
            f(
                keys::ATTEMPT,
                itoa_i64(r.attempt).as_str().to_owned().into(),
            );
        }
        if let Some(v) = non_empty(&r.retry_of_run_id) {
            f(keys::RETRY_OF_RUN_ID, sv(v));
        }
        if let Some(d) = r.deadline {
            f(
                keys::DEADLINE,
                itoa_i64(unix_millis_signed(d)).as_str().to_owned().into(),
            );
        }
        if r.state.cancelled.load(Ordering::Acquire) {
            f(keys::CANCELLED, "true".into());
        }
    }

    /// Rebuilds a run from baggage (the receiving side of [`to_baggage`](Self::to_baggage)).
    ///
    /// `None` unless both `botanu.run_id` and `botanu.workflow` are present and non-empty.
    /// Missing event/customer ids become empty, a missing environment becomes `unknown`,
    /// an unparsable attempt becomes 1, an unparsable deadline is dropped; the start time
    /// is now (the receiving side's clock starts on arrival).
    pub fn from_baggage(source: &(impl BaggageLookup + ?Sized)) -> Option<RunContext> {
        let run_id = source.lookup(keys::RUN_ID).filter(|v| !v.is_empty())?;
        let workflow = source.lookup(keys::WORKFLOW).filter(|v| !v.is_empty())?;
        let get = |k: &str| source.lookup(k).map(shared);
        let mut b = RunContext::shared_builder(Arc::from(workflow));
        b.run_id = Some(Arc::from(run_id));
        b.event_id = get(keys::EVENT_ID);
        b.customer_id = get(keys::CUSTOMER_ID);
        b.environment = Some(get(keys::ENVIRONMENT).unwrap_or_else(|| Arc::from("unknown")));
        b.tenant_id = get(keys::TENANT_ID);
        b.parent_run_id = get(keys::PARENT_RUN_ID);
        b.root_run_id = source
            .lookup(keys::ROOT_RUN_ID)
            .filter(|v| !v.is_empty())
            .map(Arc::from);
        b.attempt = source
            .lookup(keys::ATTEMPT)
            .map_or(1, |v| v.trim().parse().unwrap_or(1));
        b.retry_of_run_id = get(keys::RETRY_OF_RUN_ID);
        b.deadline = source
            .lookup(keys::DEADLINE)
            .and_then(parse_deadline_millis);
        let run = b.build();
        if source
            .lookup(keys::CANCELLED)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            run.inner.state.cancelled.store(true, Ordering::Release);
        }
        Some(run)
    }

    /// The run attributes for the run span, with the reference names and types.
    ///
    /// `botanu.attempt` is an integer, `botanu.run.deadline_ts` and
    /// `botanu.run.cancelled_at` are float Unix seconds, `botanu.run.duration_ms` a float,
    /// `botanu.run.start_time` ISO-8601 with a `+00:00` offset. No `botanu.outcome.status`
    /// attribute is ever written (the reference SDK removed it).
    pub fn to_span_attributes(&self) -> Vec<KeyValue> {
        let mut a = Vec::with_capacity(12);
        self.append_span_attributes(&mut a, false);
        a
    }

    /// [`to_span_attributes`](Self::to_span_attributes), appended to `a` (a run span's own
    /// attributes are written into one vector); an unknown (empty) customer id is left out
    /// with `unset_unknown_customer`.
    pub(crate) fn append_span_attributes(
        &self,
        a: &mut Vec<KeyValue>,
        unset_unknown_customer: bool,
    ) {
        let r = &*self.inner;
        a.push(KeyValue::new(keys::RUN_ID, sv(&r.run_id)));
        a.push(KeyValue::new(keys::WORKFLOW, sv(&r.workflow)));
        a.push(KeyValue::new(keys::EVENT_ID, sv(&r.event_id)));
        if !(unset_unknown_customer && r.customer_id.is_empty()) {
            a.push(KeyValue::new(keys::CUSTOMER_ID, sv(&r.customer_id)));
        }
        a.push(KeyValue::new(keys::ENVIRONMENT, sv(&r.environment)));
        a.push(KeyValue::new(
            attr::START_TIME,
            python_isoformat_utc(r.start_time),
        ));
        a.push(KeyValue::new(keys::ROOT_RUN_ID, sv(self.root_shared())));
        a.push(KeyValue::new(keys::ATTEMPT, r.attempt));
        let optional = [
            (attr::WORKFLOW_VERSION, &r.workflow_version),
            (keys::TENANT_ID, &r.tenant_id),
            (keys::PARENT_RUN_ID, &r.parent_run_id),
            (keys::RETRY_OF_RUN_ID, &r.retry_of_run_id),
        ];
        for (key, value) in optional {
            if let Some(v) = non_empty(value) {
                a.push(KeyValue::new(key, sv(v)));
            }
        }
        if let Some(d) = self.inner.deadline {
            a.push(KeyValue::new(attr::DEADLINE_TS, unix_seconds_f64(d)));
        }
        if self.inner.state.cancelled.load(Ordering::Acquire) {
            a.push(KeyValue::new(attr::CANCELLED, true));
            if let Some(at) = self.cancelled_at() {
                a.push(KeyValue::new(attr::CANCELLED_AT, unix_seconds_f64(at)));
            }
        }
        if let Some((o, duration)) = lock(&self.inner.state.outcome).as_ref() {
            let opt = |a: &mut Vec<KeyValue>, k: &'static str, v: &Option<String>| {
                if let Some(v) = non_empty(v) {
                    a.push(KeyValue::new(k, v.to_owned()));
                }
            };
            opt(a, attr::OUTCOME_REASON_CODE, &o.reason_code);
            for (k, v) in &o.metadata {
                a.push(KeyValue::new(
                    format!("botanu.outcome.metadata.{k}"),
                    v.clone(),
                ));
            }
            opt(a, attr::OUTCOME_ERROR_CLASS, &o.error_class);
            opt(a, attr::OUTCOME_VALUE_TYPE, &o.value_type);
            if let Some(v) = o.value_amount {
                a.push(KeyValue::new(attr::OUTCOME_VALUE_AMOUNT, v));
            }
            if let Some(v) = o.confidence {
                a.push(KeyValue::new(attr::OUTCOME_CONFIDENCE, v));
            }
            a.push(KeyValue::new(attr::DURATION_MS, duration_ms(*duration)));
        }
    }
}

// ---- environment ----------------------------------------------------------------------------

static DEFAULT_ENVIRONMENT: RwLock<Option<Arc<str>>> = RwLock::new(None);

/// The environment label given to runs that set none.
///
/// The value set by [`set_default_environment`] (botanu's configuration sets it at
/// installation) or, before that, the first non-empty of `BOTANU_ENVIRONMENT`,
/// `OTEL_DEPLOYMENT_ENVIRONMENT`, `DEPLOYMENT_ENVIRONMENT`, else `production`.
/// (The reference SDK ignores the configured environment for runs; botanu-rs does not.)
pub fn default_environment() -> String {
    default_environment_shared().to_string()
}

fn default_environment_shared() -> Arc<str> {
    if let Some(env) = read_lock(&DEFAULT_ENVIRONMENT).as_ref() {
        return env.clone();
    }
    let resolved: Arc<str> = crate::config::resolve_environment(crate::config::env_var).into();
    let mut slot = DEFAULT_ENVIRONMENT
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slot.get_or_insert(resolved).clone()
}

/// Sets the environment label for runs that set none.
pub fn set_default_environment(environment: impl Into<String>) {
    let env: String = environment.into();
    *DEFAULT_ENVIRONMENT
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(env.into());
}

// ---- helpers --------------------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value when it is set and not empty.
pub(crate) fn non_empty<S: AsRef<str>>(v: &Option<S>) -> Option<&S> {
    v.as_ref().filter(|s| !s.as_ref().is_empty())
}

/// A string attribute value sharing `s`.
fn sv(s: &Arc<str>) -> StringValue {
    StringValue::from(s.clone())
}

/// Formats an integer on the stack.
struct SmallInt {
    buf: [u8; 24],
    len: usize,
}

impl SmallInt {
    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0")
    }
}

impl std::fmt::Write for SmallInt {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn itoa_i64(v: i64) -> SmallInt {
    let mut s = SmallInt {
        buf: [0; 24],
        len: 0,
    };
    let _ = write!(s, "{v}");
    s
}

fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().min(u64::MAX as u128) as u64)
}

/// Unix milliseconds, truncated toward zero, negative before the epoch.
fn unix_millis_signed(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_millis().min(i64::MAX as u128) as i64),
    }
}

fn unix_seconds_f64(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

pub(crate) fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Parses the `botanu.deadline` baggage value (Unix milliseconds, float syntax accepted as
/// the reference does). Non-finite or unparsable values give no deadline.
fn parse_deadline_millis(v: &str) -> Option<SystemTime> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let ms: f64 = v.parse().ok()?;
    if !ms.is_finite() {
        return None;
    }
    let secs = ms / 1000.0;
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
    } else {
        UNIX_EPOCH.checked_sub(Duration::try_from_secs_f64(-secs).ok()?)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, Python's `datetime.isoformat()` for UTC times: the
/// fraction is omitted when the microseconds are exactly zero.
pub(crate) fn python_isoformat_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Digits pushed by hand: `write!` cost more than the rest of starting a run's span.
    let mut s = String::with_capacity(32);
    push_digits(&mut s, y.clamp(0, 9999) as u64, 4);
    s.push('-');
    push_digits(&mut s, u64::from(m), 2);
    s.push('-');
    push_digits(&mut s, u64::from(day), 2);
    s.push('T');
    push_digits(&mut s, hh, 2);
    s.push(':');
    push_digits(&mut s, mm, 2);
    s.push(':');
    push_digits(&mut s, ss, 2);
    if micros != 0 {
        s.push('.');
        push_digits(&mut s, u64::from(micros), 6);
    }
    s.push_str("+00:00");
    s
}

/// Pushes the last `width` decimal digits of `n`, zero-padded.
fn push_digits(s: &mut String, n: u64, width: u32) {
    for i in (0..width).rev() {
        let digit = (n / 10u64.pow(i)) % 10;
        s.push(char::from(b'0' + digit as u8));
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isoformat_matches_python() {
        // datetime.fromtimestamp(0, timezone.utc).isoformat()
        assert_eq!(
            python_isoformat_utc(UNIX_EPOCH),
            "1970-01-01T00:00:00+00:00"
        );
        // datetime.fromtimestamp(1700000000.123456, timezone.utc).isoformat()
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(python_isoformat_utc(t), "2023-11-14T22:13:20.123456+00:00");
        // A leap day, and microseconds with leading zeros.
        let t = UNIX_EPOCH + Duration::from_micros(951_782_400_000_042);
        assert_eq!(python_isoformat_utc(t), "2000-02-29T00:00:00.000042+00:00");
    }

    #[test]
    fn civil_dates_round_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
    }

    #[test]
    fn small_int_formats_extremes() {
        assert_eq!(itoa_i64(i64::MIN).as_str(), "-9223372036854775808");
        assert_eq!(itoa_i64(2).as_str(), "2");
    }

    #[test]
    fn deadline_parsing_follows_reference() {
        let t = parse_deadline_millis(" 1500 ").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1500));
        // Python's float() accepts exponents: 1e3 ms = 1 s.
        assert_eq!(
            parse_deadline_millis("1e3").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1)
        );
        assert!(parse_deadline_millis("").is_none());
        assert!(parse_deadline_millis("soon").is_none());
        assert!(parse_deadline_millis("inf").is_none());
        assert!(parse_deadline_millis("nan").is_none());
        assert!(parse_deadline_millis("1e400").is_none());
        assert!(parse_deadline_millis("-1000").unwrap() < UNIX_EPOCH);
    }
}
