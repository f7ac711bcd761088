//! A local OTLP/HTTP receiver ([`receiver`]) and loopback HTTP helpers ([`http`]): what the
//! demos use to show, offline, what botanu exported, and what the end-to-end tests assert
//! against. Everything binds and connects to 127.0.0.1 only.
#![forbid(unsafe_code)]

#[cfg(feature = "grpc")]
pub mod grpc;
pub mod http;
pub mod receiver;
