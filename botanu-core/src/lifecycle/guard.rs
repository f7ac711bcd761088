//! Guards on the request path: the app's callbacks and the polled work run under
//! `catch_unwind`, so a panic of the app's code ends the run as a failure (and continues) or is
//! logged (and the request served), never an unfinished run or a crashed worker.

use opentelemetry::Context;

use super::{ActiveRun, RunEnd};

/// Runs `poll` (one poll of the work a run wraps) with `cx` current. If it panics, the run
/// `take_run` hands over (if it still holds one) ends as a failure of class `panic` with the
/// panic's message, and the panic continues unwinding. Shared by the adapters' futures and the
/// scope future.
pub(crate) fn poll_in_run<T>(
    cx: &Context,
    poll: impl FnOnce() -> T,
    take_run: impl FnOnce() -> Option<ActiveRun>,
) -> T {
    let polled = {
        let _inside = cx.clone().attach();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll))
    };
    match polled {
        Ok(value) => value,
        Err(payload) => {
            if let Some(active) = take_run() {
                finish_panicked(active, &*payload);
            }
            std::panic::resume_unwind(payload)
        }
    }
}

/// Runs one of the app's callbacks on the request path (an extractor, a skip predicate): if it
/// panics, the panic is caught and logged (at most one line every 10 s, with the panic's
/// message and `what` it was), and `None` is returned — the request is served, the run
/// recorded without that value. Shared by the adapters.
pub(crate) fn guard_callback<T>(what: &'static str, f: impl FnOnce() -> T) -> Option<T> {
    static LOG: std::sync::OnceLock<crate::otel::export::RateLimitedLog> =
        std::sync::OnceLock::new();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            let log = LOG.get_or_init(|| {
                crate::otel::export::RateLimitedLog::new(std::time::Duration::from_secs(10))
            });
            if let Some(held_back) = log.permit() {
                tracing::error!(
                    target: "botanu",
                    callback = what,
                    panic = %panic_message(&*payload),
                    panics_not_logged = held_back,
                    "a botanu callback of the app panicked; the request is served and its run recorded without that value"
                );
            }
            None
        }
    }
}

/// Ends `active` for a panic in the handler (error class `panic`, the panic's message).
fn finish_panicked(active: ActiveRun, payload: &(dyn std::any::Any + Send)) {
    active.finish(
        RunEnd::failure("panic")
            .message(panic_message(payload))
            .exception(),
    );
}

/// The error class of an error type, as the run records it: the type's name without module
/// paths (`std::io::Error` → `Error`, `Box<dyn std::error::Error>` → `Box<dyn Error>`).
pub(crate) fn error_class_of<E: ?Sized>() -> String {
    short_type_name(std::any::type_name::<E>())
}

fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            segment.clear();
        } else if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    out
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        assert_eq!(error_class_of::<std::io::Error>(), "Error");
        assert_eq!(
            error_class_of::<Box<dyn std::error::Error + Send + Sync>>(),
            "Box<dyn Error + Send + Sync>"
        );
        assert_eq!(error_class_of::<std::convert::Infallible>(), "Infallible");
        assert_eq!(short_type_name("a::b::C<d::E, f::G>"), "C<E, G>");
    }

    #[test]
    fn panic_messages() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*p), "static");
    }
}
