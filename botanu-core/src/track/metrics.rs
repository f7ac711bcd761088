//! GenAI client metrics (feature `metrics`): `gen_ai.client.token.usage` and
//! `gen_ai.client.operation.duration`, per the OpenTelemetry GenAI semantic conventions,
//! recorded from every LLM call botanu tracks (by hand or recognised on the wire) through a
//! `MeterProvider` the app passes. botanu installs none.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::metrics::{Histogram, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

struct Instruments {
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The conventions' advised bucket boundaries.
const TOKEN_BOUNDARIES: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
const DURATION_BOUNDARIES: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Records GenAI client metrics for every LLM call botanu tracks, through `provider`:
/// `gen_ai.client.operation.duration` (seconds; `gen_ai.operation.name`,
/// `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`, `error.type` on
/// failure) and `gen_ai.client.token.usage` (`{token}`, one point per `gen_ai.token.type`,
/// `input` and `output`, only when the call's usage is known). Call it once at startup; a
/// second call changes nothing and returns `false`.
///
/// ```
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let provider = SdkMeterProvider::builder().build(); // with the app's reader and exporter
/// assert!(botanu_core::llm::record_metrics(&provider));
/// ```
pub fn record_metrics<P: MeterProvider + ?Sized>(provider: &P) -> bool {
    if INSTRUMENTS.get().is_some() {
        return false;
    }
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder(crate::semconv::scopes::GEN_AI)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let tokens = meter
        .u64_histogram("gen_ai.client.token.usage")
        .with_unit("{token}")
        .with_description("Number of input and output tokens used")
        .with_boundaries(TOKEN_BOUNDARIES.to_vec())
        .build();
    let duration = meter
        .f64_histogram("gen_ai.client.operation.duration")
        .with_unit("s")
        .with_description("GenAI operation duration")
        .with_boundaries(DURATION_BOUNDARIES.to_vec())
        .build();
    INSTRUMENTS.set(Instruments { tokens, duration }).is_ok()
}

/// What one call's data points say, gathered while it runs.
#[derive(Debug)]
pub(crate) struct Facts {
    operation: String,
    provider: String,
    request_model: String,
    pub(crate) response_model: Option<String>,
    pub(crate) error_type: Option<String>,
    pub(crate) usage: Option<(u64, u64)>,
}

impl Facts {
    /// The facts of a new call, when metrics are recorded.
    pub(crate) fn new(operation: &str, provider: &str, model: &str) -> Option<Mutex<Facts>> {
        INSTRUMENTS.get()?;
        Some(Mutex::new(Facts {
            operation: operation.to_owned(),
            provider: provider.to_owned(),
            request_model: model.to_owned(),
            response_model: None,
            error_type: None,
            usage: None,
        }))
    }

    /// The model named after the call started (a request body read as it streamed).
    #[cfg(feature = "outbound")]
    pub(crate) fn set_request_model(&mut self, model: &str) {
        model.clone_into(&mut self.request_model);
    }

    /// Records the call's data points; it took `elapsed`.
    pub(crate) fn record(&self, elapsed: Duration) {
        let Some(i) = INSTRUMENTS.get() else { return };
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", self.operation.clone()),
            KeyValue::new("gen_ai.provider.name", self.provider.clone()),
            KeyValue::new("gen_ai.request.model", self.request_model.clone()),
        ];
        if let Some(m) = &self.response_model {
            attributes.push(KeyValue::new("gen_ai.response.model", m.clone()));
        }
        if let Some((input, output)) = self.usage {
            for (kind, n) in [("input", input), ("output", output)] {
                let mut a = attributes.clone();
                a.push(KeyValue::new("gen_ai.token.type", kind));
                i.tokens.record(n, &a);
            }
        }
        if let Some(e) = &self.error_type {
            attributes.push(KeyValue::new("error.type", e.clone()));
        }
        i.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}
