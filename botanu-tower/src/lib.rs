//! botanu for [Tower](https://docs.rs/tower): every HTTP request a run of a business workflow.
//!
//! ```no_run
//! use botanu_tower::{extract, BotanuLayer};
//! use tower::ServiceBuilder;
//! # let service = tower::service_fn(|_req: http::Request<String>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! # });
//!
//! let service = ServiceBuilder::new()
//!     .layer(BotanuLayer::workflow("Customer Support").customer_id(extract::header("x-customer-id")))
//!     .service(service);
//! # let _ = service;
//! ```
//!
//! The run lifecycle (ids, span, events, statuses) lives in [`botanu_core::lifecycle`]; this
//! crate translates Tower's request, future and body into it: [`BotanuLayer`] (the builder),
//! [`BotanuService`], [`ResponseFuture`], [`BotanuBody`]. [`PropagateLayer`] is the outbound
//! side for `http::Request` clients (e.g. hyper-util's).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod body;
pub mod extract;
mod future;
mod layer;
mod propagate;
mod service;

pub use body::BotanuBody;
pub use botanu_core;
pub use botanu_core::{
    emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome,
};
pub use future::{ResponseFuture, RUN_ID_HEADER};
pub use layer::BotanuLayer;
pub use propagate::{PropagateLayer, PropagateService};
pub use service::BotanuService;
