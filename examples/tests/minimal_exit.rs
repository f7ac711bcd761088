//! The README's minimal app (layer only, no `enable()` call): SIGINT right after the last
//! request, and every span still arrives — the run spans and the `#[tracing::instrument]`
//! spans bridged from `tracing`, with their run ids.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use botanu_receiver::receiver::Receiver;

const REQUESTS: usize = 10;

#[test]
fn sigint_right_after_the_last_request_loses_nothing() {
    let receiver = Receiver::start().unwrap();
    let mut app = Command::new(env!("CARGO_BIN_EXE_minimal"))
        .env("ADDR", "127.0.0.1:0")
        .env("BOTANU_COLLECTOR_ENDPOINT", receiver.endpoint())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("BOTANU_DISABLED")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(app.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let client = reqwest::blocking::Client::new();
    let mut run_ids = Vec::new();
    for i in 0..REQUESTS {
        let r = client
            .post(format!("http://{addr}/tickets/T-{i}"))
            .header("x-customer-id", "acme")
            .send()
            .unwrap();
        assert!(r.status().is_success());
        run_ids.push(r.text().unwrap());
    }
    let health = client
        .post(format!("http://{addr}/healthz"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 404);

    // SIGINT at once: the batch processor's 5 s delay has not passed.
    let killed = Command::new("kill")
        .args(["-INT", &app.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            panic!("the app did not exit after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");

    // Everything was exported before the process exited: no waiting here.
    let spans = receiver.spans();
    let runs: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "botanu.run/Customer Support")
        .collect();
    assert_eq!(runs.len(), REQUESTS, "every run span arrived");
    let handlers: Vec<_> = spans.iter().filter(|s| s.name == "handle_ticket").collect();
    assert_eq!(
        handlers.len(),
        REQUESTS,
        "every #[tracing::instrument] span arrived"
    );
    for id in &run_ids {
        assert!(runs
            .iter()
            .any(|s| s.attr("botanu.run_id") == Some(id.as_str())));
        let handler = handlers
            .iter()
            .find(|s| s.attr("botanu.run_id") == Some(id.as_str()))
            .expect("the handler span carries its run id");
        assert_eq!(handler.attr("botanu.customer_id"), Some("acme"));
    }
}
