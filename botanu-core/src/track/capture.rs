//! Content capture (named as in the reference Python SDK): which calls record their prompt and
//! answer, and the pipeline text goes through before it is written — rate gate, PII scrub,
//! truncation.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::pii::{truncate_chars, Scrubber};

/// Default maximum of captured characters.
pub(crate) const DEFAULT_MAX_CHARS: usize = 4096;

/// Whether one call is captured at `rate` (≤ 0 never, ≥ 1 always, else with probability
/// `rate`, independently per call).
pub(crate) fn should_capture(rate: f64) -> bool {
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    uniform() < rate
}

/// A uniform draw in [0, 1) from a per-thread xorshift generator seeded from the OS.
fn uniform() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = RandomState::new().build_hasher();
            h.write_u64(0x9E37_79B9_7F4A_7C15);
            h.finish() | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Characters past the cut that scrubbing still sees, so that a secret or an address that
/// starts before the cut and ends after it is recognised (and replaced) whole.
pub(crate) const SCRUB_MARGIN_CHARS: usize = 1024;

/// The text to write for captured content, or `None`: not captured (no installed botanu,
/// rate gate), empty, or the scrubber failed (fail closed: nothing is written rather than
/// unscrubbed text). The work is bounded whatever the input's size: the text is cut to
/// `max_chars` plus [`SCRUB_MARGIN_CHARS`] first, scrubbed, then cut to `max_chars`.
pub(crate) fn prepare(text: &str, max_chars: usize) -> Option<String> {
    if text.is_empty() || !decide(None) {
        return None;
    }
    prepare_decided(text, max_chars)
}

/// One run's capture decision (the reference's `capture_input`): `Some(true)` every call,
/// `Some(false)` never, `None` at the configured rate; never when botanu is not installed.
pub(crate) fn decide(explicit: Option<bool>) -> bool {
    let Some(settings) = crate::config::CAPTURE.get() else {
        return false;
    };
    explicit.unwrap_or_else(|| should_capture(settings.rate))
}

/// [`prepare`] for content whose capture is already decided (no rate gate).
pub(crate) fn prepare_decided(text: &str, max_chars: usize) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let settings = crate::config::CAPTURE.get()?;
    prepare_with(text, max_chars, settings.scrubber.as_ref())
}

/// The cut-scrub-cut pipeline with an explicit scrubber (`None` = no scrubbing).
pub(crate) fn prepare_with(
    text: &str,
    max_chars: usize,
    scrubber: Option<&Scrubber>,
) -> Option<String> {
    // A 1 MB question must not be scrubbed whole on the request path.
    let text = truncate_chars(text, max_chars.saturating_add(SCRUB_MARGIN_CHARS));
    let scrubbed = match scrubber {
        None => text.to_owned(),
        Some(s) => match catch_unwind(AssertUnwindSafe(|| s.scrub(text).into_owned())) {
            Ok(t) => t,
            Err(_) => {
                tracing::warn!(target: "botanu", "PII scrubbing failed; the content is not recorded");
                return None;
            }
        },
    };
    Some(truncate_chars(&scrubbed, max_chars).to_owned())
}
