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
//! The run lifecycle (ids, span, events, statuses, response classification) lives in
//! [`botanu_core::adapter`]; this crate translates Tower's request, future and body into it: [`BotanuLayer`] (the builder),
//! [`BotanuService`], [`ResponseFuture`], [`BotanuBody`]. The outbound side for
//! `http::Request` clients (e.g. hyper-util's): [`ClientLayer`] (propagation, client spans, LLM
//! provider calls recognised on the wire) or [`PropagateLayer`] (propagation only, bodies left
//! alone).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
mod future;
mod layer;
mod propagate;
mod service;

pub use body::BotanuBody;
pub use botanu_core;
pub use botanu_core::adapter::classify;
pub use botanu_core::adapter::RUN_ID_HEADER;
pub use botanu_core::{
    emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome,
};
pub use client::{ClientFuture, ClientLayer, ClientRequestBody, ClientResponseBody, ClientService};
pub use future::ResponseFuture;
pub use layer::BotanuLayer;
pub use propagate::{PropagateLayer, PropagateService};
pub use service::BotanuService;

/// Extractors: how a run finds its business ids in a request head (method, URI, headers,
/// extensions; never the body). Any `Fn(&http::request::Parts) -> Option<String>` closure is
/// one, so closures work directly; [`header`](extract::header) and [`query`](extract::query)
/// are ready-made.
pub mod extract {
    pub use botanu_core::adapter::{header, query, Extract, Header, Query};
}
