//! Secrets stay where they belong, over real HTTP on 127.0.0.1:
//! * with `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` set, an export to this machine does not go
//!   through the proxy (which would see `Authorization: Bearer <key>`);
//! * a collector that answers with a redirect is not followed (the spans and the key would go
//!   to another host): the answer is logged once and the export counted as failed.
//!
//! This binary has one test: it sets the proxy variables for the whole process.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botanu_core::{BotanuConfig, RunContext};
use botanu_tests::receiver::Receiver;
use botanu_tests::LogCapture;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;

const API_KEY: &str = "btnu_live_proxy_must_not_see_me";

/// Accepts connections on 127.0.0.1 and answers each request with `reply`; returns its port,
/// the number of connections and the request heads it read.
fn fake_server(reply: String) -> (u16, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (c, h) = (connections.clone(), heads.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut content_length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; content_length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            h.lock().unwrap().push(head);
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, connections, heads)
}

#[test]
fn no_proxy_for_this_machine_and_no_redirects() {
    let logs = LogCapture::install();
    let (proxy_port, proxy_connections, _) = fake_server(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    );
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        std::env::set_var(var, &proxy);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");

    // The collector redirects to another receiver, which must get nothing.
    let elsewhere = Receiver::start().unwrap();
    let (collector_port, collector_connections, collector_heads) = fake_server(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}/v1/traces\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        elsewhere.endpoint()
    ));
    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_api_key(API_KEY)
            .with_endpoint(format!("http://127.0.0.1:{collector_port}"))
            .with_schedule_delay(Duration::from_millis(20)),
    )
    .unwrap();
    let run = RunContext::new("Support", "t-1", "acme");
    botanu_core::tracer().start_with_context("work", &run.to_context(&Context::new()));
    let _ = botanu.force_flush();

    assert!(
        botanu_tests::poll_until(Duration::from_secs(10), || botanu.stats().failed >= 1),
        "{:?}",
        botanu.stats()
    );
    // Straight to the collector on this machine, with the key; the proxy saw nothing.
    assert!(collector_connections.load(Ordering::SeqCst) >= 1);
    let heads = collector_heads.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .all(|h| h.to_ascii_lowercase().contains(&format!(
                "authorization: bearer {}",
                API_KEY.to_ascii_lowercase()
            ))),
        "{heads:?}"
    );
    assert_eq!(
        proxy_connections.load(Ordering::SeqCst),
        0,
        "the proxy was used"
    );
    // The redirect was not followed, and explained once.
    std::thread::sleep(Duration::from_millis(200));
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    assert_eq!(botanu.stats().exported, 0);
    let explained = logs.matching("does not follow");
    assert_eq!(explained.len(), 1, "{:?}", logs.lines());
    assert!(logs.lines().iter().all(|l| !l.contains(API_KEY)));
    let _ = botanu.shutdown();
}
