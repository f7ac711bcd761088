//! botanu for [actix-web](https://docs.rs/actix-web): every request a run of a business
//! workflow, with the same builder, the same lifecycle (from [`botanu_core::adapter`]) and the
//! same rules as `botanu-tower`/`botanu-axum`.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use botanu_actix::{emit_outcome, extract, Botanu, Outcome, Run};
//!
//! async fn handle_ticket(run: Run) -> String {
//!     emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
//!     run.0.run_id().to_owned()
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! HttpServer::new(|| {
//!     App::new().service(
//!         web::resource("/tickets/{id}")
//!             .wrap(
//!                 Botanu::workflow("Customer Support")
//!                     .event_id(extract::match_info("id"))
//!                     .customer_id(extract::header("x-customer-id")),
//!             )
//!             .route(web::post().to(handle_ticket)),
//!     )
//! })
//! .bind(("127.0.0.1", 3001))?
//! .run()
//! .await
//! # }
//! ```
//!
//! `http.route` is the matched pattern (recorded when the response is known, since actix
//! routes after `App::wrap` middleware runs). Handlers run with the run's context current;
//! tasks started with `actix_web::rt::spawn` (a local spawn) lose it unless the future is
//! bound with [`botanu_core::InCurrentRun::in_current_run`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod extract;
mod middleware;
#[cfg(feature = "awc")]
mod outbound;

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use botanu_core::RunContext;

pub use body::BotanuBody;
pub use botanu_core;
pub use botanu_core::adapter::classify;
pub use botanu_core::adapter::RUN_ID_HEADER;
pub use botanu_core::{
    emit_outcome, set_business_context, set_correlation, BusinessContext, Outcome,
};
pub use extract::Actix;
pub use middleware::{Botanu, BotanuMiddleware, ResponseFuture};
#[cfg(feature = "awc")]
pub use outbound::{AwcPropagation, AwcPropagationService};

/// The current run, for handlers: `async fn handler(run: Run)`.
///
/// Rejected with 500 when the request did not pass through a botanu middleware; use
/// `Option<Run>` where that is expected.
#[derive(Debug, Clone)]
pub struct Run(pub RunContext);

impl FromRequest for Run {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<RunContext>()
                .cloned()
                .map(Run)
                .ok_or_else(|| {
                    actix_web::error::ErrorInternalServerError(
                        "no botanu run for this request: wrap the app or resource with botanu_actix::Botanu",
                    )
                }),
        )
    }
}
