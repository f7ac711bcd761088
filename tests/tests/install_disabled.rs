//! `BOTANU_DISABLED=true`: nothing is installed and every botanu API is a cheap no-op.

use botanu_core::{BotanuConfig, Mode, RunContext};
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use opentelemetry::Context;

#[test]
fn disabled_installs_nothing() {
    let config = BotanuConfig::from_lookup(|k| (k == "BOTANU_DISABLED").then(|| "true".to_owned()));
    assert!(config.is_disabled());
    let botanu = botanu_core::enable_with(config).unwrap();
    assert_eq!(botanu.mode(), Mode::Disabled);
    assert!(
        botanu.describe().starts_with("disabled"),
        "{}",
        botanu.describe()
    );
    // The accessor still works (no Option to unwrap): a provider with no processor.
    drop(opentelemetry::trace::TracerProvider::tracer(botanu.tracer_provider(), "t").start("z"));
    assert_eq!(botanu.stats(), Default::default());
    // botanu's tracer records nothing.
    let span = botanu_core::tracer().start("x");
    assert!(!span.is_recording());
    // No global provider was installed: the global tracer is still the no-op one.
    let global_span = opentelemetry::global::tracer("t").start("y");
    assert!(!global_span.is_recording());
    // Runs still work as values; context helpers still work.
    let run = RunContext::new("w", "e", "c");
    let _g = run.to_context(&Context::new()).attach();
    assert_eq!(RunContext::current().unwrap().run_id(), run.run_id());
    assert!(!Context::current().span().is_recording());
    botanu.shutdown().unwrap();
    botanu.force_flush().unwrap();
}
