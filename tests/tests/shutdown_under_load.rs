//! Shutdown under load: every request that completed before `Botanu::shutdown()` has its run
//! span at the receiver when shutdown returns.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use botanu_axum::{extract, BotanuLayer};
use botanu_core::BotanuConfig;
use botanu_tests::http::{body, loopback_client, request, send, serve};
use botanu_tests::receiver::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_requests_are_all_delivered_by_shutdown() {
    let receiver = Receiver::start().unwrap();
    // A long schedule delay: nothing is exported before shutdown flushes.
    let botanu = botanu_core::enable_with(
        BotanuConfig::default()
            .with_endpoint(receiver.endpoint())
            .with_schedule_delay(Duration::from_secs(60)),
    )
    .unwrap();
    let app = Router::new()
        .route("/t", get(|| async { "ok" }))
        .layer(BotanuLayer::workflow("Shutdown").event_id(extract::query("e")));
    let addr = serve(app).await;

    const N: usize = 300;
    let mut tasks = Vec::new();
    for worker in 0..6 {
        tasks.push(tokio::spawn(async move {
            let mut client = loopback_client();
            for i in (worker..N).step_by(6) {
                let reply = send(
                    &mut client,
                    body(request("GET", &format!("http://{addr}/t?e=sd-{i}")), ""),
                )
                .await
                .unwrap();
                assert_eq!(reply.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    botanu.shutdown().unwrap();
    let runs = receiver
        .spans()
        .iter()
        .filter(|s| s.name == "botanu.run/Shutdown")
        .count();
    assert_eq!(
        runs, N,
        "every completed request's run span is delivered by shutdown()"
    );
    assert_eq!(botanu.stats().exported, N as u64);
}
