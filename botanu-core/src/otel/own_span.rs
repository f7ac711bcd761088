//! Where the spans botanu creates itself (run spans, tracker spans, client spans) sit in a
//! [`Context`], so that the app's own tracing keeps exactly the shape it had (ARCHITECTURE.md, "Install modes").
//!
//! * **greenfield** (botanu owns the only pipeline, or botanu is not installed): botanu's span
//!   becomes the context's current span, as any OpenTelemetry instrumentation does; spans
//!   started inside it are its children.
//! * **migrated and parallel** ("isolated"): the app's exporters never receive botanu's spans,
//!   so botanu's span must never be the parent of one of the app's spans (the app's trace would
//!   have a parent it never receives), nor the `traceparent` sent downstream. The context's
//!   current span stays the app's; botanu's span travels beside it as an [`OwnParent`] value,
//!   which only botanu's own spans use as their parent. Spans of the app started inside a run
//!   are still enriched with the run (the run is a typed value in the context, not a span).

use std::borrow::Cow;
use std::cell::Cell;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{SpanBuilder, SpanContext, SpanId, TraceContextExt, Tracer};
use opentelemetry::{Context, InstrumentationScope};

/// The instrumentation scopes of botanu's own spans: the app's processors never see spans of
/// these scopes (migrated mode).
pub(crate) const OWN_SCOPES: [&str; 5] = [
    crate::semconv::scopes::RUN,
    crate::semconv::scopes::GEN_AI,
    crate::semconv::scopes::DATA,
    crate::semconv::scopes::STORAGE,
    crate::semconv::scopes::MESSAGING,
];

/// Whether a finished span is one of botanu's own.
pub(crate) fn is_own_scope(scope: &InstrumentationScope) -> bool {
    OWN_SCOPES.contains(&scope.name())
}

/// What kind of span this thread is starting right now. The SDK calls the sampler and every
/// processor's `on_start` synchronously inside `build_with_context`, so a thread-local tells
/// them apart without a marker value in the context (each one a copy of the context's map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Starting {
    /// A span of the app's (or nothing being started).
    App,
    /// One of botanu's own spans: the app's sampler is not asked about it and the app's
    /// processors do not see it start.
    Own,
    /// A run span: one of botanu's own, which already carries every run attribute (the
    /// enricher skips it).
    Run,
}

thread_local! {
    static STARTING: Cell<Starting> = const { Cell::new(Starting::App) };
}

/// What kind of span this thread is starting (see [`Starting`]).
pub(crate) fn starting() -> Starting {
    STARTING.with(Cell::get)
}

/// botanu's innermost span in an isolated context, and the app's span that was current when
/// it was entered (`above`): while that app span is still the current one, botanu's next span
/// is a child of this one; once the app has started a span of its own inside, that one is the
/// parent (so botanu's tree nests in the app's tree the way the code does).
#[derive(Debug, Clone)]
struct OwnParent {
    span: SpanContext,
    above: SpanId,
}

/// The context to start one of botanu's spans from: the parent is botanu's innermost span
/// when the app opened none since, otherwise the context's current span.
fn parent_context(cx: &Context) -> Cow<'_, Context> {
    match cx.get::<OwnParent>() {
        Some(own) if own.above == cx.span().span_context().span_id() => {
            Cow::Owned(cx.with_remote_span_context(own.span.clone()))
        }
        _ => Cow::Borrowed(cx),
    }
}

/// Starts one of botanu's spans (`kind` is [`Starting::Own`] or [`Starting::Run`]) inside
/// `cx`.
pub(crate) fn build<T: Tracer>(
    tracer: &T,
    builder: SpanBuilder,
    cx: &Context,
    kind: Starting,
) -> T::Span {
    /// Restores the previous state, also if the SDK panics.
    struct Restore(Starting);
    impl Drop for Restore {
        fn drop(&mut self) {
            STARTING.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(STARTING.with(|s| s.replace(kind)));
    tracer.build_with_context(builder, &parent_context(cx))
}

/// One of botanu's spans, entered: `span_cx` holds the span (to record on it and end it);
/// `work_cx` is the context to run the work inside it under.
#[derive(Debug, Clone)]
pub(crate) struct Entered {
    pub(crate) span_cx: Context,
    pub(crate) work_cx: Context,
}

/// Enters `span` over `base` (the context the work would run under without it).
pub(crate) fn enter(span: BoxedSpan, base: &Context) -> Entered {
    use opentelemetry::trace::Span as _;
    if !crate::otel::install::isolated() {
        let cx = base.with_span(span);
        return Entered {
            span_cx: cx.clone(),
            work_cx: cx,
        };
    }
    let own = OwnParent {
        span: span.span_context().clone(),
        above: base.span().span_context().span_id(),
    };
    Entered {
        span_cx: Context::new().with_span(span),
        work_cx: base.with_value(own),
    }
}

/// Starts `builder` with `tracer` as one of botanu's spans inside `cx` and enters it.
pub(crate) fn start(tracer: &BoxedTracer, builder: SpanBuilder, cx: &Context) -> Entered {
    enter(build(tracer, builder, cx, Starting::Own), cx)
}
