//! [`tracing_layer`]: `tracing` spans into botanu's provider (feature `tracing`).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;

/// A `tracing_subscriber` layer that turns `tracing` spans (`#[tracing::instrument]`,
/// `info_span!`) into OpenTelemetry spans of [`Botanu::tracer_provider`](crate::Botanu::tracer_provider),
/// so that inside a run they carry the run's attributes and reach botanu's export. Installs
/// botanu from the environment first unless something installed it already.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// tracing_subscriber::registry().with(botanu_core::tracing_layer()).init();
/// ```
///
/// Use it when botanu owns the tracing (greenfield) or your pipeline was handed to
/// [`Botanu::builder`](crate::Botanu::builder) (migrated: call it after `install()`; the spans
/// then reach your exporters exactly as before, and botanu's). Beside a provider botanu does
/// not own (parallel, e.g. Datadog's), keep the layer that provider gave you: your `tracing`
/// spans belong to it. When botanu is disabled or cannot be installed the layer records into a
/// provider with no processor (spans go nowhere, as without it).
pub fn tracing_layer<S>() -> OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    crate::otel::install::ensure_installed();
    let provider = crate::Botanu::get()
        .map(|b| b.tracer_provider().clone())
        .unwrap_or_else(|| SdkTracerProvider::builder().build());
    tracing_opentelemetry::layer().with_tracer(provider.tracer("tracing"))
}
