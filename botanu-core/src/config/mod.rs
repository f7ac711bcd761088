//! [`BotanuConfig`]: configuration from the environment (reference names and defaults),
//! overridden by code, validated into what the exporter uses.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use crate::Error;

/// The longest string attribute value botanu exports by default, in bytes
/// (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` changes it).
pub(crate) const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT: usize = 8192;

/// Default OTLP/HTTP endpoint when nothing is configured.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// Endpoint used when only `BOTANU_API_KEY` is set.
pub(crate) const BOTANU_INGEST_ENDPOINT: &str = "https://ingest.botanu.ai";
const TRACES_PATH: &str = "/v1/traces";

/// botanu's configuration.
///
/// [`BotanuConfig::from_env`] reads the environment (the reference SDK's names); the `with_*`
/// setters override it; [`enable`](crate::enable) and
/// [`BotanuBuilder::install`](crate::BotanuBuilder::install) validate the result. The API key
/// never appears in `Debug` output or logs.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `BOTANU_DISABLED` | `true`/`1`/`yes`: install nothing, every API a no-op | off |
/// | `BOTANU_API_KEY` | bearer token, sent only to botanu hosts and loopback | none |
/// | `BOTANU_COLLECTOR_ENDPOINT` | OTLP/HTTP base endpoint (`/v1/traces` appended) | |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full traces endpoint, used as is | |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base endpoint (`/v1/traces` appended) | `http://localhost:4318`, or `https://ingest.botanu.ai` with an API key |
/// | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | `k=v,k2=v2` (values percent-decoded); the first set wins | none |
/// | `BOTANU_SERVICE_NAME`, `OTEL_SERVICE_NAME` | `service.name` | SDK default |
/// | `OTEL_SERVICE_VERSION`, `OTEL_SERVICE_NAMESPACE` | `service.version`, `service.namespace` | none |
/// | `OTEL_RESOURCE_ATTRIBUTES` | more resource attributes (read by the SDK; they win over detected ones) | none |
/// | `BOTANU_AUTO_DETECT_RESOURCES` | detect `service.instance.id`, `host.*`, `os.type`, `process.pid` and `process.runtime.*` (not the command line, which may carry secrets) | `true` |
/// | `BOTANU_ENVIRONMENT`, `OTEL_DEPLOYMENT_ENVIRONMENT`, `DEPLOYMENT_ENVIRONMENT` | `deployment.environment`, and the runs' environment (first set wins) | `production` |
/// | `BOTANU_CONTENT_CAPTURE_RATE` | share of LLM calls whose content is captured, 0–1 | `0.1` |
/// | `BOTANU_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_QUEUE_SIZE` | export queue bound (spans) | 65536 |
/// | `BOTANU_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per export | 512 |
/// | `OTEL_BSP_SCHEDULE_DELAY` | ms between exports | 5000 |
/// | `BOTANU_EXPORT_TIMEOUT_MILLIS`, `OTEL_BSP_EXPORT_TIMEOUT` | export timeout (retries included), ms | 30000 |
/// | `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | longest string attribute value in botanu's export (cut at a character boundary; the app's own exporters are not affected), bytes | 8192 |
/// | `BOTANU_SHUTDOWN_TIMEOUT_MILLIS` | how long `shutdown()` waits for the queue; what is still queued then is counted as lost, ms | the export timeout |
/// | `BOTANU_MAX_QUEUE_BYTES` | export queue bound in bytes (about what the queued spans hold in memory); spans beyond it are dropped and counted | 67108864 (64 MiB) |
/// | `BOTANU_MAX_EXPORT_REQUEST_BYTES` | largest export request body; a batch that would be larger is split | 4194304 (4 MiB) |
/// | `BOTANU_MAX_CONCURRENT_EXPORTS` | export requests in flight at once (a slow collector does not cap delivery) | 4 |
/// | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | `gzip` or `none` | gzip for endpoints off this machine, none for loopback |
/// | `BOTANU_GZIP_LEVEL` | gzip level, 1 (fast) – 9 (small) | 1 |
/// | `BOTANU_PII_SCRUB_ENABLED` | scrub captured content before it is written (`false` turns it off) | `true` |
/// | `BOTANU_PII_SCRUB_DISABLE_PATTERNS` | built-in categories to skip, comma-separated (e.g. `ipv4,email`) | none |
/// | `BOTANU_PII_SCRUB_REPLACEMENT` | replacement text, verbatim | `[REDACTED]` |
/// | `BOTANU_PROPAGATE_HOSTS` | more hosts that receive `botanu.*` baggage on outbound calls, comma-separated (`api.internal.example`, `*.corp.example`); read by [`PropagationPolicy::from_env`](crate::propagation::PropagationPolicy::from_env) | loopback, private addresses, single-label names, `*.local`, `*.internal`, `*.svc`, `*.cluster.local` |
/// | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` | PEM file of extra trusted CA certificates (feature `tls`) | system roots |
///
/// `https://` endpoints need the opt-in `tls` feature (reqwest's rustls stack; no OpenSSL).
/// Without it, `install()` returns an error naming the endpoint variable.
#[derive(Clone, PartialEq)]
pub struct BotanuConfig {
    pub(crate) disabled: bool,
    pub(crate) export: bool,
    pub(crate) api_key: Option<String>,
    /// botanu's own endpoint (`BOTANU_COLLECTOR_ENDPOINT` or code): (value, where it came from)
    /// — the source names the variable in errors.
    pub(crate) endpoint: Option<(String, EndpointSource)>,
    /// `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`: botanu's only in greenfield (see
    /// [`Destination`]).
    pub(crate) otel_endpoint: Option<(String, EndpointSource)>,
    /// Headers set in code.
    pub(crate) headers: BTreeMap<String, String>,
    /// `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` (or why they are invalid): botanu's only in
    /// greenfield.
    pub(crate) otel_headers: Option<Result<BTreeMap<String, String>, Error>>,
    /// The variable `otel_headers` came from (errors name it).
    pub(crate) otel_headers_var: &'static str,
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) service_namespace: Option<String>,
    pub(crate) auto_detect_resources: bool,
    pub(crate) environment: String,
    pub(crate) content_capture_rate: f64,
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) schedule_delay: Duration,
    pub(crate) export_timeout: Duration,
    /// How long `shutdown()` waits for the queue to drain; `None`: the export timeout.
    pub(crate) shutdown_timeout: Option<Duration>,
    /// The longest string attribute value botanu exports, in bytes.
    pub(crate) attribute_value_length_limit: usize,
    /// `None`: gzip for endpoints off this machine, none for loopback.
    pub(crate) gzip: Option<bool>,
    pub(crate) gzip_level: u32,
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_concurrent_exports: usize,
    pub(crate) certificate: Option<std::path::PathBuf>,
    pub(crate) pii_scrub_enabled: bool,
    pub(crate) pii_disabled_patterns: Vec<String>,
    pub(crate) pii_custom_patterns: Vec<(String, String)>,
    pub(crate) pii_replacement: String,
    /// Invalid environment values found by `from_env`, reported by `validate`.
    pub(crate) env_errors: Vec<Error>,
}

/// Where the endpoint came from: decides whether `/v1/traces` is appended and which variable
/// an error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointSource {
    Code,
    BotanuCollector,
    OtelTraces,
    OtelBase,
}

impl EndpointSource {
    fn name(self) -> &'static str {
        match self {
            EndpointSource::Code => "endpoint (set in code)",
            EndpointSource::BotanuCollector => "BOTANU_COLLECTOR_ENDPOINT",
            EndpointSource::OtelTraces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            EndpointSource::OtelBase => "OTEL_EXPORTER_OTLP_ENDPOINT",
        }
    }
}

impl Default for BotanuConfig {
    /// The defaults, ignoring the environment.
    fn default() -> Self {
        BotanuConfig {
            disabled: false,
            export: true,
            api_key: None,
            endpoint: None,
            otel_endpoint: None,
            headers: BTreeMap::new(),
            otel_headers: None,
            otel_headers_var: "OTEL_EXPORTER_OTLP_HEADERS",
            service_name: None,
            service_version: None,
            service_namespace: None,
            auto_detect_resources: true,
            environment: "production".to_owned(),
            content_capture_rate: 0.1,
            max_queue_size: 65_536,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_millis(5_000),
            export_timeout: Duration::from_millis(30_000),
            shutdown_timeout: None,
            attribute_value_length_limit: DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT,
            gzip: None,
            gzip_level: 1,
            max_queue_bytes: 64 << 20,
            max_request_bytes: 4 << 20,
            max_concurrent_exports: 4,
            certificate: None,
            pii_scrub_enabled: true,
            pii_disabled_patterns: Vec::new(),
            pii_custom_patterns: Vec::new(),
            pii_replacement: "[REDACTED]".to_owned(),
            env_errors: Vec::new(),
        }
    }
}

impl fmt::Debug for BotanuConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are secrets more often than not (`dd-api-key`, `x-honeycomb-team`):
        // names only.
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        let otel_headers: Option<Vec<&str>> = match &self.otel_headers {
            Some(Ok(h)) => Some(h.keys().map(String::as_str).collect()),
            _ => None,
        };
        f.debug_struct("BotanuConfig")
            .field("disabled", &self.disabled)
            .field("export", &self.export)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field(
                "endpoint",
                &self.endpoint.as_ref().map(|(e, _)| strip_credentials(e).0),
            )
            .field(
                "otel_endpoint",
                &self
                    .otel_endpoint
                    .as_ref()
                    .map(|(e, _)| strip_credentials(e).0),
            )
            .field("header_names", &headers)
            .field("otel_header_names", &otel_headers)
            .field("service_name", &self.service_name)
            .field("environment", &self.environment)
            .field("content_capture_rate", &self.content_capture_rate)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_concurrent_exports", &self.max_concurrent_exports)
            .field("gzip", &self.gzip)
            .field("gzip_level", &self.gzip_level)
            .field("schedule_delay", &self.schedule_delay)
            .field("export_timeout", &self.export_timeout)
            .finish()
    }
}

impl BotanuConfig {
    /// Reads the process environment. Invalid values are reported by `enable()`/`install()`.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration from any env-like lookup (a map in tests, a config service, …).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut c = BotanuConfig::default();
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();

        c.disabled = get("BOTANU_DISABLED").is_some_and(|v| parse_bool(&v));
        c.api_key = get("BOTANU_API_KEY").map(|v| v.trim().to_owned());
        c.endpoint = get("BOTANU_COLLECTOR_ENDPOINT")
            .map(|v| (v.trim().to_owned(), EndpointSource::BotanuCollector));
        c.otel_endpoint = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                EndpointSource::OtelTraces,
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", EndpointSource::OtelBase),
        ]
        .into_iter()
        .find_map(|(k, src)| get(k).map(|v| (v.trim().to_owned(), src)));
        if let Some(raw) = get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .map(|v| ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", v))
            .or_else(|| {
                get("OTEL_EXPORTER_OTLP_HEADERS").map(|v| ("OTEL_EXPORTER_OTLP_HEADERS", v))
            })
        {
            c.otel_headers = Some(parse_headers(&raw.1).map_err(|msg| Error::config(raw.0, msg)));
            c.otel_headers_var = raw.0;
        }
        c.service_name = var("BOTANU_SERVICE_NAME").or_else(|| get("OTEL_SERVICE_NAME"));
        c.service_version = get("OTEL_SERVICE_VERSION");
        c.service_namespace = get("OTEL_SERVICE_NAMESPACE");
        if let Some(v) = get("BOTANU_AUTO_DETECT_RESOURCES") {
            c.auto_detect_resources =
                !matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no");
        }
        c.environment = resolve_environment(|k| get(k));
        if let Some(v) = get("BOTANU_CONTENT_CAPTURE_RATE") {
            match v.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => c.content_capture_rate = r,
                _ => errors.push(Error::config(
                    "BOTANU_CONTENT_CAPTURE_RATE",
                    format!("must be a number in [0, 1], got {v:?}"),
                )),
            }
        }
        let mut number = |names: &[&'static str], min: u64| -> Option<u64> {
            let (name, v) = names.iter().find_map(|n| get(n).map(|v| (*n, v)))?;
            match v.trim().parse::<u64>() {
                Ok(n) if n >= min => Some(n),
                _ => {
                    errors.push(Error::config(
                        name,
                        format!("must be a whole number ≥ {min}, got {v:?}"),
                    ));
                    None
                }
            }
        };
        if let Some(n) = number(&["BOTANU_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE"], 1) {
            c.max_queue_size = n as usize;
        }
        if let Some(n) = number(
            &[
                "BOTANU_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            ],
            1,
        ) {
            c.max_export_batch_size = n as usize;
        }
        if let Some(n) = number(&["OTEL_BSP_SCHEDULE_DELAY"], 1) {
            c.schedule_delay = Duration::from_millis(n);
        }
        if let Some(n) = number(
            &["BOTANU_EXPORT_TIMEOUT_MILLIS", "OTEL_BSP_EXPORT_TIMEOUT"],
            1,
        ) {
            c.export_timeout = Duration::from_millis(n);
        }
        if let Some(n) = number(&["BOTANU_SHUTDOWN_TIMEOUT_MILLIS"], 1) {
            c.shutdown_timeout = Some(Duration::from_millis(n));
        }
        if let Some(n) = number(
            &[
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ],
            1,
        ) {
            c.attribute_value_length_limit = n as usize;
        }
        if let Some(n) = number(&["BOTANU_GZIP_LEVEL"], 0) {
            c.gzip_level = n.min(u32::MAX.into()) as u32;
        }
        if let Some(n) = number(&["BOTANU_MAX_QUEUE_BYTES"], 1) {
            c.max_queue_bytes = n as usize;
        }
        if let Some(n) = number(&["BOTANU_MAX_EXPORT_REQUEST_BYTES"], 1) {
            c.max_request_bytes = n as usize;
        }
        if let Some(n) = number(&["BOTANU_MAX_CONCURRENT_EXPORTS"], 1) {
            c.max_concurrent_exports = n as usize;
        }
        if let Some((name, v)) = [
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ]
        .iter()
        .find_map(|n| get(n).map(|v| (*n, v)))
        {
            match v.trim().to_ascii_lowercase().as_str() {
                "gzip" => c.gzip = Some(true),
                "none" => c.gzip = Some(false),
                _ => errors.push(Error::config(
                    name,
                    format!("must be gzip or none, got {v:?}"),
                )),
            }
        }
        if let Some(v) = get("BOTANU_PII_SCRUB_ENABLED") {
            c.pii_scrub_enabled = parse_bool(&v);
        }
        if let Some(v) = get("BOTANU_PII_SCRUB_DISABLE_PATTERNS") {
            c.pii_disabled_patterns = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = var("BOTANU_PII_SCRUB_REPLACEMENT") {
            c.pii_replacement = v;
        }
        c.certificate = get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")
            .or_else(|| get("OTEL_EXPORTER_OTLP_CERTIFICATE"))
            .map(std::path::PathBuf::from);
        c.env_errors = errors;
        c
    }

    /// Whether the resource gets detected attributes (`BOTANU_AUTO_DETECT_RESOURCES`, default
    /// `true`): `service.instance.id` (one per process), `host.id`, `host.name`, `host.arch`,
    /// `os.type`, `process.pid`, `process.runtime.*`, from the OpenTelemetry resource
    /// detectors. What the app sets (`OTEL_RESOURCE_ATTRIBUTES`, the service name, version and
    /// namespace) wins over what is detected.
    pub fn with_auto_detect_resources(mut self, detect: bool) -> Self {
        self.auto_detect_resources = detect;
        self
    }

    /// Turns botanu off (`BOTANU_DISABLED`).
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }
    /// Whether spans are exported (default `true`). With `false` botanu still opens runs and
    /// creates and enriches every span, but hands nothing to an exporter and opens no
    /// connection: for local development, tests, and measuring the cost of run tracking alone.
    ///
    /// ```
    /// let config = botanu_core::BotanuConfig::default().with_export(false);
    /// assert!(!config.exports());
    /// ```
    pub fn with_export(mut self, export: bool) -> Self {
        self.export = export;
        self
    }
    /// The botanu API key (`BOTANU_API_KEY`).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// The OTLP/HTTP base endpoint; `/v1/traces` is appended unless already there.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some((endpoint.into(), EndpointSource::Code));
        self
    }
    /// An extra header on export requests (replaces one of the same name).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
    /// `service.name`.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }
    /// The deployment environment, used for the resource and as the runs' environment.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }
    /// Share of LLM calls whose content is captured, in `[0, 1]` (checked at install).
    pub fn with_content_capture_rate(mut self, rate: f64) -> Self {
        self.content_capture_rate = rate;
        self
    }
    /// Bound of the export queue, in spans; spans beyond it are dropped, never blocking.
    pub fn with_max_queue_size(mut self, n: usize) -> Self {
        self.max_queue_size = n;
        self
    }
    /// Spans per export request.
    pub fn with_max_export_batch_size(mut self, n: usize) -> Self {
        self.max_export_batch_size = n;
        self
    }
    /// Time between scheduled exports.
    pub fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }
    /// Timeout of one export.
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }
    /// How long [`Botanu::shutdown`](crate::Botanu::shutdown) waits for queued spans to be
    /// exported (default: the export timeout, so an export under way can finish). Spans still
    /// queued then are counted as lost.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }
    /// See [`with_shutdown_timeout`](Self::with_shutdown_timeout).
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout.unwrap_or(self.export_timeout)
    }

    /// Gzip-compresses export requests (`true`) or never (`false`). Without it: gzip for
    /// endpoints off this machine, none for a collector on loopback (compression costs more
    /// CPU than the rest of the export, and saves nothing on loopback).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = Some(gzip);
        self
    }
    /// gzip level, 1 (fastest, the default) to 9 (smallest).
    pub fn with_gzip_level(mut self, level: u32) -> Self {
        self.gzip_level = level;
        self
    }
    /// Bound of the export queue in bytes: about what the queued spans (and those being
    /// exported) hold in memory. Spans beyond it are dropped and counted, never blocking.
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }
    /// The largest export request body, in bytes; a batch that would be larger is sent as
    /// several requests (a single span larger than this goes alone).
    pub fn with_max_export_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }
    /// How many export requests may be in flight at once (each on its own export thread).
    pub fn with_max_concurrent_exports(mut self, n: usize) -> Self {
        self.max_concurrent_exports = n;
        self
    }

    /// A PEM file of CA certificates to trust in addition to the system's (feature `tls`).
    pub fn with_certificate(mut self, pem_file: impl Into<std::path::PathBuf>) -> Self {
        self.certificate = Some(pem_file.into());
        self
    }

    /// Whether captured content is PII-scrubbed before it is written (default true).
    pub fn with_pii_scrub(mut self, enabled: bool) -> Self {
        self.pii_scrub_enabled = enabled;
        self
    }
    /// Skips a built-in PII category (see [`crate::pii`]).
    pub fn without_pii_pattern(mut self, category: impl Into<String>) -> Self {
        self.pii_disabled_patterns.push(category.into());
        self
    }
    /// Adds a custom PII pattern (a `regex` crate expression), applied after the built-ins.
    pub fn with_pii_pattern(mut self, name: impl Into<String>, regex: impl Into<String>) -> Self {
        self.pii_custom_patterns.push((name.into(), regex.into()));
        self
    }
    /// The text that replaces PII (inserted literally).
    pub fn with_pii_replacement(mut self, replacement: impl Into<String>) -> Self {
        self.pii_replacement = replacement.into();
        self
    }
    /// The scrubber this configuration describes (`None` when scrubbing is off).
    pub fn scrubber(&self) -> Option<crate::pii::Scrubber> {
        self.pii_scrub_enabled.then(|| {
            crate::pii::Scrubber::default()
                .without(self.pii_disabled_patterns.iter().cloned())
                .with_patterns(self.pii_custom_patterns.iter().cloned())
                .replacement(self.pii_replacement.clone())
        })
    }

    /// Whether botanu is turned off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }
    /// Whether spans are exported ([`BotanuConfig::with_export`]).
    pub fn exports(&self) -> bool {
        self.export
    }
    /// The deployment environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// The content capture rate.
    pub fn content_capture_rate(&self) -> f64 {
        self.content_capture_rate
    }
    /// The export queue bound.
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }
    /// `service.name` as configured (the SDK's default applies when `None`).
    pub fn service_name(&self) -> Option<&str> {
        self.service_name.as_deref()
    }

    /// Checks every value and works out what the exporter uses when botanu owns the process's
    /// tracing ([`Destination::Greenfield`]): the final traces endpoint (credentials removed,
    /// `/v1/traces` appended once) and the headers, with `Authorization: Bearer
    /// <BOTANU_API_KEY>` only when the final endpoint's host is trusted.
    #[cfg(any(test, feature = "__bench"))]
    pub(crate) fn resolve(&self) -> Result<ResolvedExport, Error> {
        self.resolve_for(Destination::Greenfield)?
            .ok_or_else(|| Error::config("endpoint", "no endpoint"))
    }

    /// [`resolve`](Self::resolve) for a destination rule: `Ok(None)` when botanu has nowhere
    /// of its own to export to (the app owns `OTEL_EXPORTER_OTLP_*` and neither
    /// `BOTANU_COLLECTOR_ENDPOINT` nor `BOTANU_API_KEY` is set).
    ///
    /// | botanu's endpoint, first that is set | greenfield | the app has its own pipeline |
    /// |---|---|---|
    /// | `with_endpoint` (code), `BOTANU_COLLECTOR_ENDPOINT` | ✓ | ✓ |
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` (and `_HEADERS`) | ✓ | the app's: not used |
    /// | `https://ingest.botanu.ai` when `BOTANU_API_KEY` is set | ✓ | ✓ |
    /// | `http://localhost:4318` | ✓ | no export (a warning says what to set) |
    pub(crate) fn resolve_for(
        &self,
        destination: Destination,
    ) -> Result<Option<ResolvedExport>, Error> {
        if let Some(e) = self.env_errors.first() {
            return Err(e.clone());
        }
        if !(0.0..=1.0).contains(&self.content_capture_rate) {
            return Err(Error::config(
                "BOTANU_CONTENT_CAPTURE_RATE",
                format!(
                    "must be a number in [0, 1], got {}",
                    self.content_capture_rate
                ),
            ));
        }
        if self.max_queue_size == 0 || self.max_export_batch_size == 0 {
            return Err(Error::config(
                "BOTANU_MAX_QUEUE_SIZE",
                "queue and batch sizes must be at least 1",
            ));
        }
        if !(1..=9).contains(&self.gzip_level) {
            return Err(Error::config(
                "BOTANU_GZIP_LEVEL",
                format!("must be 1 to 9, got {}", self.gzip_level),
            ));
        }
        if !(1..=64).contains(&self.max_concurrent_exports) {
            return Err(Error::config(
                "BOTANU_MAX_CONCURRENT_EXPORTS",
                format!("must be 1 to 64, got {}", self.max_concurrent_exports),
            ));
        }
        if self.max_queue_bytes == 0 || self.max_request_bytes < 1024 {
            return Err(Error::config(
                "BOTANU_MAX_EXPORT_REQUEST_BYTES",
                "the queue byte bound must be at least 1 and the request limit at least 1024",
            ));
        }
        if self.max_export_batch_size > self.max_queue_size {
            return Err(Error::config(
                "BOTANU_MAX_EXPORT_BATCH_SIZE",
                format!(
                    "batch size {} is larger than the queue size {}",
                    self.max_export_batch_size, self.max_queue_size
                ),
            ));
        }
        let greenfield = destination == Destination::Greenfield;
        let mut headers = BTreeMap::new();
        if greenfield {
            if let Some(otel) = &self.otel_headers {
                headers = otel.clone()?;
            }
        }
        headers.extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (name, value) in &headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                // Name where the header came from: code wins over the variable.
                let variable = if self.headers.contains_key(name) {
                    "header (set in code)"
                } else {
                    self.otel_headers_var
                };
                return Err(Error::config(
                    variable,
                    format!("header {name:?} is not a valid HTTP header"),
                ));
            }
        }

        let api_key = self.api_key.as_deref().filter(|k| !k.is_empty());
        let configured = match (&self.endpoint, &self.otel_endpoint) {
            (Some(own), _) => Some(own),
            (None, Some(otel)) if greenfield => Some(otel),
            _ => None,
        };
        let (raw, source) = match configured {
            Some((e, s)) => (e.as_str(), *s),
            None if api_key.is_some() => (BOTANU_INGEST_ENDPOINT, EndpointSource::Code),
            None if greenfield => (DEFAULT_ENDPOINT, EndpointSource::Code),
            None => return Ok(None),
        };
        let (without_credentials, had_credentials) = strip_credentials(raw);
        let uri: http::Uri = without_credentials.parse().map_err(|e| {
            Error::config(
                source.name(),
                format!("{:?} is not a URL: {e}", redact_url(raw)),
            )
        })?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let host = uri.host().unwrap_or("");
        if !scheme_ok || host.is_empty() {
            return Err(Error::config(
                source.name(),
                format!(
                    "{:?} must be an http:// or https:// URL with a host",
                    redact_url(raw)
                ),
            ));
        }
        if uri.scheme_str() == Some("https") && !cfg!(feature = "tls") {
            return Err(Error::config(
                source.name(),
                format!(
                    "{:?} is https: enable the `tls` feature of botanu-core",
                    redact_url(raw)
                ),
            ));
        }
        let traces_endpoint = if source == EndpointSource::OtelTraces {
            without_credentials.clone()
        } else {
            with_traces_path(&uri)
        };

        let trusted = is_trusted_host(host);
        let loopback = is_loopback_host(host);
        // The key travels only encrypted: over HTTPS, or to this machine.
        let cleartext = uri.scheme_str() != Some("https") && !loopback;
        let mut api_key_withheld_from = None;
        let mut api_key_withheld_cleartext = false;
        if let Some(key) = api_key {
            let has_auth = headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"));
            if !trusted {
                api_key_withheld_from = Some(host.to_owned());
            } else if cleartext {
                api_key_withheld_from = Some(host.to_owned());
                api_key_withheld_cleartext = true;
            } else if !has_auth {
                let value = format!("Bearer {key}");
                if http::HeaderValue::from_str(&value).is_err() {
                    return Err(Error::config(
                        "BOTANU_API_KEY",
                        "contains characters that cannot be sent in an HTTP header",
                    ));
                }
                headers.insert("authorization".to_owned(), value);
            }
        }
        Ok(Some(ResolvedExport {
            traces_endpoint,
            headers,
            had_credentials,
            api_key_withheld_from,
            api_key_withheld_cleartext,
            loopback,
            endpoint_source: source.name(),
        }))
    }
}

/// Whose `OTEL_EXPORTER_OTLP_*` variables are they: decides where botanu exports
/// ([`BotanuConfig::resolve_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// botanu owns the process's tracing: `OTEL_EXPORTER_OTLP_*` configure botanu's export.
    Greenfield,
    /// The app has a pipeline of its own (migrated) or a provider botanu runs beside
    /// (parallel): `OTEL_EXPORTER_OTLP_*` are the app's, and botanu never exports to the app's
    /// collector through them.
    AppOwnsOtel,
}

/// What the exporter uses, from [`BotanuConfig::resolve`].
#[derive(Clone, PartialEq)]
pub(crate) struct ResolvedExport {
    /// The URL spans are POSTed to (credentials removed).
    pub traces_endpoint: String,
    /// Headers sent with each export (may contain the bearer token: never log them).
    pub headers: BTreeMap<String, String>,
    /// The configured endpoint carried `user:password@`, which was removed.
    pub had_credentials: bool,
    /// `Some(host)` when an API key is configured but the host is not trusted, or the
    /// endpoint is plain `http://` to another machine, so the key is not sent.
    pub api_key_withheld_from: Option<String>,
    /// The key was withheld because the endpoint is plain `http://` to another machine.
    pub api_key_withheld_cleartext: bool,
    /// The endpoint is this machine (`localhost`, `127.0.0.1`, `::1`): exported directly,
    /// never through a proxy from `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`.
    pub loopback: bool,
    pub(crate) endpoint_source: &'static str,
}

impl ResolvedExport {
    /// Whether an `Authorization` header will be sent.
    pub(crate) fn sends_authorization(&self) -> bool {
        self.headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("authorization"))
    }
}

impl fmt::Debug for ResolvedExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("ResolvedExport")
            .field("traces_endpoint", &self.traces_endpoint)
            .field("header_names", &headers)
            .field("had_credentials", &self.had_credentials)
            .field("api_key_withheld_from", &self.api_key_withheld_from)
            .finish()
    }
}

/// Whether `host` is this machine.
fn is_loopback_host(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Hosts that may receive `BOTANU_API_KEY`: botanu's own and loopback (the reference SDK's rule).
pub(crate) fn is_trusted_host(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1" | "0.0.0.0")
        || host == "botanu.ai"
        || host.ends_with(".botanu.ai")
}

fn with_traces_path(uri: &http::Uri) -> String {
    let path = uri.path().trim_end_matches('/');
    let path = if path.ends_with(TRACES_PATH) {
        path.to_owned()
    } else {
        format!("{path}{TRACES_PATH}")
    };
    let mut out = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str()),
        path
    );
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Removes `user:password@` from a URL. Returns the URL and whether anything was removed.
pub(crate) fn strip_credentials(url: &str) -> (String, bool) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_owned(), false);
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => (
            format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
            true,
        ),
        None => (url.to_owned(), false),
    }
}

/// A URL fit for a log line: no credentials.
pub(crate) fn redact_url(url: &str) -> String {
    strip_credentials(url).0
}

fn parse_bool(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// `k=v,k2=v2` with percent-encoded values (the OTLP exporter's format).
fn parse_headers(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, member) in raw.split(',').map(str::trim).enumerate() {
        if member.is_empty() {
            continue;
        }
        // Values may be secrets: errors name the entry, never echo it.
        let Some((k, v)) = member.split_once('=') else {
            return Err(format!("entry {} is not name=value", i + 1));
        };
        let k = k.trim();
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| format!("value of {k:?} is not UTF-8 after percent-decoding"))?;
        if k.is_empty() || http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            return Err(format!("{k:?} is not a valid header name"));
        }
        if http::HeaderValue::from_str(&v).is_err() {
            return Err(format!("value of {k:?} is not a valid header value"));
        }
        out.insert(k.to_owned(), v.into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_keeping_ipv6_brackets() {
        assert_eq!(
            strip_credentials("http://u:p@[::1]:4318/v1"),
            ("http://[::1]:4318/v1".to_owned(), true)
        );
        assert_eq!(
            strip_credentials("https://user:secret@example.com/ingest"),
            ("https://example.com/ingest".to_owned(), true)
        );
        assert_eq!(
            strip_credentials("http://host/a@b"),
            ("http://host/a@b".to_owned(), false)
        );
        assert!(!strip_credentials("no-scheme").1);
    }

    #[test]
    fn traces_path_is_appended_once() {
        let p = |s: &str| with_traces_path(&s.parse().unwrap());
        assert_eq!(p("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(p("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(p("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        assert_eq!(p("http://c:4318/v1/traces/"), "http://c:4318/v1/traces");
        assert_eq!(p("http://c/otlp//"), "http://c/otlp/v1/traces");
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let r = BotanuConfig::default()
            .with_endpoint("https://ingest.botanu.ai")
            .resolve();
        if cfg!(feature = "tls") {
            assert_eq!(
                r.unwrap().traces_endpoint,
                "https://ingest.botanu.ai/v1/traces"
            );
        } else {
            let err = r.unwrap_err().to_string();
            assert!(err.contains("`tls` feature"), "{err}");
        }
    }

    #[test]
    fn header_parsing() {
        let h = parse_headers("a=1, b = x%20y ,").unwrap();
        assert_eq!(h["a"], "1");
        assert_eq!(h["b"], "x y");
        assert!(parse_headers("novalue").is_err());
        assert!(parse_headers("bad name=1").is_err());
        assert!(parse_headers("k=%0A").is_err());
        let err = parse_headers("a=1,secret-token").unwrap_err();
        assert_eq!(err, "entry 2 is not name=value");
    }
}

/// What the installed configuration says about content capture (set once, at install).
#[derive(Debug)]
pub(crate) struct CaptureSettings {
    pub(crate) rate: f64,
    pub(crate) scrubber: Option<crate::pii::Scrubber>,
}

pub(crate) static CAPTURE: OnceLock<CaptureSettings> = OnceLock::new();

/// A variable of the process environment: botanu reads the environment only here (and in
/// [`BotanuConfig::from_env`]), so one file lists everything botanu reads.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The environment chain over an env-like lookup: the first non-empty of
/// `BOTANU_ENVIRONMENT`, `OTEL_DEPLOYMENT_ENVIRONMENT`, `DEPLOYMENT_ENVIRONMENT`, else
/// `production`.
pub(crate) fn resolve_environment(var: impl Fn(&str) -> Option<String>) -> String {
    [
        "BOTANU_ENVIRONMENT",
        "OTEL_DEPLOYMENT_ENVIRONMENT",
        "DEPLOYMENT_ENVIRONMENT",
    ]
    .iter()
    .find_map(|k| var(k).filter(|v| !v.is_empty()))
    .unwrap_or_else(|| "production".to_owned())
}

#[cfg(test)]
#[path = "tests.rs"]
mod env_tests;
