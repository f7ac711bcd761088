//! Outbound propagation with actix-web's client (`awc` + `AwcPropagation`): a handler in a run
//! calls a loopback downstream, which receives the run's `traceparent` and `baggage`.

use std::net::SocketAddr;

use actix_web::{web, App, HttpServer};
use axum::routing::get;
use axum::Router;
use botanu_actix::{extract, AwcPropagation, Botanu};
use botanu_tests::env::TestEnv;
use botanu_tests::http::{echo_propagation, serve, ActixServer};

#[test]
fn awc_calls_carry_the_run() {
    let env = TestEnv::get();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let echo: SocketAddr =
        tokio.block_on(serve(Router::new().route("/echo", get(echo_propagation))));
    let server = ActixServer::start(move |listener| {
        Ok(HttpServer::new(move || {
            App::new().service(
                web::resource("/call")
                    .wrap(Botanu::workflow("Awc Out").event_id(extract::header("x-event")))
                    .route(web::get().to(move || async move {
                        let client = awc::Client::builder().wrap(AwcPropagation::new()).finish();
                        let mut response = client
                            .get(format!("http://127.0.0.1:{}/echo", echo.port()))
                            .send()
                            .await
                            .unwrap();
                        let body = response.body().await.unwrap();
                        String::from_utf8(body.to_vec()).unwrap()
                    })),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let echoed = reqwest::blocking::Client::new()
        .get(format!("http://{}/call", server.addr()))
        .header("x-event", "awc-1")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (traceparent, baggage) = echoed.split_once('|').unwrap();
    let (run, _) = env.run("botanu.run/Awc Out", "awc-1", 1);
    assert!(
        traceparent.starts_with(&format!("00-{}-", run.trace_id)),
        "{traceparent} continues the run's trace {}",
        run.trace_id
    );
    let baggage = botanu_core::propagation::decode_header(baggage);
    assert_eq!(
        baggage.get("botanu.run_id").map(|v| v.as_str().to_owned()),
        run.attr("botanu.run_id").map(str::to_owned),
        "loopback is the app's own network: the run's baggage goes there"
    );
    assert_eq!(
        baggage
            .get("botanu.event_id")
            .map(|v| v.as_str().to_owned()),
        Some("awc-1".to_owned())
    );
    drop(server);
}
