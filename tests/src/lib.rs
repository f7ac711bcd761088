//! Helpers shared by botanu-rs's end-to-end tests (and, later, its demos).
//!
//! * [`SeededIdGenerator`]: deterministic trace and span ids, so that two providers fed the
//!   same workload create the same ids and their exports can be compared span by span.
//! * [`attr`] / [`attr_str`]: attribute lookup on exported spans.
//! * [`CollectAll`]: a processor that keeps every ended span, sampled or not.
//! * [`receiver::Receiver`]: a real OTLP/HTTP receiver on loopback.
//! * [`env::TestEnv`]: one botanu per test binary exporting to one receiver.
//! * [`child`]: run one variant of a workload in a child process of the test binary.
//! * [`datadog_agent::FakeAgent`]: a fake Datadog agent decoding msgpack trace payloads.
//! * [`http`]: serve an app on 127.0.0.1 and call it with a client that resolves every name
//!   to 127.0.0.1.

#![forbid(unsafe_code)]

/// The repository README, here so that its code blocks are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// The "Existing OpenTelemetry setup" guide (`docs/existing-setup.md`), here so that its code
/// is compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/existing-setup.md")]
pub mod existing_setup_guide {}

pub mod child;
pub mod datadog_agent;
pub mod env;
pub mod http;
// The receiver lives in botanu-receiver (the demos use it too, without this crate); tests
// keep reaching it here.
pub use botanu_receiver::receiver;

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{IdGenerator, SpanData};

/// Deterministic ids from a seed (SplitMix64): the n-th id of two generators with the same
/// seed is the same, and ids are spread over the whole range like random ones.
#[derive(Debug)]
pub struct SeededIdGenerator {
    state: AtomicU64,
}

impl SeededIdGenerator {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SeededIdGenerator {
            state: AtomicU64::new(seed),
        }
    }

    fn next(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl IdGenerator for SeededIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let hi = self.next() as u128;
        let lo = self.next() as u128;
        TraceId::from((hi << 64) | lo)
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.next().max(1))
    }
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; whether it held. For conditions
/// outside the receiver (botanu's stats); the receiver's own waits are woken by each request.
pub fn poll_until(timeout: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while !done() {
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// A `kB` figure (`"VmRSS"`, `"VmHWM"`, …) of `/proc/<pid>/status`, `pid` being a process id
/// or `"self"`; `None` when it cannot be read.
pub fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The value of attribute `key` on an exported span.
pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// The value of attribute `key` on an exported span, as a string.
pub fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

/// How many attributes named `key` the span has (duplicates would be a bug).
pub fn attr_count(span: &SpanData, key: &str) -> usize {
    span.attributes
        .iter()
        .filter(|kv| kv.key.as_str() == key)
        .count()
}

/// A processor that keeps every span it sees ended, sampled or not (what botanu's own export
/// path must do; `SimpleSpanProcessor` skips unsampled spans). Clones share the store.
#[derive(Debug, Clone, Default)]
pub struct CollectAll {
    spans: std::sync::Arc<std::sync::Mutex<Vec<SpanData>>>,
}

impl CollectAll {
    /// A new, empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The spans collected so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many spans were collected.
    pub fn len(&self) -> usize {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl opentelemetry_sdk::trace::SpanProcessor for CollectAll {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(
        &self,
        _timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// Everything logged through `tracing` in this process, from any thread, as formatted lines.
///
/// [`LogCapture::install`] sets a global subscriber once per test binary (at DEBUG for botanu,
/// WARN for everything else); later calls return the same capture.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// Installs (once) and returns the process-wide capture.
    pub fn install() -> LogCapture {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture::default();
                let writer = capture.clone();
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_max_level(tracing::Level::DEBUG)
                    .finish();
                let _ = tracing::subscriber::set_global_default(subscriber);
                capture
            })
            .clone()
    }

    /// The captured lines.
    pub fn lines(&self) -> Vec<String> {
        let buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The captured lines containing `needle`.
    pub fn matching(&self, needle: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A processor that does nothing: the baseline for measuring another processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopProcessor;

impl opentelemetry_sdk::trace::SpanProcessor for NoopProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}
    fn on_end(&self, _span: SpanData) {}
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(
        &self,
        _timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}
