//! Propagation: botanu's Python-compatible W3C Baggage codec ([`BaggagePropagator`]), which
//! hosts get the run's baggage ([`PropagationPolicy`]), and the outbound reqwest middleware
//! (`BotanuPropagation`, feature `reqwest`).
//!
//! Runs travel as W3C Baggage. Header parsing is OpenTelemetry's own
//! [`BaggagePropagator`](opentelemetry_sdk::propagation::BaggagePropagator); botanu's
//! [`BaggagePropagator`] wraps it with the two things the reference Python SDK needs for
//! a run to continue across languages:
//!
//! * **decoding**: Python sends a space as `+` (`botanu.workflow=Customer+Support`). In
//!   `botanu.*` values a `+` therefore decodes to a space; a literal plus arrives as `%2B`.
//!   Other keys keep W3C semantics (a `+` is a `+`).
//! * **encoding**: every byte outside `A–Z a–z 0–9 - . _ ~` is percent-encoded, so `+` goes
//!   out as `%2B`, `%` as `%25` and a space as `%20`, all of which Python decodes exactly.
//!   (OpenTelemetry's own encoder leaves `+` and `%` bare, which a Python peer misreads.)
//!
//! It also enforces the W3C limits on what it sends: at most 64 members and 8192 bytes; run
//! keys are written first so they are the last to be left out.
//!
//! [`BaggagePropagator`]: crate::BaggagePropagator

pub(crate) mod baggage;
mod policy;

pub use crate::run::BaggageLookup;
pub use baggage::{decode_header, encode_header, MAX_HEADER_BYTES, MAX_MEMBERS};
pub use policy::PropagationPolicy;
