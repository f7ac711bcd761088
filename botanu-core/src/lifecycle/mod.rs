//! The run lifecycle, written once and used by every adapter (tower/axum, actix), scopes and
//! the `#[workflow]` macro: start a run from the inbound context and the ids the app extracted,
//! make it current, and finish it with a status. Public through [`crate::adapter`].

mod guard;
pub(crate) mod http;
mod inbound;
pub(crate) mod scope;

pub(crate) use guard::{error_class_of, poll_in_run};
pub use inbound::extract_inbound;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::otel::own_span;
use crate::run::current::CurrentRun;
use crate::run::{duration_ms, RunContext, RunOutcome, RunStatus};
use crate::semconv::{attr, keys};
use inbound::extract_baggage;

/// Event added when a run starts.
pub(crate) const EVENT_STARTED: &str = "botanu.run.started";
/// Event added when a run ends.
pub(crate) const EVENT_COMPLETED: &str = "botanu.run.completed";

/// What a run starts from: the workflow and the ids the adapter extracted.
#[derive(Debug, Clone)]
#[must_use]
pub struct RunSpec {
    workflow: Arc<str>,
    event_id: Option<String>,
    customer_id: Option<String>,
    tenant_id: Option<String>,
    fallback_event_id: Option<String>,
    trust_inbound: bool,
    /// Which ids (event, customer, tenant) the app has an extractor for.
    extractors: [bool; 3],
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    workflow_version: Option<String>,
    retry_of: Option<RunContext>,
    /// The run span's name when the adapter made it already.
    span_name: Option<&'static str>,
}

impl RunSpec {
    /// A run of `workflow` (an adapter passes the `Arc<str>` it holds, so runs share the name).
    pub fn new(workflow: impl Into<Arc<str>>) -> Self {
        RunSpec {
            workflow: workflow.into(),
            event_id: None,
            customer_id: None,
            tenant_id: None,
            fallback_event_id: None,
            trust_inbound: true,
            extractors: [false; 3],
            kind: SpanKind::Server,
            attributes: Vec::new(),
            workflow_version: None,
            retry_of: None,
            span_name: None,
        }
    }

    /// Makes the run the next attempt of `previous` (reference retry model): `attempt + 1`, the
    /// same `root_run_id`, `retry_of_run_id` = the previous run; ids not given are taken from it.
    pub fn retry_of(mut self, previous: &RunContext) -> Self {
        self.retry_of = Some(previous.clone());
        self
    }
    /// The event id the app extracted (wins over inbound baggage). Ids longer than
    /// [`MAX_ID_BYTES`] are cut (logged once).
    pub fn event_id(mut self, id: Option<String>) -> Self {
        self.event_id = bounded(id);
        self
    }
    /// The customer id the app extracted (wins over inbound baggage); bounded like
    /// [`event_id`](Self::event_id).
    pub fn customer_id(mut self, id: Option<String>) -> Self {
        self.customer_id = bounded(id);
        self
    }
    /// The tenant id the app extracted (wins over inbound baggage); bounded like
    /// [`event_id`](Self::event_id).
    pub fn tenant_id(mut self, id: Option<String>) -> Self {
        self.tenant_id = bounded(id);
        self
    }
    /// An event id to use when neither the app nor inbound baggage gives one (e.g. the
    /// `x-request-id` header); the run id is used after that. Bounded like
    /// [`event_id`](Self::event_id).
    pub fn fallback_event_id(mut self, id: Option<String>) -> Self {
        self.fallback_event_id = bounded(id);
        self
    }
    /// Whether the caller is trusted to say whose work this is: inbound `botanu.*` baggage
    /// may then fill the event, customer and tenant ids the app has no extractor for (default
    /// true here, for runs started from code and queues; the HTTP adapters default to false).
    /// Untrusted, inbound `botanu.*` entries are removed and only the run linkage continues:
    /// the trace and the inbound `botanu.run_id` as `parent_run_id`.
    pub fn trust_inbound(mut self, trust: bool) -> Self {
        self.trust_inbound = trust;
        self
    }
    /// Which ids the app has an extractor for (event, customer, tenant): an id whose extractor
    /// found nothing is never taken from inbound baggage, trusted or not.
    pub fn extractors(mut self, event_id: bool, customer_id: bool, tenant_id: bool) -> Self {
        self.extractors = [event_id, customer_id, tenant_id];
        self
    }
    /// The span kind of the run span (default Server).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }
    /// Extra attributes for the run span (e.g. `http.request.method`).
    pub fn attributes(mut self, attributes: Vec<KeyValue>) -> Self {
        self.attributes = attributes;
        self
    }
    /// A version label for the workflow's code.
    pub fn workflow_version(mut self, version: Option<String>) -> Self {
        self.workflow_version = version;
        self
    }

    /// Starts the run as a child of `parent` (the inbound context, or the current one):
    /// builds the [`RunContext`], starts the run span `botanu.run/{workflow}` with botanu's
    /// tracer, adds `botanu.run.started`, and layers the run's baggage.
    ///
    /// When the app has a tracing pipeline of its own (migrated or parallel install), the run
    /// span is a child of `parent`'s span in botanu's export only: the returned context keeps
    /// the span that is current now as the app's current span, so the app's spans and the
    /// `traceparent` it sends keep the parents they had without botanu.
    pub fn start(self, parent: &Context) -> ActiveRun {
        self.start_inner(parent, false)
    }

    /// Starts the run of an HTTP request with these headers (what the adapters call). The
    /// trace continues from the span current now when another layer outside already started
    /// one for the request (`OtelAxumLayer`, tower-http's `TraceLayer` with
    /// tracing-opentelemetry); otherwise from the inbound `traceparent`. Inbound baggage comes
    /// from the headers either way. A span of another layer that encloses the run is given the
    /// run's attributes (in botanu's export; they are removed from the app's own view).
    pub fn start_request(self, headers: &dyn Extractor) -> ActiveRun {
        let current = Context::current();
        let enclosed = {
            let span = current.span();
            let sc = span.span_context();
            sc.is_valid() && !sc.is_remote()
        };
        let inbound = if enclosed {
            extract_baggage(&current, headers)
        } else {
            extract_inbound(headers)
        };
        let adopt = enclosed
            && current.span().is_recording()
            && current.get::<CurrentRun>().is_none()
            && crate::otel::install::mode() != Some(crate::Mode::Parallel);
        self.start_inner(&inbound, adopt)
    }

    fn start_inner(self, parent: &Context, adopt_enclosing: bool) -> ActiveRun {
        let inbound_baggage = parent.baggage();
        // A run already current in this process is always a trusted parent.
        let local_parent = RunContext::from_context_local(parent);
        let trusted = self.trust_inbound || local_parent.is_some();
        // An enclosing run of this process gives its own ids (its `botanu.*` entries need not
        // be in the context's baggage); otherwise the inbound baggage does.
        let from_parent = |key: &str| -> Option<&str> {
            let p = local_parent.as_ref()?;
            match key {
                keys::EVENT_ID => Some(p.event_id()),
                keys::CUSTOMER_ID => Some(p.customer_id()),
                keys::TENANT_ID => p.tenant_id(),
                keys::RUN_ID => Some(p.run_id()),
                _ => None,
            }
            .filter(|v| !v.is_empty())
        };
        let linkage = |key: &str| -> Option<Arc<str>> {
            from_parent(key)
                .or_else(|| inbound_baggage.get(key).map(|v| v.as_str()))
                .map(cut)
                .filter(|v| !v.is_empty())
                .map(Arc::from)
        };
        // Attribution ids: only from a trusted caller, and only where the app has no
        // extractor of its own.
        let [event_x, customer_x, tenant_x] = self.extractors;
        let inbound = |key: &str, extractor: bool| -> Option<Arc<str>> {
            (trusted && !extractor).then(|| linkage(key)).flatten()
        };
        let given = |id: Option<String>| id.map(Arc::<str>::from);
        let previous = self.retry_of.as_ref();
        let from_previous = |f: fn(&RunContext) -> Option<&str>| {
            previous
                .and_then(f)
                .filter(|v| !v.is_empty())
                .map(Arc::from)
        };

        let event_id = given(self.event_id)
            .or_else(|| from_previous(|p| Some(p.event_id())))
            .or_else(|| inbound(keys::EVENT_ID, event_x))
            .or_else(|| given(self.fallback_event_id));
        let customer_id = given(self.customer_id)
            .or_else(|| from_previous(|p| Some(p.customer_id())))
            .or_else(|| inbound(keys::CUSTOMER_ID, customer_x));
        let tenant_id = given(self.tenant_id)
            .or_else(|| from_previous(RunContext::tenant_id))
            .or_else(|| inbound(keys::TENANT_ID, tenant_x));
        let parent_run_id = local_parent
            .as_ref()
            .map(RunContext::shared_run_id)
            .or_else(|| from_previous(RunContext::parent_run_id))
            .or_else(|| linkage(keys::RUN_ID));
        let mut b = RunContext::shared_builder(self.workflow).shared_ids(
            event_id,
            customer_id,
            tenant_id,
            parent_run_id,
        );
        if let Some(p) = previous {
            b = b
                .root_run_id(p.root_run_id())
                .attempt(p.attempt().saturating_add(1))
                .retry_of_run_id(p.run_id());
        }
        if let Some(v) = self.workflow_version {
            b = b.workflow_version(v);
        }
        // A request nothing identifies is its own event.
        let run = b.build_with_event_fallback(true);
        crate::otel::install::announce_first_run();

        // Inbound botanu entries that are not trusted must not reach spans or downstream.
        let untrusted_removed;
        let inbound_baggage = if trusted || !has_botanu_keys(inbound_baggage) {
            inbound_baggage
        } else {
            untrusted_removed = without_botanu_keys(inbound_baggage);
            &untrusted_removed
        };

        let tracer = crate::otel::install::own_tracer(crate::otel::install::SCOPE_NAME);
        // One vector for the span's attributes: the adapter's (sized for the run's too), then
        // the run's.
        let mut attributes = self.attributes;
        attributes.reserve(12);
        // Unknown ids are left unset rather than written empty (and rather than invented).
        run.append_span_attributes(&mut attributes, true);
        // The run span already carries every run attribute: the enricher skips it.
        let span = own_span::build(
            tracer,
            tracer
                .span_builder(match self.span_name {
                    Some(name) => Cow::Borrowed(name),
                    None => Cow::Owned(run_span_name(run.workflow())),
                })
                .with_kind(self.kind)
                .with_start_time(run.start_time())
                .with_attributes(attributes)
                // `botanu.run.started` is given at start (no lock on the span to add it), in a
                // vector with room for `botanu.run.completed`.
                .with_events({
                    let mut events = Vec::with_capacity(2);
                    events.push(opentelemetry::trace::Event::new(
                        EVENT_STARTED,
                        run.start_time(),
                        run.identity_attributes().to_vec(),
                        0,
                    ));
                    events
                }),
            parent,
            own_span::Starting::Run,
        );
        // Isolated, the work keeps the app's current span (see `own_span`).
        let base = if crate::otel::install::isolated() {
            Cow::Owned(Context::current())
        } else {
            Cow::Borrowed(parent)
        };
        let run_cx = run.context_over(&base, inbound_baggage);
        if adopt_enclosing {
            if let Some(current) = run_cx.get::<CurrentRun>() {
                let enclosing = base.span();
                for kv in current.enriched() {
                    enclosing.set_attribute(kv);
                }
            }
        }
        if !crate::otel::install::isolated() && crate::otel::install::is_active() {
            use opentelemetry::trace::Span as _;
            run.set_markable_span(span.span_context().span_id());
        }
        let entered = own_span::enter(span, &run_cx);
        ActiveRun {
            run,
            span_cx: entered.span_cx,
            cx: entered.work_cx,
            finished: false,
        }
    }
}

/// The longest id (event, customer, tenant, parent run) a run keeps, in bytes: longer ones
/// — from an extractor, `x-request-id` or inbound baggage — are cut at a character boundary
/// (never to empty), so one hostile header cannot make a 64 KB span attribute or crowd the
/// run's other ids out of the outbound `baggage` header (7 ids × 256 bytes stay well inside
/// its 8,192 bytes).
pub const MAX_ID_BYTES: usize = 256;

/// A non-empty id, cut to [`MAX_ID_BYTES`].
fn bounded(id: Option<String>) -> Option<String> {
    let mut id = id.filter(|s| !s.is_empty())?;
    if id.len() > MAX_ID_BYTES {
        let keep = cut(&id).len();
        id.truncate(keep);
    }
    Some(id)
}

/// `s` cut to at most [`MAX_ID_BYTES`] at a character boundary; logged the first time.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_ID_BYTES {
        return s;
    }
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(target: "botanu", max_bytes = MAX_ID_BYTES, length = s.len(), "a run id value (event, customer, tenant or parent run) was longer than botanu keeps and was cut; logged once");
    }
    crate::pii::truncate_bytes(s, MAX_ID_BYTES)
}

/// `botanu.run/{workflow}`, without the formatting machinery.
fn run_span_name(workflow: &str) -> String {
    const PREFIX: &str = "botanu.run/";
    let mut name = String::with_capacity(PREFIX.len() + workflow.len());
    name.push_str(PREFIX);
    name.push_str(workflow);
    name
}

/// [`run_span_name`] made once per workflow name and kept for the process, for the HTTP
/// adapters' layers (built at startup: no run pays for its span name). `None` past
/// [`MAX_INTERNED_NAMES`] names (a program that builds layers from data): those runs make
/// their own, and nothing more is kept.
pub(crate) fn interned_run_span_name(workflow: &str) -> Option<&'static str> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().ok()?;
    if let Some(name) = names.get(workflow) {
        return Some(name);
    }
    if names.len() >= MAX_INTERNED_NAMES {
        return None;
    }
    let name: &'static str = Box::leak(run_span_name(workflow).into_boxed_str());
    names.insert(workflow.into(), name);
    Some(name)
}

/// How many run span names are kept for the process.
const MAX_INTERNED_NAMES: usize = 1024;

fn has_botanu_keys(b: &Baggage) -> bool {
    b.iter().any(|(k, _)| k.as_str().starts_with(keys::PREFIX))
}

fn without_botanu_keys(b: &Baggage) -> Baggage {
    let mut out = Baggage::new();
    for (k, (v, m)) in b {
        if !k.as_str().starts_with(keys::PREFIX) {
            out.insert_with_metadata(k.clone(), v.clone(), m.clone());
        }
    }
    out
}

/// How a run ended.
#[derive(Debug, Clone)]
#[must_use]
pub struct RunEnd {
    status: RunStatus,
    error_class: Option<Cow<'static, str>>,
    message: Option<String>,
    attributes: Vec<KeyValue>,
    /// `http.response.status_code`, kept apart from `attributes` so that the common end
    /// allocates nothing.
    response_status: Option<u16>,
    exception: bool,
}

impl RunEnd {
    /// An end with this status.
    pub fn new(status: RunStatus) -> Self {
        RunEnd {
            status,
            error_class: None,
            message: None,
            attributes: Vec::new(),
            response_status: None,
            exception: false,
        }
    }
    /// The run ended with an error or a panic (not with a response that says so): the run span
    /// also gets an `exception` event (`exception.type` = the error class, `exception.message`),
    /// as the reference SDK records a raised exception.
    pub fn exception(mut self) -> Self {
        self.exception = true;
        self
    }
    /// A failure of class `error_class` (written as `error.type` and in the completed event).
    pub fn failure(error_class: impl Into<Cow<'static, str>>) -> Self {
        RunEnd::new(RunStatus::Failure).error_class(error_class)
    }
    /// Sets the error class.
    pub fn error_class(mut self, class: impl Into<Cow<'static, str>>) -> Self {
        self.error_class = Some(class.into());
        self
    }
    /// A human-readable message for the span status.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    /// Extra attributes written on the run span at the end (e.g. a route known late).
    pub fn attribute(mut self, kv: KeyValue) -> Self {
        self.attributes.push(kv);
        self
    }
    /// The response's status (`http.response.status_code`).
    pub fn response_status(mut self, status: u16) -> Self {
        self.response_status = Some(status);
        self
    }
    /// The status.
    pub fn status(&self) -> RunStatus {
        self.status
    }
    /// A failure's class and message (empty when none was given).
    pub(crate) fn failure_parts(&self) -> Option<(&str, &str)> {
        match (self.status, &self.error_class) {
            (RunStatus::Failure, Some(class)) => {
                Some((class, self.message.as_deref().unwrap_or_default()))
            }
            _ => None,
        }
    }
}

/// A started run: its context must be current while the work runs
/// ([`FutureExt::with_context`](opentelemetry::context::FutureExt::with_context) for futures).
/// Dropping it unfinished ends the run as `canceled`.
#[derive(Debug)]
pub struct ActiveRun {
    run: RunContext,
    /// Holds the run span (botanu's view).
    span_cx: Context,
    /// The context the work runs under.
    cx: Context,
    finished: bool,
}

impl ActiveRun {
    /// The run.
    pub fn run(&self) -> &RunContext {
        &self.run
    }

    /// The context to run the work under: the run, its baggage, and (unless the app has its own
    /// pipeline) the run span as the current span.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Ends the run: recorded outcomes and helper attributes, `botanu.run.completed`
    /// {run_id, workflow, status, duration_ms, error_class?, value_type?, value_amount?},
    /// `botanu.run.duration_ms`, `error.type` on failure, and the span status.
    pub fn finish(mut self, end: RunEnd) {
        self.finish_inner(end);
    }

    fn finish_inner(&mut self, end: RunEnd) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let run = &self.run;
        // The app's verdict (emit_outcome, complete) decides a run whose work succeeded; a
        // failure, timeout or cancellation of the work itself wins over it.
        let verdict = run.outcome();
        let exception = end.exception;
        let (status, error_class, message) = match &verdict {
            Some(v) if end.status == RunStatus::Success && v.status != RunStatus::Success => (
                v.status,
                v.error_class.clone().map(Cow::Owned),
                v.reason_code.clone(),
            ),
            _ => (end.status, end.error_class, end.message),
        };
        let mut outcome = verdict.unwrap_or_else(|| RunOutcome::new(status));
        outcome.status = status;
        outcome.error_class = error_class.as_ref().map(|c| c.to_string());
        let elapsed = run.elapsed();
        let duration = duration_ms(elapsed);

        let span = self.span_cx.span();
        for recorded in run.take_recorded() {
            match recorded {
                crate::run::Recorded::Attribute(kv) => span.set_attribute(kv),
                crate::run::Recorded::Event(name, at, attrs) => {
                    span.add_event_with_timestamp(name, at, attrs)
                }
            }
        }
        // One lock of the span for the end's attributes and the duration.
        span.set_attributes(
            end.attributes
                .into_iter()
                .chain(
                    end.response_status.map(|status| {
                        KeyValue::new("http.response.status_code", i64::from(status))
                    }),
                )
                .chain([KeyValue::new(attr::DURATION_MS, duration)]),
        );
        // What the app said about the result, written once, here.
        if let Some(v) = &outcome.value_type {
            span.set_attribute(KeyValue::new(attr::OUTCOME_VALUE_TYPE, v.clone()));
        }
        if let Some(v) = outcome.value_amount {
            span.set_attribute(KeyValue::new(attr::OUTCOME_VALUE_AMOUNT, v));
        }
        if let Some(v) = outcome.confidence {
            span.set_attribute(KeyValue::new(attr::OUTCOME_CONFIDENCE, v));
        }
        if let Some(v) = &outcome.reason_code {
            span.set_attribute(KeyValue::new(attr::OUTCOME_REASON_CODE, v.clone()));
        }
        for (k, v) in &outcome.metadata {
            span.set_attribute(KeyValue::new(
                format!("botanu.outcome.metadata.{k}"),
                v.clone(),
            ));
        }
        let mut event = Vec::with_capacity(7);
        event.extend(run.identity_attributes());
        event.push(KeyValue::new("status", status.as_str()));
        event.push(KeyValue::new("duration_ms", duration));
        if let (true, RunStatus::Failure, Some(class)) = (exception, status, &error_class) {
            span.add_event(
                "exception",
                vec![
                    KeyValue::new("exception.type", class.to_string()),
                    KeyValue::new(
                        "exception.message",
                        message.clone().unwrap_or_else(|| class.to_string()),
                    ),
                ],
            );
        }
        if let Some(class) = &error_class {
            event.push(KeyValue::new("error_class", class.to_string()));
            span.set_attribute(KeyValue::new("error.type", class.to_string()));
            span.set_attribute(KeyValue::new(attr::OUTCOME_ERROR_CLASS, class.to_string()));
        }
        if let Some(v) = &outcome.value_type {
            event.push(KeyValue::new("value_type", v.clone()));
        }
        if let Some(v) = outcome.value_amount {
            event.push(KeyValue::new("value_amount", v));
        }
        let end_time = SystemTime::now();
        span.add_event_with_timestamp(EVENT_COMPLETED, end_time, event);
        match status {
            RunStatus::Success | RunStatus::Partial => span.set_status(Status::Ok),
            status => {
                let description = match (&error_class, &message) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_string(),
                    (None, Some(m)) => m.clone(),
                    (None, None) => status.as_str().to_owned(),
                };
                span.set_status(Status::error(description));
            }
        }
        // Recorded last: what `RunContext::outcome` and `duration` answer from now on.
        run.record_outcome_after(outcome, elapsed);
        span.end_with_timestamp(end_time);
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        if !self.finished {
            self.finish_inner(
                RunEnd::new(RunStatus::Canceled).message("run dropped before it finished"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_span_name_is_made_once_per_workflow() {
        let a = interned_run_span_name("Interned Support").unwrap();
        let b = interned_run_span_name("Interned Support").unwrap();
        assert_eq!(a, "botanu.run/Interned Support");
        assert!(std::ptr::eq(a, b), "the same string, not a copy");
        assert_eq!(run_span_name("x"), "botanu.run/x");
    }
}
