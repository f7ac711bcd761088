//! botanu-tower: a Tower `Layer` that opens a workflow run per request, for any Tower service.
//!
//! **Status: not yet implemented.** This crate reserves its place in the workspace; the
//! adapter lands in a later release and will be a thin translation of the framework's request
//! and response types into the run lifecycle of [`botanu_core`]. Until then it only
//! re-exports `botanu_core`, which is usable on its own (see its docs).
#![forbid(unsafe_code)]

pub use botanu_core;
