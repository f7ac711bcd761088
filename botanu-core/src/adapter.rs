//! For authors of framework adapters (botanu-tower, botanu-axum and botanu-actix are built on
//! this module alone): the run lifecycle and the HTTP adapter kit. Apps do not need it.
//!
//! An HTTP adapter:
//! 1. names its request head with a [`Framework`] marker type ([`Http`] covers
//!    `http::request::Parts`);
//! 2. holds an [`HttpRuns`] inside the type users build, with the builder methods of
//!    [`http_runs_builder!`](crate::http_runs_builder);
//! 3. per request calls [`HttpRuns::start`], calls the inner service under
//!    [`RequestRun::context`], polls its future with [`RequestRun::poll`], turns the response
//!    head into a [`ResponseRun`] with [`RequestRun::respond`] (or [`RequestRun::fail`] when
//!    there is no response), and polls the body with [`ResponseRun::poll_body`].
//!
//! Runs outside HTTP (a queue consumer of another library) start from a [`RunSpec`]:
//!
//! ```
//! use botanu_core::adapter::{RunEnd, RunSpec};
//! use botanu_core::RunStatus;
//! use opentelemetry::Context;
//!
//! let active = RunSpec::new("Customer Support")
//!     .event_id(Some("ticket-42".into()))
//!     .customer_id(Some("acme".into()))
//!     .start(&Context::new());
//! assert_eq!(active.run().event_id(), "ticket-42");
//! // … poll the work under `active.context()` …
//! active.finish(RunEnd::new(RunStatus::Success));
//! ```

pub use crate::lifecycle::http::{
    header, query, Extract, Framework, Header, Http, HttpRuns, NoHeaders, Query, RequestRun,
    ResponseRun, KIT_HEADERS, RUN_ID_HEADER,
};

/// How a response ends its run: [`ServerErrorsAsFailures`](classify::ServerErrorsAsFailures)
/// by default, [`StatusInRangeAsFailures`](classify::StatusInRangeAsFailures), or an
/// implementation of [`ClassifyResponse`](classify::ClassifyResponse) (which may read the
/// response headers), set with an adapter's `classify` builder method. The adapters re-export
/// this module (`botanu_axum::classify`, …).
pub mod classify {
    pub use crate::lifecycle::http::{
        ClassifyResponse, ResponseClass, ServerErrorsAsFailures, StatusInRangeAsFailures,
    };
    pub use opentelemetry::propagation::Extractor;
}
pub use crate::lifecycle::{extract_inbound, ActiveRun, RunEnd, RunSpec, MAX_ID_BYTES};

#[cfg(feature = "outbound")]
pub mod outbound {
    //! For outbound client integrations (feature `outbound`; botanu-tower's `ClientLayer` and
    //! botanu's reqwest middleware are built on it): per request, [`ClientCall::start`] before
    //! sending, [`ClientCall::inject`] into the request's headers, send under
    //! [`ClientCall::context`], then [`ClientCall::respond`] with the response head (or
    //! [`ClientCall::failed`]). A recognised LLM provider call returns a [`ResponseTap`] that sees
    //! the response body's bytes as the app reads them; a request body that streams goes through
    //! [`ClientCall::request_tap`].

    pub use crate::track::outbound::{ClientCall, ClientOptions, Observed};
    pub use crate::track::wire::{RequestTap, ResponseTap};
}

/// The builder methods every HTTP adapter type offers, written once: expands, inside an
/// `impl` block of a type with a field `$field: HttpRuns<$framework>`, to `event_id`,
/// `customer_id`, `tenant_id`, `trust_inbound`, `run_id_header`, `skip`,
/// `runs_for_unmatched` and `classify`.
#[macro_export]
macro_rules! http_runs_builder {
    ($framework:ty, $field:ident) => {
        /// How to find the business event id (ticket, order, conversation) in a request: a
        /// closure over the request head, or a ready-made extractor (`extract::header`,
        /// `extract::query`, path parameters). Without one, the event id is the request's
        /// `x-request-id`, then the run id.
        pub fn event_id(mut self, extractor: impl $crate::adapter::Extract<$framework>) -> Self {
            self.$field = self.$field.event_id(extractor);
            self
        }

        /// How to find the customer the request's cost belongs to. Without one (or when it
        /// finds nothing) the customer stays unset.
        pub fn customer_id(mut self, extractor: impl $crate::adapter::Extract<$framework>) -> Self {
            self.$field = self.$field.customer_id(extractor);
            self
        }

        /// How to find the tenant.
        pub fn tenant_id(mut self, extractor: impl $crate::adapter::Extract<$framework>) -> Self {
            self.$field = self.$field.tenant_id(extractor);
            self
        }

        /// Whether callers are trusted to say whose work a request is (default **false**).
        ///
        /// Untrusted (the default, right for anything a client on the internet can reach), a
        /// run continues the caller's trace and records the caller's `botanu.run_id` as its
        /// `parent_run_id`, but its event, customer and tenant come only from the app's
        /// extractors (then `x-request-id`, then the run id, for the event): inbound
        /// `botanu.*` baggage is dropped, so a client cannot move its cost to another
        /// customer.
        ///
        /// Trusted (`true`: internal services called only by the app's own services, e.g.
        /// behind a service mesh), inbound baggage also fills the ids the app has **no**
        /// extractor for, so one run chain crosses services. An extractor that finds nothing
        /// never falls back to inbound baggage. (Trust by the peer's address is not offered:
        /// behind a load balancer every peer is on a private network.)
        pub fn trust_inbound(mut self, trust: bool) -> Self {
            self.$field = self.$field.trust_inbound(trust);
            self
        }

        /// Whether responses carry `x-botanu-run-id` (default true).
        pub fn run_id_header(mut self, enabled: bool) -> Self {
            self.$field = self.$field.run_id_header(enabled);
            self
        }

        /// Requests for which `predicate` is true are served without a run (nothing recorded,
        /// nothing exported): health checks, metrics endpoints, readiness probes. A predicate
        /// that panics skips (the panic is logged).
        pub fn skip(
            mut self,
            predicate: impl Fn(&<$framework as $crate::adapter::Framework>::Request) -> bool
                + Send
                + Sync
                + 'static,
        ) -> Self {
            self.$field = self.$field.skip(predicate);
            self
        }

        /// Whether requests that match no route are runs (default false where the route is
        /// known: 404 probes such as `/wp-login.php` or `/.env` are not business work). Set it
        /// where no route is known yet, e.g. a layer wrapping the whole router from outside.
        pub fn runs_for_unmatched(mut self, runs: bool) -> Self {
            self.$field = self.$field.runs_for_unmatched(runs);
            self
        }

        /// How a response ends the run (default `ServerErrorsAsFailures`: a 5xx fails it with
        /// `error.type` = the status code; `StatusInRangeAsFailures::new(400..=599)` counts
        /// client errors too, or implement `botanu_core::adapter::classify::ClassifyResponse`). A body
        /// error always fails the run (`error.type` = the error's type name), and so does a
        /// service error with no response at all.
        pub fn classify(
            mut self,
            classifier: impl $crate::adapter::classify::ClassifyResponse,
        ) -> Self {
            self.$field = self.$field.classify(classifier);
            self
        }
    };
}

/// The builder methods every outbound client integration offers, written once: expands, inside
/// an `impl` block of a type with a field `$field: ClientOptions` (feature `outbound`), to
/// `with_policy`, `with_client_spans` and `with_llm_endpoints`.
#[macro_export]
macro_rules! client_options_builder {
    ($field:ident) => {
        /// Uses `policy` instead of the process-wide one
        /// ([`PropagationPolicy::global`]($crate::propagation::PropagationPolicy::global)).
        pub fn with_policy(mut self, policy: $crate::propagation::PropagationPolicy) -> Self {
            self.$field = self.$field.with_policy(policy);
            self
        }

        /// Whether to record a client span per request (default true; off also turns LLM call
        /// recognition off, leaving propagation only).
        pub fn with_client_spans(mut self, enabled: bool) -> Self {
            self.$field = self.$field.with_client_spans(enabled);
            self
        }

        /// Which hosts are LLM providers whose calls are recognised (default
        /// [`LlmEndpoints::default`]($crate::llm::LlmEndpoints::default);
        /// [`LlmEndpoints::none`]($crate::llm::LlmEndpoints::none) turns recognition off).
        pub fn with_llm_endpoints(mut self, endpoints: $crate::llm::LlmEndpoints) -> Self {
            self.$field = self.$field.with_llm_endpoints(endpoints);
            self
        }
    };
}
