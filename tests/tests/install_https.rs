//! HTTPS export (feature `tls`): spans reach an HTTPS receiver whose self-signed certificate is
//! trusted through `OTEL_EXPORTER_OTLP_CERTIFICATE` (here set in code); an unreadable
//! certificate file is a clear error; botanu installs no process-wide rustls crypto provider.

use std::time::Duration;

use botanu_core::{BotanuConfig, Error, RunContext};
use botanu_tests::receiver::Receiver;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;

#[test]
fn exports_over_https_with_a_trusted_certificate() {
    let receiver = Receiver::start_tls().unwrap();
    assert!(receiver.endpoint().starts_with("https://127.0.0.1:"));

    // A missing certificate file is a clear error naming the variable.
    let err = BotanuConfig::default()
        .with_endpoint(receiver.endpoint())
        .with_certificate("/nonexistent/ca.pem");
    let err = botanu_core::Botanu::builder()
        .with_config(err)
        .install()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { variable, .. } if *variable == "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{err}"
    );

    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(receiver.endpoint())
            .with_certificate(receiver.ca_pem().unwrap())
            .with_schedule_delay(Duration::from_millis(20)),
    )
    .unwrap();
    let run = RunContext::new("Support", "t-1", "acme");
    botanu_core::tracer().start_with_context("over tls", &run.to_context(&Context::new()));
    botanu.force_flush().unwrap();
    assert!(receiver.wait_for_spans(1, Duration::from_secs(10)));
    assert_eq!(
        receiver.spans()[0].attr("botanu.run_id"),
        Some(run.run_id())
    );
    assert_eq!(botanu.stats().exported, 1);
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "botanu must not install a process-wide crypto provider"
    );
    // The `tls` feature must not break the app's own reqwest clients (feature unification).
    assert!(reqwest::Client::builder().build().is_ok());
    assert!(reqwest::blocking::Client::builder().build().is_ok());
    botanu.shutdown().unwrap();
}
