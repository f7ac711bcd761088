//! `BotanuConfig::with_export(false)`: runs and enrichment work; nothing is exported.

use std::time::Duration;

use botanu_core::{BotanuConfig, Mode, RunContext};
use botanu_tests::receiver::Receiver;
use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};

#[test]
fn export_off_enriches_spans_and_sends_nothing() {
    let receiver = Receiver::start().unwrap();
    let config = BotanuConfig::default()
        .with_endpoint(receiver.endpoint())
        .with_export(false);
    let botanu = botanu_core::enable_with(config).unwrap();
    assert_eq!(botanu.mode(), Mode::Greenfield);
    let tracer = botanu.tracer_provider().tracer("t");

    let mut run_ids = Vec::new();
    for i in 0..20 {
        botanu_core::workflow("Export Off")
            .event_id(format!("evt-{i}"))
            .customer_id("acme")
            .run_sync_any(|| {
                let run = RunContext::current().expect("inside a run");
                let mut span = tracer.start("child");
                assert!(span.is_recording());
                let data = span.exported_data().expect("recording span data");
                let attr = |k: &str| {
                    data.attributes
                        .iter()
                        .find(|kv| kv.key.as_str() == k)
                        .map(|kv| kv.value.as_str().into_owned())
                };
                assert_eq!(attr("botanu.run_id").as_deref(), Some(run.run_id()));
                assert_eq!(attr("botanu.workflow").as_deref(), Some("Export Off"));
                assert_eq!(attr("botanu.event_id"), Some(format!("evt-{i}")));
                assert_eq!(attr("botanu.customer_id").as_deref(), Some("acme"));
                span.end();
                run_ids.push(run.run_id().to_owned());
            });
    }
    run_ids.dedup();
    assert_eq!(run_ids.len(), 20, "one run per scope");

    botanu.force_flush().unwrap();
    botanu.shutdown().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        receiver.requests().is_empty(),
        "export off must not contact the collector"
    );
    assert_eq!(botanu.stats(), Default::default());
}
