//! botanu's own export path: spans queue in memory (bounded in spans and in bytes), export
//! threads batch them, encode OTLP/HTTP protobuf directly ([`encode`]) and POST it
//! ([`transport`]), several requests in flight at once; every span is counted.
//!
//! ```text
//! on_end ──▶ queue (bounded: spans, bytes) ──▶ export threads (max_concurrent_exports)
//!   ▲          │ full: dropped, counted          │ batch ─▶ encode (split at the request
//!   │          ▼                                  │          size limit) ─▶ gzip? ─▶ POST
//!   │       ExportStats ◀─────────────────────────┤ exported / failed / retries
//!   └── drops one exported span per call ◀── dead (≤ a batch, ≤ 4 MiB; idle: dropped there)
//! ```
//!
//! Exported spans are dropped by the app's threads, one per span they end, rather than by the
//! export threads: a span's memory is then freed on the kind of thread that allocated it, where
//! the allocator's per-thread caches serve both the free and the next request's allocations.
//! Freed on the export threads, every allocation of every span crossed threads and took the
//! allocator's slow paths on both sides (measured: 2.7k instructions per request of axum's
//! 25.8k, see BENCHMARKS.md).

mod encode;
mod transport;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::config::{BotanuConfig, ResolvedExport};
use crate::Error;

pub(crate) use encode::Encoder;
pub(crate) use transport::Transport;

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
    /// Set when shutdown stopped waiting: what is neither exported, failed nor dropped is lost.
    closed: AtomicBool,
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

    fn settled(&self) -> u64 {
        self.exported.load(Ordering::Acquire) + self.failed.load(Ordering::Acquire)
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

/// What the export threads share with the processor.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Export threads wait here for a full batch, the schedule, a flush or shutdown.
    wake: Condvar,
    /// Flush and shutdown wait here for export threads to settle batches.
    settled: Condvar,
    counters: Arc<Counters>,
    transport: Transport,
    /// From `set_resource` (the provider calls it before any span ends).
    resource: OnceLock<Resource>,
    batch_size: usize,
    /// The most bytes (as the queue counts them) of exported spans waiting for the app's
    /// threads to drop them: they are outside the queue's byte bound, so they get their own.
    dead_bytes_limit: usize,
    schedule_delay: Duration,
    request_limit: usize,
    failures: RateLimitedLog,
}

#[derive(Debug, Default)]
struct Queue {
    /// Finished spans waiting for an export thread, with their [`encode::bound_and_size`].
    spans: VecDeque<(SpanData, usize)>,
    /// Spans queued or being exported, and their bytes: what the bounds limit.
    held_spans: usize,
    held_bytes: usize,
    /// Flushes waiting: export threads take partial batches meanwhile.
    flushes: usize,
    closing: bool,
    /// Exported spans left for the app's threads to drop, one per span they end, with their
    /// sizes: at most a batch and `Shared::dead_bytes_limit`; an idle export thread (its
    /// schedule due, nothing queued) and shutdown drop them.
    dead: VecDeque<(SpanData, usize)>,
    dead_bytes: usize,
}

/// The most bytes of exported spans that wait for the app's threads (a sixteenth of the
/// queue's byte bound when that is smaller): a batch of typical spans is well under it.
const DEAD_BYTES: usize = 4 << 20;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue inconsistent (plain pushes and
        // pops): keep going rather than break the app's span ends.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits, as export threads settle batches, until `done` holds or `deadline` passes;
    /// `true` when `done` held.
    fn wait_until<'a>(
        &self,
        mut queue: MutexGuard<'a, Queue>,
        deadline: Instant,
        done: impl Fn(&Queue) -> bool,
    ) -> (MutexGuard<'a, Queue>, bool) {
        while !done(&queue) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (queue, false);
            }
            queue = self
                .settled
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        (queue, true)
    }
}

/// botanu's export processor: a queue bounded in spans and in bytes, drained by export
/// threads. Drops (queue full) are counted and logged at a limited rate; the app never blocks
/// on it beyond one uncontended lock.
///
/// It forwards **every** span it sees, sampled or not: botanu's collector gets 100% even
/// when a user's sampler marked a span `RecordOnly`.
#[derive(Debug)]
pub(crate) struct ExportProcessor {
    shared: Arc<Shared>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    max_queue: usize,
    max_bytes: usize,
    drops: RateLimitedLog,
    /// The longest string attribute value exported, in bytes.
    value_limit: usize,
    export_timeout: Duration,
}

impl ExportProcessor {
    /// The counters behind `Botanu::stats()`: this processor's, or zeros without one.
    pub(crate) fn counters_of(processor: Option<&ExportProcessor>) -> Arc<Counters> {
        processor.map_or_else(Arc::default, |p| p.shared.counters.clone())
    }

    /// Counts a span dropped because the queue was full, and logs it at a limited rate.
    /// Called after the queue's lock is released: the log line is written outside it.
    fn drop_span(&self, (held_spans, held_bytes): (usize, usize), size: usize) {
        let counters = &self.shared.counters;
        counters.dropped.fetch_add(1, Ordering::AcqRel);
        if let Some(held_back) = self.drops.permit() {
            tracing::warn!(
                target: "botanu",
                queue_bound_spans = self.max_queue,
                queue_bound_bytes = self.max_bytes,
                queued_spans = held_spans,
                queued_bytes = held_bytes,
                span_bytes = size,
                dropped_total = counters.dropped.load(Ordering::Relaxed),
                dropped_not_logged = held_back,
                "botanu export queue is full (collector slow or down, or very large spans); dropping spans instead of blocking the app"
            );
        }
    }
}

impl SpanProcessor for ExportProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut span = span;
        let size = encode::bound_and_size(&mut span, self.value_limit);
        let shared = &self.shared;
        shared.counters.queued.fetch_add(1, Ordering::AcqRel);
        let mut queue = shared.lock();
        if queue.closing {
            drop(queue);
            shared.counters.dropped.fetch_add(1, Ordering::AcqRel);
            return;
        }
        if queue.held_spans >= self.max_queue || queue.held_bytes + size > self.max_bytes {
            let held = (queue.held_spans, queue.held_bytes);
            drop(queue);
            self.drop_span(held, size);
            return; // `span` drops here, outside the lock
        }
        queue.held_spans += 1;
        queue.held_bytes += size;
        queue.spans.push_back((span, size));
        // Waking a thread costs a system call: only when a batch just became full.
        let full = queue.spans.len() == shared.batch_size;
        let dead = queue.dead.pop_front();
        if let Some((_, size)) = &dead {
            queue.dead_bytes -= size;
        }
        drop(queue);
        drop(dead);
        if full {
            shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let shared = &self.shared;
        let deadline = Instant::now() + self.export_timeout;
        let mut queue = shared.lock();
        // Everything held now is settled once this many spans are.
        let target = shared.counters.settled() + queue.held_spans as u64;
        queue.flushes += 1;
        shared.wake.notify_all();
        let (mut queue, done) = shared.wait_until(queue, deadline, |q| {
            shared.counters.settled() >= target || q.held_spans == 0
        });
        queue.flushes -= 1;
        if done {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(self.export_timeout))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let shared = &self.shared;
        let deadline = Instant::now() + timeout;
        let mut queue = shared.lock();
        if queue.closing {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        queue.closing = true;
        shared.wake.notify_all();
        let (mut queue, drained) = shared.wait_until(queue, deadline, |q| q.held_spans == 0);
        let dead = std::mem::take(&mut queue.dead);
        queue.dead_bytes = 0;
        drop(queue);
        drop(dead);
        // From here on, what is neither exported, failed nor dropped is lost.
        shared.counters.closed.store(true, Ordering::Release);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        if drained {
            // Nothing left: every export thread is on its way out.
            threads.into_iter().for_each(|t| drop(t.join()));
        }
        // Otherwise a thread is stuck in a request to a hung collector: it ends when the
        // request times out, and shutdown does not wait for it.
        let s = shared.counters.snapshot();
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
        if drained {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.shared.resource.set(resource.clone());
    }
}

/// One export thread: takes a batch when one is full, when the schedule is due, or while a
/// flush or shutdown waits; encodes and sends it; settles it. Ends at shutdown once the queue
/// is empty.
fn export_thread(shared: Arc<Shared>) {
    let mut encoder: Option<Encoder> = None;
    let mut batch: Vec<SpanData> = Vec::with_capacity(shared.batch_size);
    let mut sizes: Vec<usize> = Vec::with_capacity(shared.batch_size);
    let mut due = Instant::now() + shared.schedule_delay;
    loop {
        let mut bytes = 0;
        {
            let mut queue = shared.lock();
            loop {
                let waiting = queue.spans.len();
                let now = Instant::now();
                if waiting >= shared.batch_size
                    || (waiting > 0 && (queue.flushes > 0 || queue.closing || now >= due))
                {
                    break;
                }
                if queue.closing {
                    return;
                }
                if now >= due {
                    due = now + shared.schedule_delay;
                    if waiting == 0 && !queue.dead.is_empty() {
                        // Idle: no span ends to drop the exported ones; drop them here.
                        let dead = std::mem::take(&mut queue.dead);
                        queue.dead_bytes = 0;
                        drop(queue);
                        drop(dead);
                        queue = shared.lock();
                        continue;
                    }
                }
                queue = shared
                    .wake
                    .wait_timeout(queue, due - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let take = queue.spans.len().min(shared.batch_size);
            for (span, size) in queue.spans.drain(..take) {
                batch.push(span);
                sizes.push(size);
                bytes += size;
            }
            if queue.spans.len() >= shared.batch_size {
                // More than one batch waits: let another thread send the next one meanwhile.
                shared.wake.notify_one();
            }
        }
        due = Instant::now() + shared.schedule_delay;
        let encoder = encoder.get_or_insert_with(|| match shared.resource.get() {
            Some(resource) => Encoder::new(resource),
            None => Encoder::new(&Resource::builder_empty().build()),
        });
        export_batch(&shared, encoder, &batch);
        let spans = batch.len();
        let mut queue = shared.lock();
        queue.held_spans -= spans;
        queue.held_bytes -= bytes;
        // The exported spans go back to the app's threads to be dropped, one per span they
        // end: memory is freed on the threads that allocated it, where the allocator's
        // thread caches make both the free and the next request's allocations cheap (freed
        // here, every allocation of a span crossed threads). At most a batch waits.
        if !queue.closing {
            let mut back = 0;
            for &size in &sizes {
                if queue.dead.len() + back >= shared.batch_size
                    || queue.dead_bytes + size > shared.dead_bytes_limit
                {
                    break;
                }
                queue.dead_bytes += size;
                back += 1;
            }
            queue
                .dead
                .extend(batch.drain(..back).zip(sizes.drain(..back)));
        }
        let waited_on = queue.flushes > 0 || queue.closing;
        drop(queue);
        batch.clear(); // the rest drop here
        sizes.clear();
        if waited_on {
            shared.settled.notify_all();
        }
    }
}

/// Encodes `batch` (split at the request size limit), sends each request, counts the outcome.
fn export_batch(shared: &Shared, encoder: &mut Encoder, batch: &[SpanData]) {
    let counters = &shared.counters;
    encoder.encode(batch, shared.request_limit, |body, spans| {
        match shared.transport.send(body) {
            Ok(()) => {
                counters.exported.fetch_add(spans as u64, Ordering::AcqRel);
            }
            Err(failure) => {
                counters.failed.fetch_add(spans as u64, Ordering::AcqRel);
                counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                if let Some(held_back) = shared.failures.permit() {
                    tracing::warn!(
                        target: "botanu",
                        endpoint = %shared.transport.endpoint,
                        spans,
                        failed_requests_not_logged = held_back,
                        "botanu export failed; the app is unaffected and these spans are lost: {failure}"
                    );
                }
            }
        }
    });
}

/// botanu's export processor for `config`, or `None` when export is off
/// ([`BotanuConfig::with_export`]). Starts its export threads.
pub(crate) fn export_processor(
    config: &BotanuConfig,
    resolved: &ResolvedExport,
) -> Result<Option<ExportProcessor>, Error> {
    if !config.export {
        return Ok(None);
    }
    let mut headers = http::HeaderMap::new();
    for (name, value) in &resolved.headers {
        // `resolve_for` checked every header; a failure here is a bug, reported as config.
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::config("OTEL_EXPORTER_OTLP_HEADERS", "invalid header name"))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|_| Error::config("OTEL_EXPORTER_OTLP_HEADERS", "invalid header value"))?;
        headers.insert(name, value);
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("botanu-rs/", env!("CARGO_PKG_VERSION"))),
    );
    let gzip = config
        .gzip
        .unwrap_or(!resolved.loopback)
        .then_some(config.gzip_level);
    let counters = Arc::new(Counters::default());
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        settled: Condvar::new(),
        counters: counters.clone(),
        transport: Transport {
            client: http_client(config, resolved.loopback)?,
            endpoint: resolved.traces_endpoint.clone(),
            headers,
            gzip,
            timeout: config.export_timeout,
            counters,
            explained: Default::default(),
        },
        resource: OnceLock::new(),
        batch_size: config.max_export_batch_size,
        dead_bytes_limit: (config.max_queue_bytes / 16).min(DEAD_BYTES),
        schedule_delay: config.schedule_delay,
        request_limit: config.max_request_bytes,
        failures: RateLimitedLog::new(Duration::from_secs(10)),
    });
    let mut threads = Vec::with_capacity(config.max_concurrent_exports);
    for i in 0..config.max_concurrent_exports {
        let shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("botanu-export-{i}"))
            .spawn(move || export_thread(shared))
            .map_err(|e| Error::Exporter(format!("cannot start an export thread: {e}")))?;
        threads.push(thread);
    }
    Ok(Some(ExportProcessor {
        shared,
        threads: Mutex::new(threads),
        max_queue: config.max_queue_size,
        max_bytes: config.max_queue_bytes,
        drops: RateLimitedLog::new(Duration::from_secs(10)),
        value_limit: config.attribute_value_length_limit,
        export_timeout: config.export_timeout,
    }))
}

/// The exporter's blocking reqwest client (the export timeout bounds each request). With the `tls` feature it speaks HTTPS through
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
