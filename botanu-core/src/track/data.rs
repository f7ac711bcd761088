//! Database, storage and messaging calls (named as in the reference Python SDK): spans whose sizes
//! and counts let the cost of data work be attributed to runs.
//!
//! ```
//! use botanu_core::data::{track_db_operation, DbResult};
//!
//! let q = track_db_operation("postgres", "select").set_database("support");
//! q.set_table("tickets", Some("public"))
//!     .set_result(DbResult { rows_returned: 20, ..Default::default() });
//! q.finish();
//! ```

use opentelemetry::trace::SpanKind;
use opentelemetry::Value;

use crate::lifecycle::error_class_of;
use crate::track::capture::{prepare, DEFAULT_MAX_CHARS};
use crate::track::{metadata_key, TrackedSpan};

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn normalize(system: &str, aliases: &[(&str, &str)]) -> String {
    let s = system.trim().to_ascii_lowercase();
    aliases
        .iter()
        .find(|(alias, _)| *alias == s)
        .map_or(s.clone(), |(_, canonical)| (*canonical).to_owned())
}

const DB_ALIASES: &[(&str, &str)] = &[
    ("postgres", "postgresql"),
    ("pg", "postgresql"),
    ("sqlserver", "mssql"),
    ("mongo", "mongodb"),
];
const STORAGE_ALIASES: &[(&str, &str)] = &[
    ("aws_s3", "s3"),
    ("google_cloud_storage", "gcs"),
    ("blob", "azure_blob"),
];
const MESSAGING_ALIASES: &[(&str, &str)] = &[
    ("aws_sqs", "sqs"),
    ("google_pubsub", "pubsub"),
    ("azure_servicebus", "servicebus"),
];

/// The canonical database system (`postgres`/`pg` → `postgresql`, `mongo` → `mongodb`, …).
pub fn normalize_db_system(system: &str) -> String {
    normalize(system, DB_ALIASES)
}

/// The canonical storage system (`aws_s3` → `s3`, `blob` → `azure_blob`, …).
pub fn normalize_storage_system(system: &str) -> String {
    normalize(system, STORAGE_ALIASES)
}

/// The canonical messaging system (`aws_sqs` → `sqs`, `google_pubsub` → `pubsub`, …).
pub fn normalize_messaging_system(system: &str) -> String {
    normalize(system, MESSAGING_ALIASES)
}

/// Counts of a database call; zero ones are not written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbResult {
    /// `botanu.data.rows_returned`
    pub rows_returned: u64,
    /// `botanu.data.rows_affected`
    pub rows_affected: u64,
    /// `botanu.data.bytes_read`
    pub bytes_read: u64,
    /// `botanu.data.bytes_written`
    pub bytes_written: u64,
}

macro_rules! common_methods {
    ($metadata_prefix:literal) => {
        /// The cloud provider (`botanu.cloud_provider`, lower-cased).
        pub fn set_cloud_provider(self, provider: &str) -> Self {
            self.span
                .set("botanu.cloud_provider", provider.to_ascii_lowercase());
            self
        }

        /// Bytes sent plus received (`botanu.bytes_transferred`).
        pub fn set_bytes_transferred(&self, sent: u64, received: u64) -> &Self {
            self.span
                .set("botanu.bytes_transferred", i(sent.saturating_add(received)));
            self
        }

        /// Records an error (its type name, an exception event, error status).
        pub fn set_error<E: std::fmt::Display + ?Sized + 'static>(&self, error: &E) -> &Self {
            self.span
                .set_error(&error_class_of::<E>(), &error.to_string());
            self
        }

        #[doc = concat!("Another attribute, written as `", $metadata_prefix, "<key>` unless it starts with `botanu.`.")]
        pub fn add_metadata(&self, key: &str, value: impl Into<Value>) -> &Self {
            self.span.set(metadata_key($metadata_prefix, key, false), value);
            self
        }

        /// Ends the span now (writing the duration in ms).
        pub fn finish(&self) {
            self.span.end();
        }
    };
}

/// A database call: a Client span `db.{system}.{operation}`.
#[derive(Debug, Clone)]
#[must_use = "the call is recorded until it is finished or dropped"]
pub struct DbCall {
    span: TrackedSpan,
}

/// Starts tracking a database operation (`SELECT`, `INSERT`, …) on `system`.
pub fn track_db_operation(system: &str, operation: &str) -> DbCall {
    let system = normalize_db_system(system);
    let attributes = vec![
        opentelemetry::KeyValue::new("db.system", system.clone()),
        opentelemetry::KeyValue::new("db.operation", operation.to_ascii_uppercase()),
        opentelemetry::KeyValue::new("botanu.vendor", system.clone()),
    ];
    DbCall {
        span: TrackedSpan::start(
            crate::semconv::scopes::DATA,
            format!("db.{system}.{}", operation.to_ascii_lowercase()),
            SpanKind::Client,
            attributes,
            Some("botanu.data.duration_ms"),
            "botanu.data.error",
        ),
    }
}

impl DbCall {
    /// The database name (`db.name`).
    pub fn set_database(self, database: &str) -> Self {
        self.span.set("db.name", database.to_owned());
        self
    }

    /// Row and byte counts.
    pub fn set_result(&self, r: DbResult) -> &Self {
        for (key, n) in [
            ("botanu.data.rows_returned", r.rows_returned),
            ("botanu.data.rows_affected", r.rows_affected),
            ("botanu.data.bytes_read", r.bytes_read),
            ("botanu.data.bytes_written", r.bytes_written),
        ] {
            if n > 0 {
                self.span.set(key, i(n));
            }
        }
        self
    }

    /// The table (`db.collection.name`) and schema (`db.schema`).
    pub fn set_table(&self, table: &str, schema: Option<&str>) -> &Self {
        self.span.set("db.collection.name", table.to_owned());
        if let Some(s) = schema {
            self.span.set("db.schema", s.to_owned());
        }
        self
    }

    /// A warehouse query id (`botanu.warehouse.query_id`).
    pub fn set_query_id(&self, id: &str) -> &Self {
        self.span.set("botanu.warehouse.query_id", id.to_owned());
        self
    }

    /// Bytes a warehouse scanned (`botanu.warehouse.bytes_scanned`).
    pub fn set_bytes_scanned(&self, bytes: u64) -> &Self {
        self.span.set("botanu.warehouse.bytes_scanned", i(bytes));
        self
    }

    /// Retrieved text, if captured: PII-scrubbed, cut to 4096 characters
    /// (`botanu.eval.retrieval_content`).
    pub fn set_retrieval_content(&self, text: &str) -> &Self {
        if let Some(t) = prepare(text, DEFAULT_MAX_CHARS) {
            self.span.set("botanu.eval.retrieval_content", t);
        }
        self
    }

    common_methods!("botanu.data.");
}

/// An object-storage call: a Client span `storage.{system}.{operation}`.
#[derive(Debug, Clone)]
#[must_use = "the call is recorded until it is finished or dropped"]
pub struct StorageCall {
    span: TrackedSpan,
}

/// Starts tracking a storage operation (`GET`, `PUT`, `LIST`, …) on `system`.
pub fn track_storage_operation(system: &str, operation: &str) -> StorageCall {
    let system = normalize_storage_system(system);
    let attributes = vec![
        opentelemetry::KeyValue::new("botanu.storage.system", system.clone()),
        opentelemetry::KeyValue::new("botanu.storage.operation", operation.to_ascii_uppercase()),
        opentelemetry::KeyValue::new("botanu.vendor", system.clone()),
    ];
    StorageCall {
        span: TrackedSpan::start(
            crate::semconv::scopes::STORAGE,
            format!("storage.{system}.{}", operation.to_ascii_lowercase()),
            SpanKind::Client,
            attributes,
            Some("botanu.storage.duration_ms"),
            "botanu.storage.error",
        ),
    }
}

impl StorageCall {
    /// Object and byte counts (under `botanu.data.*`, as in the reference SDK).
    pub fn set_result(&self, objects_count: u64, bytes_read: u64, bytes_written: u64) -> &Self {
        for (key, n) in [
            ("botanu.data.objects_count", objects_count),
            ("botanu.data.bytes_read", bytes_read),
            ("botanu.data.bytes_written", bytes_written),
        ] {
            if n > 0 {
                self.span.set(key, i(n));
            }
        }
        self
    }

    /// The bucket (`botanu.storage.bucket`).
    pub fn set_bucket(&self, bucket: &str) -> &Self {
        self.span.set("botanu.storage.bucket", bucket.to_owned());
        self
    }

    common_methods!("botanu.storage.");
}

/// A messaging call: a Producer (`publish`, `send`) or Consumer span
/// `messaging.{system}.{operation}`.
#[derive(Debug, Clone)]
#[must_use = "the call is recorded until it is finished or dropped"]
pub struct MessagingCall {
    span: TrackedSpan,
}

/// Starts tracking a messaging operation (`publish`, `consume`, …) on `destination`.
pub fn track_messaging_operation(
    system: &str,
    operation: &str,
    destination: &str,
) -> MessagingCall {
    let system = normalize_messaging_system(system);
    let kind = if operation == "publish" || operation == "send" {
        SpanKind::Producer
    } else {
        SpanKind::Consumer
    };
    let attributes = vec![
        opentelemetry::KeyValue::new("messaging.system", system.clone()),
        opentelemetry::KeyValue::new("messaging.operation", operation.to_ascii_lowercase()),
        opentelemetry::KeyValue::new("messaging.destination.name", destination.to_owned()),
        opentelemetry::KeyValue::new("botanu.vendor", system.clone()),
    ];
    MessagingCall {
        span: TrackedSpan::start(
            crate::semconv::scopes::MESSAGING,
            format!("messaging.{system}.{}", operation.to_ascii_lowercase()),
            kind,
            attributes,
            Some("botanu.messaging.duration_ms"),
            "botanu.messaging.error",
        ),
    }
}

impl MessagingCall {
    /// Message and byte counts.
    pub fn set_result(&self, message_count: u64, bytes_transferred: u64) -> &Self {
        if message_count > 0 {
            self.span
                .set("botanu.messaging.message_count", i(message_count));
        }
        if bytes_transferred > 0 {
            self.span
                .set("botanu.messaging.bytes_transferred", i(bytes_transferred));
        }
        self
    }

    common_methods!("botanu.messaging.");
}
