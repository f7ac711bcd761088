//! [`BotanuPropagation`]: the run crosses outbound `reqwest` calls (feature `reqwest`).

use opentelemetry::context::FutureExt as _;
use reqwest_middleware::{Middleware, Next};

use crate::track::outbound::{ClientCall, ClientOptions, Observed};
use crate::track::wire::ResponseTap;

/// A [`reqwest_middleware::Middleware`] that injects `traceparent` (every host) and the run's
/// baggage (hosts the [`PropagationPolicy`](crate::propagation::PropagationPolicy) allows) into each outbound request, and by default
/// records a client span (`http.request.method`, `server.address`, `server.port`, `url.full`
/// with query values redacted, `http.response.status_code`; error status on 5xx and transport
/// errors). Never panics on header values: ones that cannot be sent are left out.
///
/// **LLM calls are recognised on the wire:** a `POST` to a provider of the
/// [`LlmEndpoints`](crate::llm::LlmEndpoints) table (OpenAI, Azure OpenAI, Anthropic, Mistral, Groq, OpenRouter, local
/// Ollama and vLLM, plus hosts the app adds) is recorded as the GenAI span `llm::call` makes:
/// provider, request model and parameters from the JSON request; usage (input, output, cached
/// tokens), response model, id and finish reasons from the response, plain or SSE-streamed
/// (time to first token too); errors with the provider's error type. The body is observed as
/// the app reads it (the app gets the same bytes); usage a response does not carry is recorded
/// as unknown (`botanu.usage.unknown`), never guessed; a stream the app drops early ends the
/// span as canceled. A request made inside an `llm::call` the app wrote is not recorded twice.
///
/// ```no_run
/// # async fn demo() -> Result<(), reqwest_middleware::Error> {
/// use botanu_core::BotanuPropagation;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BotanuPropagation::new())
///     .build();
/// client.get("http://billing.svc/invoices").send().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct BotanuPropagation {
    options: ClientOptions,
}

impl BotanuPropagation {
    /// With the process-wide policy and client spans.
    pub fn new() -> Self {
        Self::default()
    }

    crate::client_options_builder!(options);
}

impl From<ClientOptions> for BotanuPropagation {
    fn from(options: ClientOptions) -> Self {
        BotanuPropagation { options }
    }
}

#[async_trait::async_trait]
impl Middleware for BotanuPropagation {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let call = ClientCall::start(
            &self.options,
            req.method(),
            req.url(),
            req.body().and_then(reqwest::Body::as_bytes),
        );
        let host = req.url().host_str().map(str::to_owned);
        call.inject(&self.options, host.as_deref(), req.headers_mut());
        let result = next
            .run(req, extensions)
            .with_context(call.context().clone())
            .await;
        match result {
            Ok(response) => {
                let status = response.status();
                match call.respond(status, response.headers()) {
                    Some(tap) => Ok(observe(response, tap)),
                    None => Ok(response),
                }
            }
            Err(e) => {
                call.failed(transport_class(&e), &e.to_string());
                Err(e)
            }
        }
    }
}

fn transport_class(e: &reqwest_middleware::Error) -> &'static str {
    match e {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(_) => "transport",
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}

/// `response` with its body observed by the call's tap (the app reads the same bytes).
fn observe(response: reqwest::Response, tap: ResponseTap) -> reqwest::Response {
    use reqwest::ResponseBuilderExt as _;
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    // The URL travels in an extension only reqwest can make: take it from a carrier.
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    let observed = Observed::new(body, Some(tap));
    reqwest::Response::from(http::Response::from_parts(
        parts,
        reqwest::Body::wrap(observed),
    ))
}
