//! gRPC over loopback with tonic: a tonic server under botanu-tower's `BotanuLayer` (a run per
//! RPC: `rpc.*` attributes, the gRPC status deciding the run, server streams ending the run
//! when they end, a client that goes away cancelling it) and a tonic client under
//! `PropagateLayer` (the run's `traceparent` and baggage on outbound RPCs).

use std::net::SocketAddr;
use std::time::Duration;

use botanu_core::adapter::{RunEnd, RunSpec};
use botanu_core::{RunContext, RunStatus};
use botanu_receiver::grpc::{self, Answer, BoxFuture, Support, Ticket, Updates};
use botanu_tests::env::{completed_attr, TestEnv};
use botanu_tests::receiver::{ReceivedSpan, Val};
use botanu_tower::{extract, BotanuLayer, PropagateLayer};
use futures_util::StreamExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::Context;
use tonic::{Request, Response, Status};

fn resolve(request: Request<Ticket>) -> BoxFuture<Result<Response<Answer>, Status>> {
    Box::pin(async move {
        let ticket = request.into_inner();
        if ticket.question == "down" {
            return Err(Status::unavailable("the knowledge base is down"));
        }
        let run = RunContext::current().map(|r| r.run_id().to_owned());
        Ok(Response::new(Answer {
            text: format!("answered in run {}", run.unwrap_or_default()),
        }))
    })
}

fn watch(request: Request<Ticket>) -> BoxFuture<Result<Response<Updates>, Status>> {
    let question = request.into_inner().question;
    Box::pin(async move {
        let updates: Vec<Result<Answer, Status>> = match question.as_str() {
            "fail-mid" => vec![
                Ok(Answer {
                    text: "looking".into(),
                }),
                Err(Status::internal("lost the thread")),
            ],
            _ => ["queued", "assigned", "resolved"]
                .into_iter()
                .map(|t| Ok(Answer { text: t.into() }))
                .collect(),
        };
        let endless = question == "endless";
        let stream = futures_util::stream::iter(updates)
            .then(|u| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                u
            })
            .chain(futures_util::stream::unfold(
                endless,
                |endless| async move {
                    if !endless {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Ok(Answer {
                            text: "still working".into(),
                        }),
                        endless,
                    ))
                },
            ));
        Ok(Response::new(Box::pin(stream) as Updates))
    })
}

/// The server on 127.0.0.1 (a free port), stopped when the returned sender is dropped.
async fn serve() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    grpc::serve(
        BotanuLayer::workflow("Support RPC")
            .event_id(extract::header("x-ticket-id"))
            .customer_id(extract::header("x-customer-id")),
        Support { resolve, watch },
    )
    .await
}

type Client = tonic::client::Grpc<botanu_tower::PropagateService<tonic::transport::Channel>>;

async fn client(addr: SocketAddr) -> Client {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let channel = endpoint.connect().await.unwrap();
    tonic::client::Grpc::new(
        tower::ServiceBuilder::new()
            .layer(PropagateLayer::new().origin(endpoint.uri()))
            .service(channel),
    )
}

fn request(question: &str, ticket: &str) -> Request<Ticket> {
    let mut r = Request::new(Ticket {
        question: question.to_owned(),
    });
    r.metadata_mut()
        .insert("x-ticket-id", ticket.parse().unwrap());
    r.metadata_mut()
        .insert("x-customer-id", "acme".parse().unwrap());
    r
}

async fn unary(client: &mut Client, req: Request<Ticket>) -> Result<Answer, Status> {
    client.ready().await.unwrap();
    client
        .unary(
            req,
            http::uri::PathAndQuery::from_static(grpc::RESOLVE),
            grpc::client_codec(),
        )
        .await
        .map(Response::into_inner)
}

async fn stream(client: &mut Client, req: Request<Ticket>) -> tonic::codec::Streaming<Answer> {
    client.ready().await.unwrap();
    client
        .server_streaming(
            req,
            http::uri::PathAndQuery::from_static(grpc::WATCH),
            grpc::client_codec(),
        )
        .await
        .unwrap()
        .into_inner()
}

fn run(ticket: &str) -> ReceivedSpan {
    TestEnv::get().run("botanu.run/Support RPC", ticket, 1).0
}

fn int(s: &ReceivedSpan, key: &str) -> Option<i64> {
    s.int(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_per_rpc_decided_by_the_grpc_status() {
    let _ = TestEnv::get();
    let (addr, _stop) = serve().await;
    let mut client = client(addr).await;

    // Unary, OK: the handler runs inside the run; rpc.* attributes; status 0.
    let answer = unary(&mut client, request("reset password", "rpc-ok"))
        .await
        .unwrap();
    let ok = run("rpc-ok");
    assert_eq!(
        answer.text,
        format!("answered in run {}", ok.attr("botanu.run_id").unwrap())
    );
    assert_eq!(ok.kind, 2, "server");
    assert_eq!(ok.attr("rpc.system"), Some("grpc"));
    assert_eq!(ok.attr("rpc.service"), Some("support.Support"));
    assert_eq!(ok.attr("rpc.method"), Some("Resolve"));
    assert_eq!(int(&ok, "rpc.grpc.status_code"), Some(0));
    assert_eq!(
        ok.attr("botanu.customer_id"),
        Some("acme"),
        "from gRPC metadata"
    );
    assert_eq!(completed_attr(&ok, "status").as_deref(), Some("success"));

    // Unary, UNAVAILABLE (a trailers-only response): a failed run, the code as error.type.
    let status = unary(&mut client, request("down", "rpc-down"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let down = run("rpc-down");
    assert_eq!(int(&down, "rpc.grpc.status_code"), Some(14));
    assert_eq!(down.attr("error.type"), Some("UNAVAILABLE"));
    assert_eq!(
        down.status,
        (2, "UNAVAILABLE: the knowledge base is down".to_owned())
    );
    assert_eq!(completed_attr(&down, "status").as_deref(), Some("failure"));

    // Server streaming: the run ends when the stream does, with the status in the trailers.
    let mut updates = stream(&mut client, request("status?", "rpc-stream")).await;
    let mut texts = Vec::new();
    while let Some(u) = updates.message().await.unwrap() {
        texts.push(u.text);
    }
    assert_eq!(texts, ["queued", "assigned", "resolved"]);
    let streamed = run("rpc-stream");
    assert_eq!(streamed.attr("rpc.method"), Some("Watch"));
    assert_eq!(int(&streamed, "rpc.grpc.status_code"), Some(0));
    assert_eq!(
        completed_attr(&streamed, "status").as_deref(),
        Some("success")
    );
    let duration = streamed.attributes.get("botanu.run.duration_ms");
    assert!(
        matches!(duration, Some(Val::Double(ms)) if *ms >= 25.0),
        "the run lasted the whole stream: {duration:?}"
    );

    // A stream that fails after its first message: INTERNAL in the trailers.
    let mut updates = stream(&mut client, request("fail-mid", "rpc-stream-fail")).await;
    assert_eq!(updates.message().await.unwrap().unwrap().text, "looking");
    assert_eq!(
        updates.message().await.unwrap_err().code(),
        tonic::Code::Internal
    );
    let failed = run("rpc-stream-fail");
    assert_eq!(int(&failed, "rpc.grpc.status_code"), Some(13));
    assert_eq!(failed.attr("error.type"), Some("INTERNAL"));
    assert_eq!(failed.status, (2, "INTERNAL: lost the thread".to_owned()));

    // A client that stops reading an endless stream and goes away: canceled.
    let mut updates = stream(&mut client, request("endless", "rpc-cancel")).await;
    assert!(updates.message().await.unwrap().is_some());
    drop(updates);
    let canceled = run("rpc-cancel");
    assert_eq!(
        completed_attr(&canceled, "status").as_deref(),
        Some("canceled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_rpcs_carry_the_run() {
    let _ = TestEnv::get();
    let (addr, _stop) = serve().await;
    let mut client = client(addr).await;

    // The caller is in a run of its own; loopback is the app's network, so the baggage goes.
    let caller = RunSpec::new("Support Desk")
        .event_id(Some("desk-1".into()))
        .start(&Context::new());
    let caller_run = caller.run().run_id().to_owned();
    let trace_id = caller
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string();
    let cx = caller.context().clone();
    unary(&mut client, request("reset password", "rpc-callee"))
        .with_context(cx)
        .await
        .unwrap();
    caller.finish(RunEnd::new(RunStatus::Success));

    let callee = run("rpc-callee");
    assert_eq!(
        callee.trace_id, trace_id,
        "the RPC continues the caller's trace"
    );
    assert_eq!(
        callee.attr("botanu.parent_run_id"),
        Some(caller_run.as_str()),
        "and is linked to the caller's run"
    );
}
