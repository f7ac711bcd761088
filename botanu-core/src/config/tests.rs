//! `BotanuConfig`: environment names and defaults (the reference Python SDK's), the
//! trusted-host rule for the API key decided on the final endpoint, credential removal, and
//! clear errors naming the variable.

use std::collections::HashMap;

use super::{is_trusted_host, resolve_environment};
use crate::{BotanuConfig, Error};

const KEY: &str = "btnu_live_test";

fn env(pairs: &[(&str, &str)]) -> BotanuConfig {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BotanuConfig::from_lookup(|k| m.get(k).cloned())
}

fn endpoint(c: &BotanuConfig) -> String {
    c.resolve().unwrap().traces_endpoint
}

fn variable(e: Error) -> &'static str {
    match e {
        Error::Config { variable, .. } => variable,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let c = env(&[]);
    assert!(!c.is_disabled());
    assert_eq!(c.environment(), "production");
    assert_eq!(c.content_capture_rate(), 0.1);
    assert_eq!(c.max_queue_size(), 65_536);
    assert_eq!(c.service_name(), None);
    let r = c.resolve().unwrap();
    assert_eq!(r.traces_endpoint, "http://localhost:4318/v1/traces");
    assert!(!r.sends_authorization());
    assert!(r.headers.is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn endpoint_precedence_and_normalization() {
    assert_eq!(
        endpoint(&env(&[
            ("BOTANU_COLLECTOR_ENDPOINT", "http://botanu:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/custom"
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
        ])),
        "http://botanu:4318/v1/traces"
    );
    // The signal-specific variable is used as is (OpenTelemetry spec).
    assert_eq!(
        endpoint(&env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/custom"
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
        ])),
        "http://traces:4318/custom"
    );
    assert_eq!(
        endpoint(&env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://base:4318/"
        )])),
        "http://base:4318/v1/traces"
    );
    // Never doubled.
    assert_eq!(
        endpoint(&env(&[(
            "BOTANU_COLLECTOR_ENDPOINT",
            "http://c:4318/v1/traces"
        )])),
        "http://c:4318/v1/traces"
    );
    // An empty variable falls through.
    assert_eq!(
        endpoint(&env(&[
            ("BOTANU_COLLECTOR_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")
        ])),
        "http://base:4318/v1/traces"
    );
    // Code beats the environment.
    assert_eq!(
        endpoint(
            &env(&[("BOTANU_COLLECTOR_ENDPOINT", "http://env:4318")])
                .with_endpoint("https://code.example:443/otlp")
        ),
        "https://code.example:443/otlp/v1/traces"
    );
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn api_key_alone_goes_to_botanu_with_bearer() {
    let r = env(&[("BOTANU_API_KEY", KEY)]).resolve().unwrap();
    assert_eq!(r.traces_endpoint, "https://ingest.botanu.ai/v1/traces");
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
    assert!(r.api_key_withheld_from.is_none());
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn api_key_only_to_trusted_final_endpoint_through_every_override() {
    let untrusted = [
        ("BOTANU_COLLECTOR_ENDPOINT", "http://custom:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://attacker.example.com/v1/traces",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://attacker.example.com",
        ),
    ];
    for (var, url) in untrusted {
        let r = env(&[("BOTANU_API_KEY", KEY), (var, url)])
            .resolve()
            .unwrap();
        assert!(!r.sends_authorization(), "{var}={url}");
        assert!(r.api_key_withheld_from.is_some(), "{var}");
        assert!(!format!("{r:?}").contains(KEY));
    }
    // Trusted in the environment, overridden in code to an untrusted host: withheld
    // (the reference SDK sends the key here: quirk 1).
    let r = env(&[
        ("BOTANU_API_KEY", KEY),
        ("BOTANU_COLLECTOR_ENDPOINT", "https://ingest.botanu.ai"),
    ])
    .with_endpoint("https://attacker.example.com")
    .resolve()
    .unwrap();
    assert!(!r.sends_authorization());
    assert_eq!(
        r.api_key_withheld_from.as_deref(),
        Some("attacker.example.com")
    );
    // And the other way round.
    let r = env(&[
        ("BOTANU_API_KEY", KEY),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://attacker.example.com",
        ),
    ])
    .with_endpoint("http://localhost:4318")
    .resolve()
    .unwrap();
    assert!(r.sends_authorization());
    // Key set in code.
    let r = BotanuConfig::default()
        .with_api_key(KEY)
        .with_endpoint("http://127.0.0.1:4318")
        .resolve()
        .unwrap();
    assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
}

#[test]
fn api_key_travels_only_encrypted_or_to_this_machine() {
    // A botanu host over plain http: the key would cross the network in cleartext.
    for url in ["http://ingest.botanu.ai", "http://eu.botanu.ai:4318"] {
        let r = env(&[("BOTANU_API_KEY", KEY), ("BOTANU_COLLECTOR_ENDPOINT", url)])
            .resolve()
            .unwrap();
        assert!(!r.sends_authorization(), "{url}");
        assert!(r.api_key_withheld_cleartext, "{url}");
        assert!(!r.loopback);
        assert!(!format!("{r:?}").contains(KEY));
    }
    // This machine: plain http is fine, and the exporter bypasses proxies.
    for url in [
        "http://localhost:4318",
        "http://127.0.0.1:4318",
        "http://[::1]:4318",
    ] {
        let r = env(&[("BOTANU_API_KEY", KEY), ("BOTANU_COLLECTOR_ENDPOINT", url)])
            .resolve()
            .unwrap();
        assert!(r.sends_authorization(), "{url}");
        assert!(r.loopback, "{url}");
        assert!(!r.api_key_withheld_cleartext);
    }
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn explicit_authorization_header_suppresses_the_key() {
    let r = env(&[
        ("BOTANU_API_KEY", KEY),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20abc,x-tenant=t1",
        ),
    ])
    .resolve()
    .unwrap();
    assert_eq!(r.headers["Authorization"], "Basic abc");
    assert_eq!(r.headers["x-tenant"], "t1");
    assert_eq!(r.headers.len(), 2);
}

#[test]
fn trusted_hosts_follow_the_reference_list() {
    for h in [
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "[::1]",
        "::1",
        "0.0.0.0",
        "botanu.ai",
        "ingest.botanu.ai",
        "a.b.botanu.ai",
    ] {
        assert!(is_trusted_host(h), "{h}");
    }
    for h in [
        "127.0.0.2",
        "evilbotanu.ai",
        "ingest.botanu.ai.evil.com",
        "botanu.ai.evil.com",
        "example.com",
        "",
    ] {
        assert!(!is_trusted_host(h), "{h}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn credentials_in_the_endpoint_are_removed() {
    let c = env(&[(
        "BOTANU_COLLECTOR_ENDPOINT",
        "https://user:secret@example.com/ingest",
    )]);
    let r = c.resolve().unwrap();
    assert_eq!(r.traces_endpoint, "https://example.com/ingest/v1/traces");
    assert!(r.had_credentials);
    for text in [format!("{c:?}"), format!("{r:?}")] {
        assert!(
            !text.contains("secret") && !text.contains("user:"),
            "{text}"
        );
    }
}

#[test]
fn debug_output_hides_secrets() {
    let c = BotanuConfig::default()
        .with_api_key(KEY)
        .with_header("x-api-key", "hidden-value")
        .with_header("dd-api-key", "dd-secret");
    let text = format!("{c:?}");
    // No header value is shown, whatever its name (dd-api-key, x-honeycomb-team, …); the
    // names are.
    assert!(
        !text.contains(KEY) && !text.contains("hidden-value") && !text.contains("dd-secret"),
        "{text}"
    );
    assert!(
        text.contains("dd-api-key") && text.contains("x-api-key"),
        "{text}"
    );
    let env_headers = env(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=hc-secret")]);
    let text = format!("{env_headers:?} {:?}", env_headers.resolve().unwrap());
    assert!(!text.contains("hc-secret"), "{text}");
    assert!(text.contains("x-honeycomb-team"), "{text}");
}

#[test]
fn identity_and_tuning_from_env() {
    let c = env(&[
        ("BOTANU_SERVICE_NAME", "botanu-name"),
        ("OTEL_SERVICE_NAME", "otel-name"),
        ("BOTANU_ENVIRONMENT", "staging"),
        ("OTEL_DEPLOYMENT_ENVIRONMENT", "qa"),
        ("BOTANU_CONTENT_CAPTURE_RATE", "0.25"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("BOTANU_MAX_EXPORT_BATCH_SIZE", "256"),
    ]);
    assert_eq!(c.service_name(), Some("botanu-name"));
    assert_eq!(c.environment(), "staging");
    assert_eq!(c.content_capture_rate(), 0.25);
    assert_eq!(c.max_queue_size(), 4096);
    assert!(c.resolve().is_ok());
    let c = env(&[
        ("OTEL_SERVICE_NAME", "otel-name"),
        ("OTEL_DEPLOYMENT_ENVIRONMENT", "qa"),
    ]);
    assert_eq!(c.service_name(), Some("otel-name"));
    assert_eq!(c.environment(), "qa");
    // Code overrides the environment.
    let c = c.with_environment("prod-eu").with_service_name("svc");
    assert_eq!(
        (c.environment(), c.service_name()),
        ("prod-eu", Some("svc"))
    );
}

#[test]
fn disabled_flag() {
    for v in ["true", "TRUE", "1", "yes"] {
        assert!(env(&[("BOTANU_DISABLED", v)]).is_disabled(), "{v}");
    }
    for v in ["false", "0", "no", "on", ""] {
        assert!(!env(&[("BOTANU_DISABLED", v)]).is_disabled(), "{v}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "tls"),
    ignore = "uses https endpoints: needs the tls feature"
)]
fn invalid_values_are_errors_naming_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            // A header value with a line break: valid `k=v` syntax, not a valid HTTP header.
            &[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=a%0Ab")],
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "x-team=a%0Ab")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (&[("BOTANU_GZIP_LEVEL", "12")], "BOTANU_GZIP_LEVEL"),
        (
            &[("BOTANU_MAX_CONCURRENT_EXPORTS", "0")],
            "BOTANU_MAX_CONCURRENT_EXPORTS",
        ),
        (
            &[("BOTANU_MAX_QUEUE_BYTES", "lots")],
            "BOTANU_MAX_QUEUE_BYTES",
        ),
        (
            &[("BOTANU_CONTENT_CAPTURE_RATE", "1.5")],
            "BOTANU_CONTENT_CAPTURE_RATE",
        ),
        (
            &[("BOTANU_CONTENT_CAPTURE_RATE", "-0.1")],
            "BOTANU_CONTENT_CAPTURE_RATE",
        ),
        (
            &[("BOTANU_CONTENT_CAPTURE_RATE", "lots")],
            "BOTANU_CONTENT_CAPTURE_RATE",
        ),
        (
            &[("BOTANU_CONTENT_CAPTURE_RATE", "NaN")],
            "BOTANU_CONTENT_CAPTURE_RATE",
        ),
        (
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "big")],
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ),
        (&[("BOTANU_MAX_QUEUE_SIZE", "0")], "BOTANU_MAX_QUEUE_SIZE"),
        (
            &[("OTEL_BSP_SCHEDULE_DELAY", "-5")],
            "OTEL_BSP_SCHEDULE_DELAY",
        ),
        (
            &[
                ("BOTANU_MAX_QUEUE_SIZE", "10"),
                ("BOTANU_MAX_EXPORT_BATCH_SIZE", "20"),
            ],
            "BOTANU_MAX_EXPORT_BATCH_SIZE",
        ),
        (
            &[("BOTANU_COLLECTOR_ENDPOINT", "not a url")],
            "BOTANU_COLLECTOR_ENDPOINT",
        ),
        (
            &[("BOTANU_COLLECTOR_ENDPOINT", "localhost:4318")],
            "BOTANU_COLLECTOR_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://host")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://")],
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=1")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
    ];
    for (pairs, var) in cases {
        let err = env(pairs).resolve().unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
        assert_eq!(variable(err), *var, "{pairs:?}");
    }
    // Set in code.
    let err = BotanuConfig::default()
        .with_content_capture_rate(2.0)
        .resolve()
        .unwrap_err();
    assert_eq!(variable(err), "BOTANU_CONTENT_CAPTURE_RATE");
    let err = BotanuConfig::default()
        .with_endpoint("nonsense")
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("set in code"), "{err}");
    // An API key that cannot be a header value.
    let err = BotanuConfig::default()
        .with_api_key("bad\nkey")
        .resolve()
        .unwrap_err();
    assert_eq!(variable(err.clone()), "BOTANU_API_KEY");
    assert!(!err.to_string().contains("bad\nkey"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const VARS: [&str; 12] = [
        "BOTANU_API_KEY",
        "BOTANU_COLLECTOR_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "BOTANU_CONTENT_CAPTURE_RATE",
        "BOTANU_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "BOTANU_DISABLED",
        "BOTANU_ENVIRONMENT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any environment: configuration never panics, and what resolves is sane — an
        /// http(s) endpoint without credentials, valid headers, a bearer only for trusted hosts.
        #[test]
        fn any_environment_resolves_or_names_a_variable(
            values in proptest::collection::vec(proptest::option::of("\\PC{0,40}|http://[a-z.@:]{0,20}|[0-9.]{0,6}"), VARS.len())
        ) {
            let pairs: Vec<(&str, String)> = VARS
                .iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| (*k, v)))
                .collect();
            let c = BotanuConfig::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()));
            let _ = format!("{c:?}");
            match c.resolve() {
                Ok(r) => {
                    prop_assert!(r.traces_endpoint.starts_with("http://") || r.traces_endpoint.starts_with("https://"));
                    let uri: http::Uri = r.traces_endpoint.parse().unwrap();
                    prop_assert!(!uri.authority().unwrap().as_str().contains('@'));
                    for (k, v) in &r.headers {
                        prop_assert!(http::HeaderName::from_bytes(k.as_bytes()).is_ok());
                        prop_assert!(http::HeaderValue::from_str(v).is_ok());
                    }
                    if r.headers.contains_key("authorization") && !pairs.iter().any(|(k, _)| *k == "OTEL_EXPORTER_OTLP_HEADERS") {
                        prop_assert!(is_trusted_host(uri.host().unwrap()));
                    }
                }
                Err(Error::Config { variable, .. }) => prop_assert!(!variable.is_empty()),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}

#[test]
fn environment_chain() {
    let env = |pairs: &[(&str, &str)]| {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve_environment(|k| m.get(k).cloned())
    };
    assert_eq!(env(&[]), "production");
    assert_eq!(env(&[("BOTANU_ENVIRONMENT", "staging")]), "staging");
    assert_eq!(
        env(&[
            ("BOTANU_ENVIRONMENT", ""),
            ("OTEL_DEPLOYMENT_ENVIRONMENT", "qa")
        ]),
        "qa"
    );
    assert_eq!(env(&[("DEPLOYMENT_ENVIRONMENT", "dev")]), "dev");
    assert_eq!(
        env(&[
            ("BOTANU_ENVIRONMENT", "staging"),
            ("OTEL_DEPLOYMENT_ENVIRONMENT", "qa")
        ]),
        "staging"
    );
    // An explicit environment beats any default.
    let run = crate::RunContext::builder("w")
        .environment("explicit")
        .build();
    assert_eq!(run.environment(), "explicit");
}
