//! The support desk of `support_desk`, on actix-web: every ticket is a botanu run.
//!
//! `cargo run -p botanu-examples --features actix --example actix_support` — with no configuration it starts
//! the in-repo OTLP/HTTP receiver on 127.0.0.1, exports there, serves the app, sends itself
//! the same tickets (one streamed answer, one failing ticket, one that asks the internal
//! billing service through `PropagateLayer`), prints one row per run and exits. With
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, `BOTANU_COLLECTOR_ENDPOINT` or `BOTANU_API_KEY` set it exports
//! there instead.
//!
//! `-- --serve` only serves on `BOTANU_EXAMPLE_ADDR` (default `127.0.0.1:3001`) until Ctrl-C,
//! then shuts down gracefully and flushes.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use botanu_actix::{emit_outcome, extract, set_correlation, Botanu, Outcome, Run};
use botanu_receiver::http::{body, loopback_client, request, send};
use botanu_tower::PropagateLayer;
use tower::ServiceBuilder;

#[derive(serde::Deserialize)]
struct Params {
    stream: Option<bool>,
}

async fn handle_ticket(
    run: Run,
    id: web::Path<String>,
    params: web::Query<Params>,
    ticket: web::Json<serde_json::Value>,
    self_addr: web::Data<SocketAddr>,
) -> HttpResponse {
    let question = ticket["question"].as_str().unwrap_or("").to_owned();
    set_correlation([("zendesk_ticket_id", id.into_inner())]);
    if question.contains("crash") {
        return HttpResponse::InternalServerError().body("the knowledge base is down");
    }
    if question.contains("invoice") {
        // Ask the internal billing service: it continues this run (same trace, parent run).
        let mut client = ServiceBuilder::new()
            .layer(PropagateLayer::new())
            .service(loopback_client());
        let uri = format!(
            "http://{}/billing/{}",
            self_addr.get_ref(),
            botanu_examples::path_segment(run.0.customer_id())
        );
        let _billing_answer = send(&mut client, body(request("GET", &uri), "")).await;
    }
    let answer = botanu_examples::ask_model(&question).await;
    emit_outcome(Outcome::success().value("tickets_resolved", 1.0));
    if params.stream.unwrap_or(false) {
        let words: Vec<String> = answer.split(' ').map(|w| format!("{w} ")).collect();
        let chunks = futures_util::stream::unfold(words.into_iter(), |mut words| async move {
            let word = words.next()?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some((Ok::<_, std::io::Error>(web::Bytes::from(word)), words))
        });
        return HttpResponse::Ok().streaming(chunks);
    }
    HttpResponse::Ok().body(answer)
}

async fn billing(customer: web::Path<String>) -> String {
    opentelemetry::global::tracer("billing").in_span("db.postgresql.select invoices", |_| {});
    format!("{customer}: 2 open invoices")
}

fn app(
    self_addr: SocketAddr,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(self_addr))
        .service(
            web::resource("/tickets/{id}")
                .wrap(
                    Botanu::workflow("Customer Support")
                        .event_id(extract::match_info("id"))
                        .customer_id(extract::header("x-customer-id")),
                )
                .route(web::post().to(handle_ticket)),
        )
        .service(
            web::resource("/billing/{customer}")
                // Internal: only the support desk calls it.
                .wrap(Botanu::workflow("Billing Lookup").trust_inbound(true))
                .route(web::get().to(billing)),
        )
}

use opentelemetry::trace::Tracer as _;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let serve_only = std::env::args().any(|a| a == "--serve");
    let receiver = if serve_only {
        None
    } else {
        botanu_examples::local_receiver_unless_configured()
    };
    let botanu = botanu_examples::install("support-desk-actix", receiver.as_ref());

    let bind = if serve_only {
        std::env::var("BOTANU_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into())
    } else {
        "127.0.0.1:0".into()
    };
    let listener = std::net::TcpListener::bind(&bind)?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || app(addr))
        .workers(1)
        .listen(listener)?
        .run();

    if serve_only {
        println!(
            "support desk (actix) on http://{addr} (botanu mode: {}); Ctrl-C to stop",
            botanu.mode().as_str()
        );
        // actix stops on Ctrl-C after in-flight requests finish; then flush botanu.
        server.await?;
        let _ = botanu.shutdown();
        println!("flushed: {:?}", botanu.stats());
        return Ok(());
    }

    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    botanu_examples::send_tickets(addr).await;
    botanu_examples::report(&botanu, receiver.as_ref(), 6);
    handle.stop(true).await;
    let _ = running.await;
    let _ = botanu.shutdown();
    Ok(())
}
