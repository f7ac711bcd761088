//! Names on the wire, in one leaf module: the baggage keys and span attribute names of the
//! reference Python SDK (a Python and a Rust service continue each other's runs), and the
//! events a run writes.

/// Baggage keys (the reference SDK's wire names).
pub mod keys {
    /// `botanu.run_id`
    pub const RUN_ID: &str = "botanu.run_id";
    /// `botanu.workflow`
    pub const WORKFLOW: &str = "botanu.workflow";
    /// `botanu.event_id`
    pub const EVENT_ID: &str = "botanu.event_id";
    /// `botanu.customer_id`
    pub const CUSTOMER_ID: &str = "botanu.customer_id";
    /// `botanu.environment`
    pub const ENVIRONMENT: &str = "botanu.environment";
    /// `botanu.tenant_id`
    pub const TENANT_ID: &str = "botanu.tenant_id";
    /// `botanu.parent_run_id`
    pub const PARENT_RUN_ID: &str = "botanu.parent_run_id";
    /// `botanu.root_run_id`
    pub const ROOT_RUN_ID: &str = "botanu.root_run_id";
    /// `botanu.attempt`
    pub const ATTEMPT: &str = "botanu.attempt";
    /// `botanu.retry_of_run_id`
    pub const RETRY_OF_RUN_ID: &str = "botanu.retry_of_run_id";
    /// `botanu.deadline` (Unix milliseconds)
    pub const DEADLINE: &str = "botanu.deadline";
    /// `botanu.cancelled` (`true`)
    pub const CANCELLED: &str = "botanu.cancelled";
    /// `botanu.step`
    pub const STEP: &str = "botanu.step";

    /// The keys [`RunContextEnricher`](crate::RunContextEnricher) copies onto every span,
    /// in the reference order.
    pub const ENRICHED: [&str; 7] = [
        RUN_ID,
        WORKFLOW,
        EVENT_ID,
        CUSTOMER_ID,
        ENVIRONMENT,
        TENANT_ID,
        PARENT_RUN_ID,
    ];

    /// Keys that describe one run's place in a retry chain. A run that does not write them
    /// removes an outer run's values, so they never describe the wrong run.
    pub(crate) const RUN_SCOPED: [&str; 5] =
        [ROOT_RUN_ID, ATTEMPT, RETRY_OF_RUN_ID, DEADLINE, CANCELLED];

    /// The prefix of every botanu key.
    pub const PREFIX: &str = "botanu.";
}

/// Span attribute names of a run that are not also baggage keys.
pub mod attr {
    /// `botanu.run.start_time`: ISO-8601, `+00:00` offset.
    pub const START_TIME: &str = "botanu.run.start_time";
    /// `botanu.workflow.version`.
    pub const WORKFLOW_VERSION: &str = "botanu.workflow.version";
    /// `botanu.run.deadline_ts`: float Unix seconds.
    pub const DEADLINE_TS: &str = "botanu.run.deadline_ts";
    /// `botanu.run.cancelled`: bool.
    pub const CANCELLED: &str = "botanu.run.cancelled";
    /// `botanu.run.cancelled_at`: float Unix seconds.
    pub const CANCELLED_AT: &str = "botanu.run.cancelled_at";
    /// `botanu.run.duration_ms`: float milliseconds.
    pub const DURATION_MS: &str = "botanu.run.duration_ms";
    /// `botanu.outcome.reason_code`.
    pub const OUTCOME_REASON_CODE: &str = "botanu.outcome.reason_code";
    /// `botanu.outcome.error_class`.
    pub const OUTCOME_ERROR_CLASS: &str = "botanu.outcome.error_class";
    /// `botanu.outcome.value_type`.
    pub const OUTCOME_VALUE_TYPE: &str = "botanu.outcome.value_type";
    /// `botanu.outcome.value_amount`: float.
    pub const OUTCOME_VALUE_AMOUNT: &str = "botanu.outcome.value_amount";
    /// `botanu.outcome.confidence`: float.
    pub const OUTCOME_CONFIDENCE: &str = "botanu.outcome.confidence";
}

/// Event names a run writes on its span.
pub mod events {
    /// Added when a run starts.
    pub const RUN_STARTED: &str = "botanu.run.started";
    /// Added when a run ends.
    pub const RUN_COMPLETED: &str = "botanu.run.completed";
    /// Added by [`emit_outcome`](crate::emit_outcome).
    pub const OUTCOME_EMITTED: &str = "botanu.outcome_emitted";
}

/// The W3C Baggage header.
pub(crate) const BAGGAGE_HEADER: &str = "baggage";

/// Instrumentation scopes of botanu's own spans.
pub(crate) mod scopes {
    /// Run spans and outbound client spans.
    pub(crate) const RUN: &str = "botanu_sdk";
    /// LLM and tool spans.
    pub(crate) const GEN_AI: &str = "botanu.gen_ai";
    /// Database spans.
    pub(crate) const DATA: &str = "botanu.data";
    /// Storage spans.
    pub(crate) const STORAGE: &str = "botanu.storage";
    /// Messaging spans.
    pub(crate) const MESSAGING: &str = "botanu.messaging";
}
