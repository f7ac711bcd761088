//! Runnable demos of botanu-rs (see `examples/`). The repository README is included here so
//! that its code is compiled and run as a doctest.
#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]
