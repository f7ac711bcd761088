//! Trackers: spans for LLM calls and tools (`llm`), data operations (`data`), with content
//! capture (`capture`) and PII scrubbing (`pii`); and the span guard they share.

pub(crate) mod capture;
pub mod data;
pub mod llm;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(feature = "async-openai")]
pub mod openai;
#[cfg(feature = "outbound")]
pub(crate) mod outbound;
#[cfg(test)]
mod pii_tests;
#[cfg(feature = "reqwest")]
pub(crate) mod reqwest;
pub(crate) mod step;
#[cfg(feature = "outbound")]
pub(crate) mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, Value};

/// A tracker span: started at creation as a child of the current context (so it is in the
/// current run and enriched), ended by `end()` or when the last handle is dropped — recording a
/// `panic` error if it is dropped while unwinding.
#[derive(Debug, Clone)]
pub(crate) struct TrackedSpan {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    /// Holds the span.
    span_cx: Context,
    /// The context for work done inside the call (see `own_span`).
    cx: Context,
    started: Instant,
    ended: AtomicBool,
    /// Written at the end with the duration in ms, if set.
    duration_attr: Option<&'static str>,
    /// Where the error class goes (`error.type`, `botanu.data.error`, …).
    error_attr: &'static str,
    /// An LLM call's metric data points, recorded at the end (metrics on).
    #[cfg(feature = "metrics")]
    facts: Option<std::sync::Mutex<crate::track::metrics::Facts>>,
}

impl TrackedSpan {
    pub(crate) fn start(
        scope: &'static str,
        name: String,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        duration_attr: Option<&'static str>,
        error_attr: &'static str,
    ) -> Self {
        let tracer = crate::otel::install::own_tracer(scope);
        let entered = crate::otel::own_span::start(
            tracer,
            tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(attributes),
            &Context::current(),
        );
        TrackedSpan {
            state: Arc::new(State {
                span_cx: entered.span_cx,
                cx: mark(entered.work_cx, scope),
                started: Instant::now(),
                ended: AtomicBool::new(false),
                duration_attr,
                error_attr,
                #[cfg(feature = "metrics")]
                facts: None,
            }),
        }
    }

    /// This span, an LLM call's, with the metric data points recorded at its end (right after
    /// [`start`](Self::start), while this is the only handle).
    #[cfg(feature = "metrics")]
    pub(crate) fn measured(
        mut self,
        facts: Option<std::sync::Mutex<crate::track::metrics::Facts>>,
    ) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.facts = facts;
        }
        self
    }

    /// Updates the call's metric facts, if metrics are recorded.
    #[cfg(feature = "metrics")]
    pub(crate) fn facts(&self, update: impl FnOnce(&mut crate::track::metrics::Facts)) {
        if let Some(f) = &self.state.facts {
            if let Ok(mut f) = f.lock() {
                update(&mut f);
            }
        }
    }

    /// The context for work done inside the call: this span current, or (when the app has a
    /// pipeline of its own) this span as the parent of botanu's spans only.
    pub(crate) fn context(&self) -> &Context {
        &self.state.cx
    }

    pub(crate) fn set(&self, key: impl Into<opentelemetry::Key>, value: impl Into<Value>) {
        self.state
            .span_cx
            .span()
            .set_attribute(KeyValue::new(key, value));
    }

    pub(crate) fn set_error(&self, class: &str, message: &str) {
        #[cfg(feature = "metrics")]
        self.facts(|f| f.error_type = Some(class.to_owned()));
        let span = self.state.span_cx.span();
        span.set_attribute(KeyValue::new(self.state.error_attr, class.to_owned()));
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", class.to_owned()),
                KeyValue::new("exception.message", message.to_owned()),
            ],
        );
        span.set_status(Status::error(format!("{class}: {message}")));
    }

    #[cfg(feature = "outbound")]
    pub(crate) fn set_status_error(&self, message: &'static str) {
        self.state.span_cx.span().set_status(Status::error(message));
    }

    #[cfg(feature = "outbound")]
    pub(crate) fn update_name(&self, name: String) {
        self.state.span_cx.span().update_name(name);
    }

    pub(crate) fn end(&self) {
        self.state.end();
    }
}

/// Marks the context of work inside a tracked span with the span's scope.
#[cfg(feature = "outbound")]
#[derive(Debug)]
struct InTracked(&'static str);

#[cfg(feature = "outbound")]
fn mark(cx: Context, scope: &'static str) -> Context {
    // Only LLM calls are asked about.
    if scope == crate::semconv::scopes::GEN_AI {
        cx.with_value(InTracked(scope))
    } else {
        cx
    }
}

#[cfg(not(feature = "outbound"))]
fn mark(cx: Context, _scope: &'static str) -> Context {
    cx
}

/// Whether `cx` is inside an LLM call the app tracks itself (`llm::call`, `track_llm`): a
/// request made there is not recognised as a second call.
#[cfg(feature = "outbound")]
pub(crate) fn inside_llm_call(cx: &Context) -> bool {
    cx.get::<InTracked>()
        .is_some_and(|t| t.0 == crate::semconv::scopes::GEN_AI)
}

impl State {
    fn end(&self) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let span = self.span_cx.span();
        if let Some(attr) = self.duration_attr {
            span.set_attribute(KeyValue::new(
                attr,
                self.started.elapsed().as_secs_f64() * 1000.0,
            ));
        }
        #[cfg(feature = "metrics")]
        if let Some(Ok(facts)) = self.facts.as_ref().map(|f| f.lock()) {
            facts.record(self.started.elapsed());
        }
        span.end();
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if !self.ended.load(Ordering::Acquire) && std::thread::panicking() {
            #[cfg(feature = "metrics")]
            if let Some(Ok(mut facts)) = self.facts.as_ref().map(|f| f.lock()) {
                facts.error_type = Some("panic".to_owned());
            }
            let span = self.span_cx.span();
            span.set_attribute(KeyValue::new(self.error_attr, "panic"));
            span.set_status(Status::error("panic"));
        }
        self.end();
    }
}

/// Keys written as they are when they already carry a known namespace, otherwise under
/// `prefix` (e.g. `temperature` → `botanu.temperature`).
pub(crate) fn metadata_key(prefix: &str, key: &str, keep_gen_ai: bool) -> String {
    if key.starts_with("botanu.") || (keep_gen_ai && key.starts_with("gen_ai.")) {
        key.to_owned()
    } else {
        format!("{prefix}{key}")
    }
}
