//! Installing botanu: [`enable`], the drop-in [`BotanuBuilder`], and the [`Botanu`] handle.
//!
//! Three paths (ARCHITECTURE.md, "Install modes"), each announced by one log line and reported by [`Botanu::mode`]:
//!
//! * **greenfield** ([`enable`] with no tracer provider installed): a new provider, AlwaysOn,
//!   with the enricher and botanu's exporter, installed as the global provider, and the
//!   `tracecontext,baggage` propagator.
//! * **migrated** ([`Botanu::builder`]): the user hands over the pipeline they would have given
//!   `SdkTracerProvider::builder()`. One provider: their sampler wrapped in
//!   [`PreservingSampler`], their processors in [`SampledSpanProcessor::sampled_only`], the
//!   enricher and botanu's exporter added. Their exporters get exactly the spans they got
//!   before; botanu gets all.
//! * **parallel** ([`enable`] when another library already installed a global provider botanu
//!   cannot see into): botanu builds its own provider and leaves the global alone; botanu's
//!   middleware and trackers use [`tracer()`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, IdGenerator, Sampler, SdkTracerProvider, ShouldSample, SimpleSpanProcessor,
    SpanExporter, SpanLimits, SpanProcessor,
};
use opentelemetry_sdk::Resource;

use crate::config::{redact_url, BotanuConfig, Destination, ResolvedExport};
use crate::otel::export::{export_processor, Counters, ExportProcessor, ExportStats};
use crate::otel::pipeline::Pipeline;
use crate::{BaggagePropagator, Error, PreservingSampler};

/// The instrumentation scope of spans botanu creates itself.
pub const SCOPE_NAME: &str = crate::semconv::scopes::RUN;

/// How botanu joined the process's tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// botanu installed the global provider (nothing was installed before).
    Greenfield,
    /// The user's pipeline was handed to [`Botanu::builder`]; one provider serves both.
    Migrated,
    /// Another global provider exists; botanu runs its own provider beside it.
    Parallel,
    /// `BOTANU_DISABLED`: nothing installed, every botanu API is a no-op.
    Disabled,
}

impl Mode {
    /// `greenfield`, `migrated`, `parallel` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Greenfield => "greenfield",
            Mode::Migrated => "migrated",
            Mode::Parallel => "parallel",
            Mode::Disabled => "disabled",
        }
    }
}

/// The handle of an installed botanu. Cheap to clone; dropping it does not shut anything down.
#[derive(Debug, Clone)]
pub struct Botanu {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    config: BotanuConfig,
    provider: SdkTracerProvider,
    counters: Arc<Counters>,
    shut_down: AtomicBool,
    /// What was installed and where spans go, in one sentence (see [`Botanu::describe`]).
    description: String,
}

static INSTALLED: OnceLock<Botanu> = OnceLock::new();
static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// Installs botanu from the environment ([`BotanuConfig::from_env`]).
///
/// Idempotent and thread-safe: later calls return the handle of the first successful one (and
/// log that botanu is already installed). Errors name the variable at fault; nothing is
/// installed when one is returned.
///
/// ```no_run
/// let botanu = botanu_core::enable().expect("botanu configuration");
/// // … serve …
/// botanu.shutdown();
/// ```
pub fn enable() -> Result<Botanu, Error> {
    enable_with(BotanuConfig::from_env())
}

/// [`enable`] with a given configuration.
pub fn enable_with(config: BotanuConfig) -> Result<Botanu, Error> {
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = INSTALLED.get() {
        tracing::info!(target: "botanu", mode = existing.mode().as_str(), "botanu is already installed; enable() returns the existing handle");
        return Ok(existing.clone());
    }
    if config.disabled {
        // Nothing of botanu's; a provider with no processor stands in for the accessor.
        return Ok(register(disabled(
            config,
            SdkTracerProvider::builder().build(),
        )));
    }
    let foreign = global_provider_is_installed();
    let destination = if foreign {
        Destination::AppOwnsOtel
    } else {
        Destination::Greenfield
    };
    let resolved = config.resolve_for(destination)?;
    let exporter = exporter_for(&config, resolved.as_ref())?;
    let counters = ExportProcessor::counters_of(exporter.as_ref());
    let mut pipeline = Pipeline::new();
    if let Some(exporter) = exporter {
        pipeline = pipeline.then(exporter);
    }
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(resource(&config))
        .with_span_processor(pipeline)
        .build();
    let mode = if foreign {
        Mode::Parallel
    } else {
        global::set_tracer_provider(provider.clone());
        Mode::Greenfield
    };
    install_propagator();
    crate::run::set_default_environment(config.environment.clone());
    let description = describe(mode, resolved.as_ref(), &config, None);
    log_installed(mode, resolved.as_ref(), &config, &description);
    if let Some(sampler) = crate::config::env_var("OTEL_TRACES_SAMPLER") {
        if !sampler.is_empty() && sampler != "always_on" {
            tracing::warn!(target: "botanu", otel_traces_sampler = %sampler, "OTEL_TRACES_SAMPLER is ignored by botanu's own provider, which records every span; to keep sampling for your exporters, hand your pipeline to Botanu::builder()");
        }
    }
    Ok(register(Botanu {
        inner: Arc::new(Inner {
            mode,
            config,
            provider,
            counters,
            shut_down: AtomicBool::new(false),
            description,
        }),
    }))
}

/// botanu's export processor for a resolved destination (none without one, or with export off).
fn exporter_for(
    config: &BotanuConfig,
    resolved: Option<&ResolvedExport>,
) -> Result<Option<ExportProcessor>, Error> {
    match resolved {
        Some(resolved) => export_processor(config, resolved),
        None => Ok(None),
    }
}

fn register(botanu: Botanu) -> Botanu {
    let config = &botanu.inner.config;
    if botanu.inner.mode != Mode::Disabled {
        let _ = crate::config::CAPTURE.set(crate::config::CaptureSettings {
            rate: config.content_capture_rate,
            scrubber: config.scrubber(),
        });
    }
    let _ = INSTALLED.set(botanu.clone());
    botanu
}

/// The handle of a disabled botanu around `provider`: the app's own provider (migrated), or
/// one with no processor.
fn disabled(config: BotanuConfig, provider: SdkTracerProvider) -> Botanu {
    let description = "disabled (BOTANU_DISABLED): botanu adds nothing; your pipeline, if you handed one to Botanu::builder(), runs exactly as it would without botanu".to_owned();
    tracing::info!(target: "botanu", mode = "disabled", "{description}");
    Botanu {
        inner: Arc::new(Inner {
            mode: Mode::Disabled,
            config,
            provider,
            counters: Arc::default(),
            shut_down: AtomicBool::new(false),
            description,
        }),
    }
}

impl Botanu {
    /// The drop-in replacement for `SdkTracerProvider::builder()` (the migrated path).
    ///
    /// ```no_run
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler};
    ///
    /// let their_exporter = InMemorySpanExporter::default(); // e.g. their Jaeger exporter
    /// let botanu = botanu_core::Botanu::builder()
    ///     .with_sampler(Sampler::TraceIdRatioBased(0.1))
    ///     .with_batch_exporter(their_exporter)
    ///     .install()
    ///     .unwrap();
    /// assert_eq!(botanu.mode(), botanu_core::Mode::Migrated);
    /// ```
    pub fn builder() -> BotanuBuilder {
        BotanuBuilder::default()
    }

    /// The installed handle, if botanu is installed in this process.
    pub fn get() -> Option<Botanu> {
        INSTALLED.get().cloned()
    }

    /// How botanu joined the process's tracing.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The configuration botanu was installed with.
    pub fn config(&self) -> &BotanuConfig {
        &self.inner.config
    }

    /// The tracer provider to hand to `tracing_opentelemetry` (or to use directly) so that
    /// your spans flow through your pipeline and botanu's.
    ///
    /// * greenfield: botanu's provider, also the global one;
    /// * migrated: the one provider built from your pipeline, also the global one — **also when
    ///   botanu is disabled** (`BOTANU_DISABLED`), when it is exactly the provider
    ///   `SdkTracerProvider::builder()` would have built from your calls;
    /// * parallel: botanu's own provider (the foreign global provider is not botanu's to give);
    /// * disabled without a pipeline of yours: a provider with no processor.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.inner.provider
    }

    /// What was installed and where spans go, in one sentence: the same text as the install
    /// log line, which is also logged once when the first run starts (install often happens
    /// before any `tracing` subscriber exists, so the first line is lost).
    pub fn describe(&self) -> &str {
        &self.inner.description
    }

    /// Counters of botanu's export path: spans queued, exported, failed and dropped, failed
    /// export requests and retries (zeros when export is off). The same figures are logged at
    /// [`shutdown`](Self::shutdown).
    pub fn stats(&self) -> ExportStats {
        self.inner.counters.snapshot()
    }

    /// Flushes and shuts down what botanu owns: its provider (in migrated mode that includes
    /// the processors the user handed over) — never a foreign global provider. Idempotent.
    pub fn shutdown(&self) -> Result<(), Error> {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let timeout = self.inner.config.shutdown_timeout();
        self.inner
            .provider
            .shutdown_with_timeout(timeout)
            .map_err(|e| {
                // The provider folds its processors' errors into one message; spans botanu
                // counted as lost mean its queue did not drain in time.
                if self.inner.counters.snapshot().lost > 0 {
                    Error::Shutdown(crate::Incomplete::Timeout(timeout))
                } else {
                    Error::Shutdown(e.into())
                }
            })
    }

    /// A guard that [shuts botanu down](Self::shutdown) when dropped (see [`shutdown_guard`]).
    pub fn shutdown_guard(&self) -> ShutdownGuard {
        ShutdownGuard { _private: () }
    }

    /// Exports everything queued so far.
    pub fn force_flush(&self) -> Result<(), Error> {
        self.inner
            .provider
            .force_flush()
            .map_err(|e| Error::Flush(e.into()))
    }
}

/// Shuts down the installed botanu when dropped: everything queued is exported and the
/// export summary is logged. Hold one in `main` so that nothing is lost at a graceful exit,
/// whoever installed botanu (a layer when the router was built, `enable()`, the builder) and
/// whenever (the guard looks botanu up when it is dropped):
///
/// ```
/// let _botanu = botanu_core::shutdown_guard(); // first line of main
/// // … build the app (a layer installs botanu), serve it with a graceful shutdown …
/// drop(_botanu); // at the end of main: queued spans exported, the summary logged
/// ```
///
/// A process killed by a signal it does not handle runs no destructor: serve with a graceful
/// shutdown (as above) so that `main` returns.
#[derive(Debug)]
#[must_use = "botanu is shut down when the guard is dropped: bind it (`let _botanu = …`)"]
pub struct ShutdownGuard {
    _private: (),
}

/// A [`ShutdownGuard`] for whatever botanu is installed when it is dropped.
pub fn shutdown_guard() -> ShutdownGuard {
    ShutdownGuard { _private: () }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        if let Some(botanu) = Botanu::get() {
            if let Err(e) = botanu.shutdown() {
                tracing::warn!(target: "botanu", error = %e, "botanu shutdown did not complete");
            }
        }
    }
}

static ANNOUNCED: AtomicBool = AtomicBool::new(false);

/// Logs [`Botanu::describe`] once, when the first run starts: by then a subscriber exists.
pub(crate) fn announce_first_run() {
    if ANNOUNCED.load(Ordering::Relaxed) || ANNOUNCED.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Some(b) = INSTALLED.get() {
        tracing::info!(target: "botanu", mode = b.mode().as_str(), "first botanu run started; botanu is {}", b.describe());
    }
}

/// Installs botanu from the environment unless something installed it already; an invalid
/// configuration is logged once (the app keeps serving, without botanu runs). Called by the
/// adapters on the first request and by [`tracing_layer`](crate::tracing_layer), so an app
/// with the layer works with no other setup, and an app that installs botanu itself may do so
/// before or after building its router, as long as it is before serving.
pub(crate) fn ensure_installed() {
    static TRIED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.get().is_none() && !TRIED.swap(true, Ordering::AcqRel) {
        if let Err(e) = enable() {
            tracing::error!(target: "botanu", error = %e, "botanu could not be installed; requests are served without botanu runs");
        }
    }
}

/// Whether requests get runs: installs botanu from the environment first if nothing did.
pub(crate) fn active_or_install() -> bool {
    if INSTALLED.get().is_none() {
        ensure_installed();
    }
    is_active()
}

/// Whether botanu's spans must stay out of the app's view: the app has a pipeline of its own
/// (migrated) or a provider botanu cannot see into (parallel). See `own_span`.
pub(crate) fn isolated() -> bool {
    matches!(mode(), Some(Mode::Migrated | Mode::Parallel))
}

/// The mode botanu was installed in, if it is.
pub(crate) fn mode() -> Option<Mode> {
    INSTALLED.get().map(|b| b.inner.mode)
}

/// Whether botanu is installed and not disabled: adapters pass requests straight through
/// otherwise.
pub(crate) fn is_active() -> bool {
    INSTALLED
        .get()
        .is_some_and(|b| b.inner.mode != Mode::Disabled)
}

/// botanu's tracer with another instrumentation scope (trackers use `botanu.gen_ai`,
/// `botanu.data`, …).
pub(crate) fn tracer_with_scope(scope: &'static str) -> BoxedTracer {
    debug_assert!(crate::otel::own_span::OWN_SCOPES.contains(&scope));
    match INSTALLED.get().filter(|b| b.inner.mode != Mode::Disabled) {
        Some(b) => BoxedTracer::new(Box::new(
            b.inner
                .provider
                .tracer_with_scope(InstrumentationScope::builder(scope).build()),
        )),
        None => BoxedTracer::new(Box::new(opentelemetry::trace::noop::NoopTracer::new())),
    }
}

/// botanu's tracer for one of its scopes ([`OWN_SCOPES`](crate::otel::own_span)), made once per
/// process: building a tracer per run cost two allocations (the tracer's box and its scope)
/// and the SDK's tracer setup. A no-op tracer when botanu is disabled or not installed yet.
pub(crate) fn own_tracer(scope: &'static str) -> &'static BoxedTracer {
    static TRACERS: OnceLock<Vec<BoxedTracer>> = OnceLock::new();
    static NOOP: OnceLock<BoxedTracer> = OnceLock::new();
    match INSTALLED.get().filter(|b| b.inner.mode != Mode::Disabled) {
        // INSTALLED is set once per process: the tracers always belong to its provider.
        Some(_) => {
            let all = TRACERS.get_or_init(|| {
                crate::otel::own_span::OWN_SCOPES
                    .iter()
                    .map(|s| tracer_with_scope(s))
                    .collect()
            });
            let i = crate::otel::own_span::OWN_SCOPES
                .iter()
                .position(|s| *s == scope)
                .unwrap_or(0);
            &all[i]
        }
        None => NOOP.get_or_init(|| {
            BoxedTracer::new(Box::new(opentelemetry::trace::noop::NoopTracer::new()))
        }),
    }
}

/// The tracer botanu's middleware and trackers use: botanu's provider in every mode (so in
/// parallel mode run spans reach botanu, not the foreign provider); a no-op tracer when botanu
/// is disabled or not installed.
pub fn tracer() -> BoxedTracer {
    tracer_with_scope(SCOPE_NAME)
}

/// The pipeline a user would give `SdkTracerProvider::builder()`, handed to botanu instead.
#[derive(Debug, Default)]
#[must_use]
pub struct BotanuBuilder {
    sampler: Option<Box<dyn ShouldSample>>,
    processors: Vec<Box<dyn SpanProcessor>>,
    resource: Option<Resource>,
    id_generator: Option<Box<dyn IdGenerator>>,
    span_limits: Option<SpanLimits>,
    config: Option<BotanuConfig>,
    share_run_attributes: bool,
}

/// Lets boxed processors be wrapped and handed to the SDK builder.
#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx)
    }
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
    }
}

/// Lets a boxed id generator be handed to the SDK builder.
#[derive(Debug)]
struct BoxedIdGenerator(Box<dyn IdGenerator>);

impl IdGenerator for BoxedIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        self.0.new_trace_id()
    }
    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

impl BotanuBuilder {
    /// Your sampler. Its decisions are kept for your processors and for downstream services;
    /// botanu records (and exports) the spans it drops. Default: what the SDK reads from
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (parent-based always-on otherwise).
    pub fn with_sampler(mut self, sampler: impl Into<Box<dyn ShouldSample>>) -> Self {
        self.sampler = Some(sampler.into());
        self
    }
    /// Your span processor; it sees exactly the spans your sampler keeps.
    pub fn with_span_processor<T: SpanProcessor + 'static>(mut self, processor: T) -> Self {
        self.processors.push(Box::new(processor));
        self
    }
    /// Your exporter behind a batch processor, as `SdkTracerProvider::builder()` would do.
    pub fn with_batch_exporter<T: SpanExporter + 'static>(self, exporter: T) -> Self {
        self.with_span_processor(BatchSpanProcessor::builder(exporter).build())
    }
    /// Your exporter behind a simple processor.
    pub fn with_simple_exporter<T: SpanExporter + 'static>(self, exporter: T) -> Self {
        self.with_span_processor(SimpleSpanProcessor::new(exporter))
    }
    /// Your resource (used as is; botanu's resource attributes are not merged into it).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }
    /// Your id generator.
    pub fn with_id_generator<T: IdGenerator + 'static>(mut self, id_generator: T) -> Self {
        self.id_generator = Some(Box::new(id_generator));
        self
    }
    /// Your span limits.
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = Some(limits);
        self
    }
    /// botanu's configuration (default: [`BotanuConfig::from_env`]).
    pub fn with_config(mut self, config: BotanuConfig) -> Self {
        self.config = Some(config);
        self
    }
    /// Whether your processors also get the run attributes (`botanu.run_id`,
    /// `botanu.workflow`, `botanu.event_id`, **`botanu.customer_id`**, … — every `botanu.*`
    /// attribute) on the spans of a run. Default `false`: your exporters get exactly the
    /// attributes they got without botanu. Turn it on to find a run in your own APM by its
    /// `botanu.run_id`, knowing that customer and tenant ids then reach that backend too.
    /// botanu's own spans (run spans, client spans, LLM spans) never reach your processors.
    pub fn share_run_attributes(mut self, share: bool) -> Self {
        self.share_run_attributes = share;
        self
    }

    /// Builds the one provider, installs it as the global provider with the
    /// `tracecontext,baggage` propagator, and returns the handle.
    ///
    /// # Errors
    /// An invalid configuration ([`Error::Config`]), an exporter that cannot be built, or
    /// [`Error::AlreadyInstalled`] when botanu is already installed (your pipeline would
    /// otherwise be silently ignored).
    pub fn install(self) -> Result<Botanu, Error> {
        let _guard = INSTALL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if INSTALLED.get().is_some() {
            return Err(Error::AlreadyInstalled);
        }
        let config = self.config.unwrap_or_else(BotanuConfig::from_env);
        if config.disabled {
            // The user's pipeline exactly as `SdkTracerProvider::builder()` would build it.
            let mut b = SdkTracerProvider::builder();
            if let Some(s) = self.sampler {
                b = b.with_sampler(s);
            }
            for p in self.processors {
                b = b.with_span_processor(BoxedProcessor(p));
            }
            if let Some(r) = self.resource {
                b = b.with_resource(r);
            }
            if let Some(g) = self.id_generator {
                b = b.with_id_generator(BoxedIdGenerator(g));
            }
            if let Some(l) = self.span_limits {
                b = b.with_span_limits(l);
            }
            let provider = b.build();
            global::set_tracer_provider(provider.clone());
            return Ok(register(disabled(config, provider)));
        }
        let resolved = config.resolve_for(Destination::AppOwnsOtel)?;
        let exporter = exporter_for(&config, resolved.as_ref())?;
        let counters = ExportProcessor::counters_of(exporter.as_ref());

        let sampler = self
            .sampler
            .unwrap_or_else(|| opentelemetry_sdk::trace::Config::default().sampler);
        let sampler_description = format!("{sampler:?}");
        let mut pipeline = Pipeline::new().share_run_attributes(self.share_run_attributes);
        for p in self.processors {
            pipeline = pipeline.user(BoxedProcessor(p));
        }
        if let Some(exporter) = exporter {
            pipeline = pipeline.then(exporter);
        }
        let mut b = SdkTracerProvider::builder()
            .with_sampler(PreservingSampler::new(sampler))
            .with_resource(self.resource.unwrap_or_else(|| resource(&config)))
            .with_span_processor(pipeline);
        if let Some(g) = self.id_generator {
            b = b.with_id_generator(BoxedIdGenerator(g));
        }
        if let Some(l) = self.span_limits {
            b = b.with_span_limits(l);
        }
        let provider = b.build();
        global::set_tracer_provider(provider.clone());
        install_propagator();
        crate::run::set_default_environment(config.environment.clone());
        let description = describe(
            Mode::Migrated,
            resolved.as_ref(),
            &config,
            Some(&sampler_description),
        );
        log_installed(Mode::Migrated, resolved.as_ref(), &config, &description);
        Ok(register(Botanu {
            inner: Arc::new(Inner {
                mode: Mode::Migrated,
                config,
                provider,
                counters,
                shut_down: AtomicBool::new(false),
                description,
            }),
        }))
    }
}

/// botanu's resource: detected attributes (unless turned off), the SDK's defaults and
/// `OTEL_RESOURCE_ATTRIBUTES` over them, then `deployment.environment`,
/// `telemetry.sdk.name = botanu`, the botanu version and the service's names.
fn resource(config: &BotanuConfig) -> Resource {
    let mut attrs = vec![
        KeyValue::new("deployment.environment", config.environment.clone()),
        KeyValue::new("telemetry.sdk.name", "botanu"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(v) = &config.service_version {
        attrs.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(v) = &config.service_namespace {
        attrs.push(KeyValue::new("service.namespace", v.clone()));
    }
    let detected = if config.auto_detect_resources {
        detected_resource()
    } else {
        Vec::new()
    };
    let mut b = Resource::builder_empty()
        .with_attributes(detected)
        .with_detectors(&[
            Box::new(opentelemetry_sdk::resource::SdkProvidedResourceDetector),
            Box::new(opentelemetry_sdk::resource::TelemetryResourceDetector),
            Box::new(opentelemetry_sdk::resource::EnvResourceDetector::new()),
        ])
        .with_attributes(attrs);
    if let Some(name) = &config.service_name {
        b = b.with_service_name(name.clone());
    }
    b.build()
}

/// What tells this process apart from the service's other instances, from the OpenTelemetry
/// resource detectors: `service.instance.id`, `host.*`, `os.type`, `process.pid`,
/// `process.runtime.*`. Not `process.command_args`: a command line may carry secrets, and
/// botanu's export may leave the app's network.
fn detected_resource() -> Vec<KeyValue> {
    use opentelemetry_resource_detectors::{
        HostResourceDetector, OsResourceDetector, ProcessResourceDetector,
        ServiceInstanceIdResourceDetector,
    };
    let detected = Resource::builder_empty()
        .with_detectors(&[
            Box::new(ServiceInstanceIdResourceDetector),
            Box::new(HostResourceDetector::default()),
            Box::new(OsResourceDetector),
            Box::new(ProcessResourceDetector),
        ])
        .build();
    detected
        .iter()
        .filter(|(k, _)| k.as_str() != "process.command_args")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect()
}

/// Whether a global tracer provider (not botanu's) is installed. A probe that leaks nothing:
/// the no-op tracer echoes the parent span context back; an SDK tracer returns an invalid one
/// for a telemetry-suppressed context without calling any sampler or processor.
fn global_provider_is_installed() -> bool {
    let probe = SpanContext::new(
        TraceId::from(0x0b07_a000_0000_0000_0000_0000_0000_0001_u128),
        SpanId::from(0x0b07_a000_0000_0001_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new()
        .with_remote_span_context(probe.clone())
        .with_telemetry_suppressed();
    let span = global::tracer("botanu-probe").start_with_context("botanu.probe", &cx);
    span.span_context() != &probe
}

/// Installs the composite `tracecontext,baggage` propagator unless the app installed one; a
/// user-installed propagator is kept (its formats stay), with a warning when it does not
/// carry baggage, which botanu runs need to cross services.
/// The address of the propagator botanu installed as the global one (W3C trace context and
/// botanu's baggage, nothing else), or 0.
static OWN_PROPAGATOR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn propagator_address(p: &dyn opentelemetry::propagation::TextMapPropagator) -> usize {
    (p as *const dyn opentelemetry::propagation::TextMapPropagator).cast::<()>() as usize
}

/// Whether `p` is the propagator botanu installed (W3C `traceparent`/`tracestate` and botanu's
/// `baggage`, nothing else), so that a request without `traceparent` and `baggage` headers has
/// nothing it could extract.
pub(crate) fn is_own_propagator(p: &dyn opentelemetry::propagation::TextMapPropagator) -> bool {
    let own = OWN_PROPAGATOR.load(Ordering::Acquire);
    own != 0 && own == propagator_address(p)
}

fn install_propagator() {
    let fields: Vec<String> =
        global::get_text_map_propagator(|p| p.fields().map(str::to_owned).collect());
    if fields.is_empty() {
        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        let installed = global::get_text_map_propagator(|p| propagator_address(p));
        OWN_PROPAGATOR.store(installed, Ordering::Release);
    } else if !fields.iter().any(|f| f == "baggage") {
        tracing::warn!(
            target: "botanu",
            fields = ?fields,
            "the installed propagator does not carry W3C baggage: runs will not continue in downstream services; add botanu_core::BaggagePropagator to it"
        );
    }
}

/// Where botanu's spans go, for the install line.
fn destination_text(resolved: Option<&ResolvedExport>, config: &BotanuConfig) -> String {
    match resolved {
        _ if !config.export => "nowhere (export off)".to_owned(),
        Some(r) => redact_url(&r.traces_endpoint),
        None => "nowhere: OTEL_EXPORTER_OTLP_* belong to your pipeline; set BOTANU_COLLECTOR_ENDPOINT or BOTANU_API_KEY".to_owned(),
    }
}

/// The one sentence [`Botanu::describe`] returns.
fn describe(
    mode: Mode,
    resolved: Option<&ResolvedExport>,
    config: &BotanuConfig,
    sampler: Option<&str>,
) -> String {
    let to = destination_text(resolved, config);
    match mode {
        Mode::Greenfield => format!("greenfield: botanu's provider (always on) is the global provider; every span goes to {to}"),
        Mode::Parallel => format!("parallel: another global tracer provider exists and is left untouched (its spans, parents and exporters unchanged); botanu's own spans go to {to}"),
        Mode::Migrated => format!(
            "migrated: your pipeline runs in botanu's provider; your sampler ({}) decides what your exporters get, and they get exactly the spans and attributes they got without botanu; botanu exports 100% to {to}",
            sampler.unwrap_or("default")
        ),
        Mode::Disabled => "disabled".to_owned(),
    }
}

fn log_installed(
    mode: Mode,
    resolved: Option<&ResolvedExport>,
    config: &BotanuConfig,
    description: &str,
) {
    let Some(resolved) = resolved else {
        if config.export {
            tracing::warn!(target: "botanu", mode = mode.as_str(), "botanu has no destination of its own and exports nothing: OTEL_EXPORTER_OTLP_* configure your own pipeline, so botanu does not export to your collector through them; set BOTANU_COLLECTOR_ENDPOINT or BOTANU_API_KEY (runs and enrichment work meanwhile)");
        }
        tracing::info!(target: "botanu", mode = mode.as_str(), "botanu installed, {description}");
        return;
    };
    if resolved.had_credentials {
        tracing::error!(target: "botanu", source = resolved.endpoint_source, "the collector endpoint carried user:password credentials; they were removed. Use BOTANU_API_KEY or OTEL_EXPORTER_OTLP_HEADERS instead");
    }
    if let Some(host) = &resolved.api_key_withheld_from {
        if resolved.api_key_withheld_cleartext {
            tracing::error!(target: "botanu", host = %host, "BOTANU_API_KEY is set but the endpoint is plain http:// to another machine: the key is sent only over https (or to this machine), so it is withheld and spans are sent unauthenticated");
        } else {
            tracing::error!(target: "botanu", host = %host, "BOTANU_API_KEY is set but the endpoint host is not a botanu host or loopback: the key is withheld and spans are sent unauthenticated");
        }
    }
    tracing::info!(target: "botanu", mode = mode.as_str(), endpoint_source = resolved.endpoint_source, authorization = resolved.sends_authorization(), environment = %config.environment, "botanu installed, {description}");
}
