//! The support desk over gRPC with tonic: every RPC is a botanu run.
//!
//! `cargo run -p botanu-examples --features grpc --example grpc_support` — with no
//! configuration it starts the in-repo OTLP/HTTP receiver on 127.0.0.1, exports there, serves
//! `support.Support` (a unary `Resolve`, a server-streaming `Watch`) under botanu-tower's
//! `BotanuLayer`, calls it through a tonic client under `PropagateLayer` from inside a run of
//! its own (the callee continues the caller's trace and is linked to its run), prints one row
//! per run and exits. The gRPC status decides each run: `OK` succeeds, any other code fails it
//! with the code's name (`UNAVAILABLE`) as `error.type`; a stream's run ends when the stream does.

use std::time::Duration;

use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{emit_outcome, Outcome, RunStatus};
use botanu_receiver::grpc::{self, Answer, BoxFuture, Support, Ticket, Updates};
use botanu_tower::{extract, BotanuLayer, PropagateLayer};
use futures_util::StreamExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::Context;
use tonic::{Request, Response, Status};

fn resolve(request: Request<Ticket>) -> BoxFuture<Result<Response<Answer>, Status>> {
    Box::pin(async move {
        let question = request.into_inner().question;
        if question.contains("crash") {
            return Err(Status::unavailable("the knowledge base is down"));
        }
        // The model call is recognised on the wire: a GenAI span with its tokens, in this run.
        let text = botanu_examples::ask_model(&question).await;
        emit_outcome(Outcome::success().value("tickets_resolved", 1));
        Ok(Response::new(Answer { text }))
    })
}

fn watch(_request: Request<Ticket>) -> BoxFuture<Result<Response<Updates>, Status>> {
    Box::pin(async {
        let updates =
            futures_util::stream::iter(["queued", "assigned", "resolved"]).then(|t| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Answer { text: t.into() })
            });
        Ok(Response::new(Box::pin(updates) as Updates))
    })
}

fn ticket(question: &str, id: &str) -> Request<Ticket> {
    let mut r = Request::new(Ticket {
        question: question.to_owned(),
    });
    r.metadata_mut().insert("x-ticket-id", id.parse().unwrap());
    r.metadata_mut()
        .insert("x-customer-id", "acme".parse().unwrap());
    r
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let receiver = botanu_examples::local_receiver_unless_configured();
    let botanu = botanu_examples::install("support-desk-grpc", receiver.as_ref());

    // The server (`support.Support`, messages and routing as tonic's generated code has them):
    // one run per RPC, ids from the request's gRPC metadata.
    let (addr, stop) = grpc::serve(
        BotanuLayer::workflow("Support RPC")
            .event_id(extract::header("x-ticket-id"))
            .customer_id(extract::header("x-customer-id")),
        Support { resolve, watch },
    )
    .await;

    // The client: tonic's channel under PropagateLayer, called from a run of the caller's.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
    let channel = endpoint.connect().await?;
    let mut client = tonic::client::Grpc::new(
        tower::ServiceBuilder::new()
            // The channel adds the origin below this layer: name it for the host policy.
            .layer(PropagateLayer::new().origin(endpoint.uri()))
            .service(channel),
    );
    let caller = RunSpec::new("Support Desk")
        .event_id(Some("desk-1".into()))
        .customer_id(Some("acme".into()))
        .start(&Context::new());
    let cx = caller.context().clone();
    let resolve_path = || http::uri::PathAndQuery::from_static(grpc::RESOLVE);
    let codec = grpc::client_codec;
    async {
        client.ready().await?;
        let answer = client
            .unary(
                ticket("How do I reset my password?", "T-100"),
                resolve_path(),
                codec(),
            )
            .await?;
        println!("Resolve T-100: {}", answer.into_inner().text);

        client.ready().await?;
        let failed = client
            .unary(ticket("please crash", "T-101"), resolve_path(), codec())
            .await;
        println!("Resolve T-101: {:?}", failed.map(|a| a.into_inner().text));

        client.ready().await?;
        let mut updates = client
            .server_streaming(
                ticket("status of T-100?", "T-102"),
                http::uri::PathAndQuery::from_static(grpc::WATCH),
                codec(),
            )
            .await?
            .into_inner();
        while let Some(update) = updates.message().await? {
            println!("Watch T-102: {}", update.text);
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .with_context(cx)
    .await?;
    caller.finish(RunEnd::new(RunStatus::Success));

    botanu_examples::report(&botanu, receiver.as_ref(), 4);
    let _ = stop.send(());
    let _ = botanu.shutdown();
    Ok(())
}
