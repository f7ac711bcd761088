//! Soak: a large number of requests through the axum demo app (`support_desk --serve`) with
//! 100% export to the in-repo receiver; RSS sampled as it goes, drops read from botanu's
//! shutdown summary.

use std::time::{Duration, Instant};

use botanu_tests::receiver::Receiver;

use crate::load::{self, Server};

/// The demo's ticket request: a JSON question, a customer header, a fresh ticket id each time.
const TICKETS: &str = r#"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/tickets/T-" .. counter,
    { ["content-type"] = "application/json", ["x-customer-id"] = "acme" },
    '{"question": "How do I get a refund?"}')
end
"#;

/// `support desk on http://127.0.0.1:3000 (…)`
fn demo_ready(line: &str) -> Option<std::net::SocketAddr> {
    let rest = line.split_once("on http://")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut requests: u64 = 1_000_000;
    let mut connections = 64usize;
    let mut slice = Duration::from_secs(10);
    let mut server_path = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--requests" => requests = crate::number(value)? as u64,
            "--connections" => connections = crate::number(value)?,
            "--slice" => slice = Duration::from_secs(crate::number(value)? as u64),
            "--server" => server_path = Some(value.clone()),
            other => return Err(format!("unknown soak argument {other}")),
        }
    }
    if !load::wrk_available() {
        return Err("soak needs wrk (apt-get install wrk)".into());
    }
    let server_path = match server_path {
        Some(p) => p,
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let dir = exe.parent().ok_or("no executable directory")?;
            dir.join("examples/support_desk")
                .to_str()
                .ok_or("path is not UTF-8")?
                .to_owned()
        }
    };
    if !std::path::Path::new(&server_path).exists() {
        return Err(format!(
            "{server_path} not found: build it first (cargo build --release -p botanu-examples --example support_desk)"
        ));
    }
    let pin = load::can_pin();
    if pin {
        load::pin_self(load::LOAD_CORE);
    }
    let receiver = Receiver::start_counting().map_err(|e| format!("receiver: {e}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let endpoint = receiver.endpoint();
    let mut server = Server::start(
        &server_path,
        &["--serve"],
        &[
            ("BOTANU_EXAMPLE_ADDR", addr.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ],
        pin,
        demo_ready,
    )?;
    let script = std::env::temp_dir().join(format!("botanu-soak-{}.lua", std::process::id()));
    std::fs::write(&script, TICKETS).map_err(|e| e.to_string())?;
    let script_path = script.to_str().ok_or("path is not UTF-8")?.to_owned();
    let url = format!("http://{addr}");

    println!("| requests so far | req/s (slice) | p99 (slice) | RSS | spans received |");
    println!("|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let mut done = 0u64;
    let mut errors = 0u64;
    let mut rss = Vec::new();
    while done < requests {
        let r = load::wrk(&url, connections, slice, pin, Some(&script_path))?;
        done += r.requests;
        errors += r.errors;
        let now = server.rss_kib(true).unwrap_or(0);
        rss.push((done, now));
        println!(
            "| {done} | {:.0} | {:.2} ms | {:.1} MiB | {} |",
            r.requests_per_sec,
            r.p99.as_secs_f64() * 1e3,
            now as f64 / 1024.0,
            receiver.accepted()
        );
    }
    let _ = std::fs::remove_file(&script);
    let peak = server.rss_kib(false).unwrap_or(0);
    server.stop(Duration::from_secs(120))?;
    let summary = server
        .output()
        .into_iter()
        .rev()
        .find(|l| l.starts_with("flushed:"))
        .unwrap_or_else(|| "no shutdown summary".into());
    std::thread::sleep(Duration::from_millis(500));
    // RSS after warm-up: the first tenth of the requests.
    let warm = rss
        .iter()
        .find(|(n, _)| *n >= requests / 10)
        .map_or(0, |(_, r)| *r);
    let last = rss.last().map_or(0, |(_, r)| *r);
    println!(
        "\n{done} requests in {:.0} s, {errors} errors; RSS after warm-up {:.1} MiB, at the end {:.1} MiB ({:+.1} MiB), peak {:.1} MiB; spans received {}; server's summary: {summary}",
        started.elapsed().as_secs_f64(),
        warm as f64 / 1024.0,
        last as f64 / 1024.0,
        (last as f64 - warm as f64) / 1024.0,
        peak as f64 / 1024.0,
        receiver.accepted()
    );
    Ok(())
}
