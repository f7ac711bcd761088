//! POSTing encoded export requests to the collector: gzip when configured, retries with
//! backoff for answers that retrying can fix, each try counted, and refusals explained once.
//!
//! The retry rules are `opentelemetry-otlp`'s (0.33): 429, 502, 503, 504 and requests that got
//! no answer (connection refused or reset, timeout) are retried with exponential backoff and
//! jitter; a `Retry-After` of a number of seconds on 429/503 is honoured; everything else is
//! final. All tries of one request share the export timeout.

use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Counters;

/// Backoff of the first retry; it doubles up to [`MAX_DELAY`].
const INITIAL_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
const MAX_JITTER_MS: u64 = 200;
const MAX_RETRIES: u32 = 16;
/// The longest `Retry-After` honoured.
const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// How one export request ended.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The collector answered with this status (after any retries).
    Status(u16),
    /// No answer: connection refused or reset, timeout (after any retries).
    NoAnswer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "the collector answered HTTP {code}"),
            Failure::NoAnswer(e) => write!(f, "network error, no answer from the collector: {e}"),
        }
    }
}

/// The HTTP side of botanu's export, shared by its export threads.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) client: reqwest::blocking::Client,
    pub(crate) endpoint: String,
    pub(crate) headers: http::HeaderMap,
    /// gzip level, or `None` to send the protobuf as it is.
    pub(crate) gzip: Option<u32>,
    /// The time all tries of one request may take together.
    pub(crate) timeout: Duration,
    pub(crate) counters: Arc<Counters>,
    /// Answers already explained (bit 0: 401/403, bit 1: other 4xx but 429, bit 2: 3xx).
    pub(crate) explained: AtomicU8,
}

/// One try's answer.
enum Answer {
    Accepted,
    /// Worth another try, after the server's `Retry-After` when it gave one.
    Retryable(Failure, Option<Duration>),
    Final(Failure),
}

impl Transport {
    /// Sends one export request body, retrying what retrying can fix until the export
    /// timeout. Counts every repeated try in `ExportStats::retries`.
    ///
    /// Uncompressed, the body's vector itself is sent (no copy), and it is given back in
    /// `buf` when the HTTP client has let go of it by the end, so that the encoder reuses its
    /// capacity; otherwise `buf` is left empty.
    pub(crate) fn send(&self, buf: &mut Vec<u8>) -> Result<(), Failure> {
        let Some(level) = self.gzip else {
            let body = bytes::Bytes::from(std::mem::take(buf));
            let result = self.send_bytes(body.clone());
            if let Ok(unique) = body.try_into_mut() {
                *buf = Vec::from(unique);
            }
            return result;
        };
        self.send_bytes(bytes::Bytes::from(gzip(buf, level)))
    }

    fn send_bytes(&self, body: bytes::Bytes) -> Result<(), Failure> {
        let start = Instant::now();
        let mut delay = INITIAL_DELAY;
        let mut cap = MAX_DELAY;
        let mut retries = 0;
        loop {
            let remaining = self.timeout.saturating_sub(start.elapsed());
            let (failure, throttle) = match self.try_once(body.clone(), remaining) {
                Answer::Accepted => return Ok(()),
                Answer::Final(failure) => return Err(failure),
                Answer::Retryable(failure, throttle) => (failure, throttle),
            };
            if let Some(server) = throttle {
                // A server's delay may exceed the usual cap (retrying sooner would defeat
                // its backpressure); the export timeout stays the final bound.
                let server = server.min(MAX_THROTTLE);
                if server > cap {
                    cap = MAX_THROTTLE;
                }
                delay = delay.max(server);
            }
            let sleep = (delay + jitter()).min(cap);
            if retries >= MAX_RETRIES || sleep >= self.timeout.saturating_sub(start.elapsed()) {
                return Err(failure);
            }
            std::thread::sleep(sleep);
            delay = (delay * 2).min(cap);
            retries += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn try_once(&self, body: bytes::Bytes, remaining: Duration) -> Answer {
        if remaining.is_zero() {
            return Answer::Final(Failure::NoAnswer("export timeout".into()));
        }
        let mut request = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .timeout(remaining)
            .body(body);
        if self.gzip.is_some() {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        match request.send() {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Answer::Accepted;
                }
                self.explain(status);
                let failure = Failure::Status(status.as_u16());
                match status.as_u16() {
                    429 | 503 => Answer::Retryable(failure, retry_after(response.headers())),
                    502 | 504 => Answer::Retryable(failure, None),
                    _ => Answer::Final(failure),
                }
            }
            // Refused, reset, timed out: the collector may be back on the next try.
            Err(e) => Answer::Retryable(Failure::NoAnswer(without_url(e)), None),
        }
    }

    /// Logs once (per kind) why a collector refuses exports that retrying cannot fix.
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

/// reqwest's error and its causes ("error sending request: … Connection refused"), without
/// the URL (it is logged apart, with credentials removed).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as a number of seconds (the HTTP-date form is treated as absent).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Up to [`MAX_JITTER_MS`] of random delay, so that many services retrying after one outage
/// do not arrive together.
fn jitter() -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(random % (MAX_JITTER_MS + 1))
}

fn gzip(body: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::new(level),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_only() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(http::header::RETRY_AFTER, " 3 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Fri, 31 Dec 1999 23:59:59 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let body = b"botanu ".repeat(100);
        let packed = gzip(&body, 1);
        assert!(packed.len() < body.len() / 4);
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, body);
    }
}
