//! The servers under test. Each variant is one process (`botanu-bench serve <variant> …`) with
//! one runtime worker, so its CPU time is the cost of serving plus everything the tracing setup
//! does in the background (export threads included).

use std::time::Duration;

use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry::{global, Context};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

/// One server setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    AxumBare,
    AxumBotanu,
    AxumBotanuNoExport,
    AxumOtel,
    AxumOtelNoExport,
    ActixBare,
    ActixBotanu,
    ActixOtel,
    AgentOtel,
    AgentBotanu,
}

/// Which framework serves a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Axum,
    Actix,
}

impl Variant {
    pub const ALL: [Variant; 10] = [
        Variant::AxumBare,
        Variant::AxumBotanu,
        Variant::AxumBotanuNoExport,
        Variant::AxumOtel,
        Variant::AxumOtelNoExport,
        Variant::ActixBare,
        Variant::ActixBotanu,
        Variant::ActixOtel,
        Variant::AgentOtel,
        Variant::AgentBotanu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::AxumBare => "axum-bare",
            Variant::AxumBotanu => "axum-botanu",
            Variant::AxumBotanuNoExport => "axum-botanu-noexport",
            Variant::AxumOtel => "axum-otel",
            Variant::AxumOtelNoExport => "axum-otel-noexport",
            Variant::ActixBare => "actix-bare",
            Variant::ActixBotanu => "actix-botanu",
            Variant::ActixOtel => "actix-otel",
            Variant::AgentOtel => "agent-otel",
            Variant::AgentBotanu => "agent-botanu",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Variant::AxumBare => "axum, no tracing",
            Variant::AxumBotanu => "axum + BotanuLayer, exporting 100%",
            Variant::AxumBotanuNoExport => {
                "axum + BotanuLayer, export off (runs and enrichment only)"
            }
            Variant::AxumOtel => "axum + OtelAxumLayer + tracing-opentelemetry, exporting 100%",
            Variant::AxumOtelNoExport => {
                "axum + OtelAxumLayer + tracing-opentelemetry, batch processor with a no-op exporter"
            }
            Variant::ActixBare => "actix-web, no tracing",
            Variant::ActixBotanu => "actix-web + botanu_actix::Botanu, exporting 100%",
            Variant::ActixOtel => {
                "actix-web + opentelemetry-instrumentation-actix-web RequestTracing, exporting 100%"
            }
            Variant::AgentOtel => {
                "axum, handler starts 10 plain OpenTelemetry spans, exporting 100%"
            }
            Variant::AgentBotanu => {
                "axum + BotanuLayer, same handler: 10 enriched child spans in a run, exporting 100%"
            }
        }
    }

    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    pub fn framework(self) -> Framework {
        match self {
            Variant::ActixBare | Variant::ActixBotanu | Variant::ActixOtel => Framework::Actix,
            _ => Framework::Axum,
        }
    }

    /// The bare variant this one is compared with.
    pub fn baseline(self) -> Variant {
        match self.framework() {
            Framework::Axum => Variant::AxumBare,
            Framework::Actix => Variant::ActixBare,
        }
    }

    /// The path the load generator requests.
    pub fn path(self) -> &'static str {
        match self {
            Variant::AgentOtel | Variant::AgentBotanu => "/agent",
            _ => "/hello",
        }
    }

    /// Spans exported per request when every span reaches the collector.
    pub fn spans_per_request(self) -> usize {
        match self {
            Variant::AxumBare
            | Variant::ActixBare
            | Variant::AxumBotanuNoExport
            | Variant::AxumOtelNoExport => 0,
            Variant::AgentOtel => CHILD_SPANS,
            Variant::AgentBotanu => CHILD_SPANS + 1,
            _ => 1,
        }
    }
}

/// Child spans the agent handler starts per request.
pub const CHILD_SPANS: usize = 10;

/// The same batch settings for every exporting variant (botanu's defaults), so that no variant
/// drops spans the others keep: queue 65,536, batches of 512, every 5 s.
fn batch_config() -> opentelemetry_sdk::trace::BatchConfig {
    BatchConfigBuilder::default()
        .with_max_queue_size(65_536)
        .with_max_export_batch_size(512)
        .with_scheduled_delay(Duration::from_secs(5))
        .build()
}

/// The plain OpenTelemetry pipeline the established middleware is used with: OTLP/HTTP
/// protobuf through a batch processor, set as the global provider.
fn otel_provider(otlp: &str) -> SdkTracerProvider {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{otlp}/v1/traces"))
        .with_headers(Default::default())
        .build()
        .expect("OTLP exporter");
    batched_global_provider(exporter)
}

/// Takes every batch and drops it: the pipeline's cost without encoding and sending.
#[derive(Debug)]
struct NoopExporter;

impl opentelemetry_sdk::trace::SpanExporter for NoopExporter {
    async fn export(
        &self,
        _batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// `exporter` behind a batch processor ([`batch_config`]), as the global provider with the
/// W3C trace-context propagator.
fn batched_global_provider(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
) -> SdkTracerProvider {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch_config())
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    provider
}

/// tracing-opentelemetry over [`otel_provider`], as `OtelAxumLayer` expects.
fn otel_tracing_subscriber(provider: &SdkTracerProvider) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
}

fn botanu(otlp: &str, export: bool) -> botanu_core::Botanu {
    let config = botanu_core::BotanuConfig::default()
        .with_service_name("bench")
        .with_endpoint(otlp)
        .with_export(export);
    botanu_core::enable_with(config).expect("botanu configuration")
}

/// What a variant installed, shut down (and flushed) after the server stops.
enum Installed {
    Nothing,
    Botanu(botanu_core::Botanu),
    Otel(SdkTracerProvider),
}

impl Installed {
    fn shutdown(self) {
        match self {
            Installed::Nothing => {}
            Installed::Botanu(b) => {
                let _ = b.shutdown();
            }
            Installed::Otel(p) => {
                let _ = p.shutdown();
            }
        }
    }
}

async fn hello() -> &'static str {
    "Hello, World!"
}

/// What an agent does between model calls: ten spans in the current context.
fn agent_steps() -> &'static str {
    let tracer = global::tracer("agent");
    let cx = Context::current();
    for _ in 0..CHILD_SPANS {
        let _span = tracer.start_with_context("agent.step", &cx);
    }
    "done"
}

async fn agent() -> &'static str {
    agent_steps()
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Serves `variant` on `addr` until SIGINT/SIGTERM, then shuts its tracing down (flushing).
/// Prints `ready <addr>` once it listens.
pub fn serve(variant: Variant, addr: &str, otlp: &str) {
    match variant.framework() {
        Framework::Axum => serve_axum(variant, addr, otlp),
        Framework::Actix => serve_actix(variant, addr, otlp),
    }
}

fn serve_axum(variant: Variant, addr: &str, otlp: &str) {
    use axum::routing::get;
    use axum::Router;
    use botanu_axum::BotanuLayer;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let installed = runtime.block_on(async {
        let (router, installed) = match variant {
            Variant::AxumBare => (
                Router::new().route("/hello", get(hello)),
                Installed::Nothing,
            ),
            Variant::AxumBotanu | Variant::AxumBotanuNoExport => {
                let b = botanu(otlp, variant == Variant::AxumBotanu);
                let router = Router::new()
                    .route("/hello", get(hello))
                    .layer(BotanuLayer::workflow("Hello"));
                (router, Installed::Botanu(b))
            }
            Variant::AxumOtel | Variant::AxumOtelNoExport => {
                let provider = if variant == Variant::AxumOtel {
                    otel_provider(otlp)
                } else {
                    batched_global_provider(NoopExporter)
                };
                otel_tracing_subscriber(&provider);
                let router = Router::new()
                    .route("/hello", get(hello))
                    .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
                (router, Installed::Otel(provider))
            }
            Variant::AgentOtel => {
                let provider = otel_provider(otlp);
                (
                    Router::new().route("/agent", get(agent)),
                    Installed::Otel(provider),
                )
            }
            Variant::AgentBotanu => {
                let b = botanu(otlp, true);
                let router = Router::new()
                    .route("/agent", get(agent))
                    .layer(BotanuLayer::workflow("Agent"));
                (router, Installed::Botanu(b))
            }
            _ => unreachable!("not an axum variant"),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!("ready {}", listener.local_addr().expect("local address"));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .expect("serve");
        installed
    });
    drop(runtime);
    installed.shutdown();
}

fn serve_actix(variant: Variant, addr: &str, otlp: &str) {
    use actix_web::{web, App, HttpServer};
    use botanu_actix::Botanu;

    let installed = match variant {
        Variant::ActixBare => Installed::Nothing,
        Variant::ActixBotanu => Installed::Botanu(botanu(otlp, true)),
        Variant::ActixOtel => Installed::Otel(otel_provider(otlp)),
        _ => unreachable!("not an actix variant"),
    };
    // One server per setup: the three `App` types differ, so a macro spells the server once.
    macro_rules! run {
        ($app:expr) => {{
            let server = HttpServer::new(move || $app)
                .workers(1)
                .disable_signals()
                .bind(addr)
                .expect("bind");
            println!("ready {}", server.addrs()[0]);
            let server = server.run();
            let handle = server.handle();
            actix_web::rt::spawn(async move {
                shutdown_signal().await;
                handle.stop(true).await;
            });
            server.await.expect("serve");
        }};
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        match variant {
            Variant::ActixBotanu => run!(App::new()
                .route("/hello", web::get().to(hello))
                .wrap(Botanu::workflow("Hello"))),
            Variant::ActixOtel => run!(App::new()
                .route("/hello", web::get().to(hello))
                .wrap(opentelemetry_instrumentation_actix_web::RequestTracing::new())),
            _ => run!(App::new().route("/hello", web::get().to(hello))),
        }
    });
    installed.shutdown();
}
