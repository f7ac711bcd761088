//! botanu's own export path: OTLP/HTTP protobuf through `opentelemetry-otlp`, batched on a
//! background thread, with a bounded queue, counters, and failure logs at a limited rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::config::{BotanuConfig, ResolvedExport};
use crate::Error;

/// Counters of botanu's export path, from [`Botanu::stats`](crate::Botanu::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans botanu was given to export (the dropped ones included).
    pub queued: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans in export requests that failed (collector down, error answer, timeout).
    pub failed: u64,
    /// Spans dropped because the queue was full (never blocking the app).
    pub dropped: u64,
    /// Export requests that failed.
    pub failed_requests: u64,
    /// Export attempts repeated after a retryable answer (429, 502, 503, 504, connection
    /// error, timeout). A request that succeeded on its third try counts 2.
    pub retries: u64,
    /// Spans still queued or being exported when [`shutdown`](crate::Botanu::shutdown)
    /// stopped waiting (0 before shutdown). After shutdown,
    /// `queued == exported + failed + dropped + lost`.
    pub lost: u64,
}

impl ExportStats {
    /// Spans queued or being exported now: `queued − exported − failed − dropped − lost`.
    pub fn in_flight(&self) -> u64 {
        self.queued
            .saturating_sub(self.exported + self.failed + self.dropped + self.lost)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    queued: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    failed_requests: AtomicU64,
    retries: AtomicU64,
    /// HTTP requests sent to the collector, first tries and retries ([`ObservedClient`]).
    attempts: AtomicU64,
    /// Set when shutdown stopped waiting: what is neither exported, failed nor dropped is lost.
    closed: std::sync::atomic::AtomicBool,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ExportStats {
        // Settled counts first: a span moving from queued to exported meanwhile is then
        // counted in neither `lost` nor twice.
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let queued = self.queued.load(Ordering::Acquire);
        let lost = if self.closed.load(Ordering::Acquire) {
            queued.saturating_sub(exported + failed + dropped)
        } else {
            0
        };
        ExportStats {
            queued,
            exported,
            failed,
            dropped,
            failed_requests: self.failed_requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            lost,
        }
    }

    /// Counts a span in, and takes a place in the queue for it unless `max` spans are already
    /// waiting or being exported (then it is counted as dropped). Exact under concurrency:
    /// every caller counts itself in first, so at most `max` places are held at once (the
    /// batch processor's queue, of the same size, never fills).
    fn try_reserve(&self, max: u64) -> bool {
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        let done = self.exported.load(Ordering::Acquire)
            + self.failed.load(Ordering::Acquire)
            + self.dropped.load(Ordering::Acquire);
        if before.saturating_sub(done) >= max {
            self.dropped.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        true
    }
}

/// Logs at most one line per interval; counts what it held back.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    epoch: Instant,
    interval: Duration,
    /// Milliseconds since `epoch` of the last line, plus one (0 = never).
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) fn new(interval: Duration) -> Self {
        RateLimitedLog {
            epoch: Instant::now(),
            interval,
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(number of events held back since the last line)` when a line may be written now.
    pub(crate) fn permit(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval.as_millis() as u64;
        if due
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Wraps the OTLP exporter: counts outcomes and logs failures at a limited rate.
#[derive(Debug)]
struct ObservedExporter<E> {
    inner: E,
    counters: Arc<Counters>,
    failures: RateLimitedLog,
    endpoint: String,
}

/// Settles the counters of one export request when it ends: its retries, and its batch as
/// failed unless it was exported (an error, or a future dropped before it finished: timeout).
///
/// Retries are the HTTP attempts beyond the first made while this request was in flight. That
/// is exact because the batch processor's worker thread exports one request at a time.
struct Settle<'a> {
    counters: &'a Counters,
    spans: u64,
    attempts_before: u64,
    exported: bool,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let attempts = self.counters.attempts.load(Ordering::Relaxed) - self.attempts_before;
        self.counters
            .retries
            .fetch_add(attempts.saturating_sub(1), Ordering::Relaxed);
        if !self.exported {
            self.counters
                .failed
                .fetch_add(self.spans, Ordering::Relaxed);
            self.counters
                .failed_requests
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<E: SpanExporter> SpanExporter for ObservedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut settle = Settle {
            counters: &self.counters,
            spans: batch.len() as u64,
            attempts_before: self.counters.attempts.load(Ordering::Relaxed),
            exported: false,
        };
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                settle.exported = true;
                self.counters
                    .exported
                    .fetch_add(settle.spans, Ordering::Relaxed);
            }
            // `settle` counts the failure when it drops.
            Err(err) => {
                if let Some(held_back) = self.failures.permit() {
                    tracing::warn!(
                        target: "botanu",
                        endpoint = %self.endpoint,
                        spans = settle.spans,
                        failed_requests_not_logged = held_back,
                        "botanu export failed; the app is unaffected and these spans are lost: {err}"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// botanu's export processor: a [`BatchSpanProcessor`] behind a queue bound of its own, so
/// that drops are counted and logged (at a limited rate) and the app never blocks.
///
/// It forwards **every** span it sees, sampled or not: botanu's collector gets 100% even
/// when a user's sampler marked a span `RecordOnly`. (The thread `BatchSpanProcessor` of
/// opentelemetry_sdk 0.33 exports unsampled spans; a test pins that.)
#[derive(Debug)]
pub(crate) struct ExportProcessor {
    batch: BatchSpanProcessor,
    counters: Arc<Counters>,
    max_queue: u64,
    drops: RateLimitedLog,
    /// The longest string attribute value exported, in bytes.
    value_limit: usize,
}

impl ExportProcessor {
    /// The counters behind `Botanu::stats()`: this processor's, or zeros without one.
    pub(crate) fn counters_of(processor: Option<&ExportProcessor>) -> Arc<Counters> {
        processor.map_or_else(Arc::default, |p| p.counters.clone())
    }
}

impl SpanProcessor for ExportProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !self.counters.try_reserve(self.max_queue) {
            if let Some(held_back) = self.drops.permit() {
                tracing::warn!(
                    target: "botanu",
                    queue_bound = self.max_queue,
                    dropped_total = self.counters.dropped.load(Ordering::Relaxed),
                    dropped_not_logged = held_back,
                    "botanu export queue is full (collector slow or down); dropping spans instead of blocking the app"
                );
            }
            return;
        }
        let mut span = span;
        bound_values(&mut span, self.value_limit);
        self.batch.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batch.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.batch.shutdown_with_timeout(timeout);
        // From here on, what is neither exported, failed nor dropped is lost.
        self.counters.closed.store(true, Ordering::Release);
        let s = self.counters.snapshot();
        tracing::info!(
            target: "botanu",
            queued = s.queued,
            exported = s.exported,
            failed = s.failed,
            dropped = s.dropped,
            lost = s.lost,
            failed_requests = s.failed_requests,
            retries = s.retries,
            "botanu export stopped"
        );
        if s.lost > 0 {
            tracing::warn!(
                target: "botanu",
                lost = s.lost,
                timeout_ms = timeout.as_millis() as u64,
                "spans still queued when shutdown stopped waiting are lost (the collector was slow or down; BOTANU_SHUTDOWN_TIMEOUT_MILLIS sets how long shutdown waits)"
            );
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.batch.set_resource(resource);
    }
}

/// Cuts string attribute values (of the span and its events) longer than `limit` bytes at a
/// character boundary: a 64 KB header the app copied into an attribute does not become a
/// 64 KB attribute in botanu's export. One length check per value otherwise.
fn bound_values(span: &mut SpanData, limit: usize) {
    use opentelemetry::{StringValue, Value};
    let cut = |kv: &mut opentelemetry::KeyValue| {
        if let Value::String(s) = &kv.value {
            let text = s.as_str();
            if text.len() > limit {
                let mut end = limit;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                kv.value = Value::String(StringValue::from(text[..end].to_owned()));
            }
        }
    };
    span.attributes.iter_mut().for_each(cut);
    for event in span.events.events.iter_mut() {
        event.attributes.iter_mut().for_each(cut);
    }
}

/// botanu's export processor for `config`, or `None` when export is off
/// ([`BotanuConfig::with_export`]).
pub(crate) fn export_processor(
    config: &BotanuConfig,
    resolved: &ResolvedExport,
) -> Result<Option<ExportProcessor>, Error> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    if !config.export {
        return Ok(None);
    }

    let headers = resolved.headers.clone().into_iter().collect();
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(resolved.traces_endpoint.clone())
        .with_headers(headers)
        .with_timeout(config.export_timeout)
        // Retryable answers (429, 502, 503, 504, connection errors) are retried with exponential
        // backoff and jitter, honouring Retry-After, until the export timeout: a collector
        // outage shorter than that loses nothing while the queue holds. Each try goes through
        // `ObservedClient`, which is how `ExportStats::retries` sees them.
        .with_retry_policy(
            opentelemetry_otlp::RetryPolicy::default()
                .with_max_retries(16)
                .with_initial_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_jitter(Duration::from_millis(200)),
        );
    if config.gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    let counters = Arc::new(Counters::default());
    builder = builder.with_http_client(ObservedClient {
        inner: http_client(config, resolved.loopback)?,
        counters: counters.clone(),
        endpoint: resolved.traces_endpoint.clone(),
        explained: Default::default(),
    });
    let exporter = builder
        .build()
        .map_err(|e| Error::Exporter(e.to_string()))?;
    let observed = ObservedExporter {
        inner: exporter,
        counters: counters.clone(),
        failures: RateLimitedLog::new(Duration::from_secs(10)),
        endpoint: resolved.traces_endpoint.clone(),
    };
    // The batch processor's queue has our bound's size: `try_reserve` keeps it from filling, so
    // it never drops silently. (It is preallocated: a few hundred bytes per slot.)
    let batch_config = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size)
        .with_max_export_batch_size(config.max_export_batch_size)
        .with_scheduled_delay(config.schedule_delay)
        .build();
    let batch = BatchSpanProcessor::builder(observed)
        .with_batch_config(batch_config)
        .build();
    Ok(Some(ExportProcessor {
        batch,
        counters,
        max_queue: config.max_queue_size as u64,
        drops: RateLimitedLog::new(Duration::from_secs(10)),
        value_limit: config.attribute_value_length_limit,
    }))
}

/// The exporter's HTTP client. It counts every request it sends, so that retries made inside
/// `opentelemetry-otlp` (which exposes no count of its own) show in [`ExportStats::retries`],
/// and it explains, once per kind, answers that retrying cannot fix.
#[derive(Debug)]
struct ObservedClient {
    inner: reqwest::blocking::Client,
    counters: Arc<Counters>,
    endpoint: String,
    /// Answers already explained (bit 0: 401/403, bit 1: other 4xx but 429, bit 2: 3xx).
    explained: std::sync::atomic::AtomicU8,
}

impl ObservedClient {
    /// Logs once (per kind) why a collector refuses exports that retrying cannot fix. The
    /// exporter retries 429, 502, 503, 504 and answers that never came, nothing else.
    fn explain(&self, status: http::StatusCode) {
        let (bit, text) = match status.as_u16() {
            401 | 403 => (1, "the collector refused botanu's credentials: check BOTANU_API_KEY (and that the endpoint is the botanu collector)"),
            c if (400..500).contains(&c) && c != 429 => (2, "the collector rejected the export request; this is not retried"),
            c if (300..400).contains(&c) => (4, "the collector answered with a redirect, which botanu does not follow (the spans and their headers would go to another host): set the endpoint to the final URL"),
            _ => return,
        };
        if self.explained.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            tracing::error!(target: "botanu", endpoint = %self.endpoint, status = status.as_u16(), "{text}");
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ObservedClient {
    async fn send_bytes(
        &self,
        request: http::Request<opentelemetry_http::Bytes>,
    ) -> Result<http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError> {
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let response = self.inner.send_bytes(request).await?;
        self.explain(response.status());
        Ok(response)
    }
}

/// The blocking reqwest client `opentelemetry-otlp` would build itself (same timeout), built
/// by botanu so that it can be counted. With the `tls` feature it speaks HTTPS through
/// reqwest's rustls stack, with extra CA certificates from `OTEL_EXPORTER_OTLP_CERTIFICATE`.
/// botanu installs no process-wide crypto provider, and enabling `tls` cannot make the app's
/// own reqwest clients fail to build (reqwest brings its default provider; a
/// `rustls-no-provider` setup would panic them).
///
/// It follows no redirect (a collector's `3xx` would send the spans and the headers, the API
/// key among them, to another host; the answer is logged once instead), and it never uses a
/// proxy for an endpoint on this machine (a proxy from `HTTP_PROXY` would see the key).
fn http_client(config: &BotanuConfig, loopback: bool) -> Result<reqwest::blocking::Client, Error> {
    #[cfg(feature = "tls")]
    let extra_roots = tls::extra_roots(config)?;
    let timeout = config.export_timeout;
    // The blocking client owns a runtime: build it off any async runtime the app runs.
    std::thread::spawn(move || {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if loopback {
            builder = builder.no_proxy();
        }
        #[cfg(feature = "tls")]
        let builder = builder.tls_certs_merge(extra_roots);
        builder.build()
    })
    .join()
    .map_err(|_| Error::Exporter("building the HTTP client panicked".into()))?
    .map_err(|e| Error::Exporter(format!("HTTP client: {e}")))
}

#[cfg(feature = "tls")]
mod tls {
    use crate::config::BotanuConfig;
    use crate::Error;

    const CERT_VAR: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";

    /// The CA certificates named by `OTEL_EXPORTER_OTLP_CERTIFICATE`, if any.
    pub(super) fn extra_roots(config: &BotanuConfig) -> Result<Vec<reqwest::Certificate>, Error> {
        let Some(path) = &config.certificate else {
            return Ok(Vec::new());
        };
        let pem = std::fs::read(path)
            .map_err(|e| Error::config(CERT_VAR, format!("{}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::config(CERT_VAR, format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::config(CERT_VAR, "no certificate in the PEM file"));
        }
        Ok(certs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_log_counts_what_it_holds_back() {
        let log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.permit(), Some(0));
        for _ in 0..5 {
            assert_eq!(log.permit(), None);
        }
        let fast = RateLimitedLog::new(Duration::ZERO);
        assert_eq!(fast.permit(), Some(0));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(fast.permit(), Some(0));
    }
}
