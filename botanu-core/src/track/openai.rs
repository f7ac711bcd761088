//! async-openai clients whose calls are GenAI spans (feature `async-openai`).
//!
//! One line per client: [`instrument`] swaps the client's HTTP path for one that goes through
//! botanu's outbound middleware (the same one as [`BotanuPropagation`](crate::BotanuPropagation)),
//! which recognises every chat completion, Responses API and embeddings call on the wire and
//! records it as the GenAI span [`llm::call`](crate::llm::call) makes: provider, request and
//! response model, input/output/cached tokens, finish reasons, request parameters, errors with
//! the provider's error type, content capture and PII scrubbing as configured. Streams
//! (`create_stream`) record time to first token and the usage chunk (when the request asks for
//! one with `stream_options.include_usage`; otherwise usage is recorded as unknown, never
//! guessed); a stream dropped early ends its span as canceled. The run's headers go out with
//! each request under the [`PropagationPolicy`](crate::propagation::PropagationPolicy).
//!
//! ```no_run
//! # async fn demo() -> Result<(), async_openai::error::OpenAIError> {
//! use async_openai::types::chat::CreateChatCompletionRequestArgs;
//! use async_openai::Client;
//!
//! let client = botanu_core::openai::instrument(Client::new());
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages(vec![])
//!     .build()?;
//! let answer = client.chat().create(request).await?; // a `chat gpt-4o-mini` span in the run
//! # let _ = answer; Ok(()) }
//! ```
//!
//! The client's own retry policy is kept: [`instrument`] puts async-openai's default
//! `OpenAIRetryLayer` around botanu's service, so each attempt is one span. To build the stack
//! yourself (timeouts, concurrency limits, your own retry), use [`OpenAiService`] as the
//! innermost service and pass the stack to `Client::with_http_service`. Calling
//! `with_http_client` on the client afterwards replaces botanu's service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::HttpRequestFactory;
use async_openai::Client;

use crate::llm::LlmEndpoints;
use crate::propagation::PropagationPolicy;
use crate::track::outbound::ClientOptions;
use crate::BotanuPropagation;

/// `client` with every call recorded (see the [module docs](self)); async-openai's default
/// retry is kept. Calls to a host outside [`LlmEndpoints::default`] (a gateway, a local model
/// server) are recorded with the provider `openai`; [`OpenAiService::provider`] names another.
pub fn instrument<C: Config>(client: Client<C>) -> Client<C> {
    OpenAiService::new().instrument(client)
}

/// The tower service async-openai sends its requests through (`Client::with_http_service`):
/// each request goes out through a reqwest client with botanu's outbound middleware.
#[derive(Debug, Clone)]
pub struct OpenAiService {
    http: reqwest::Client,
    options: ClientOptions,
    /// The provider named for every host ([`provider`](Self::provider)).
    provider: Option<String>,
    /// `http` with botanu's middleware, built from the fields above.
    client: reqwest_middleware::ClientWithMiddleware,
}

impl Default for OpenAiService {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenAiService {
    /// Over a default `reqwest::Client`, with the process-wide propagation policy.
    pub fn new() -> Self {
        let http = reqwest::Client::new();
        OpenAiService {
            client: reqwest_middleware::ClientWithMiddleware::from(http.clone()),
            http,
            options: ClientOptions::default(),
            provider: None,
        }
        .built()
    }

    /// Sends through `client` (its TLS, proxy and timeout settings) instead of a default one.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self.built()
    }

    /// The provider recorded for every call of this client, whatever its host (e.g. `"vllm"`
    /// for a local model server, `"openrouter"` for a gateway). By default a known host names
    /// its provider and any other host is `openai`.
    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_owned());
        self.built()
    }

    /// Uses `policy` instead of the process-wide one for where the run's baggage may go.
    pub fn with_policy(mut self, policy: PropagationPolicy) -> Self {
        self.options = self.options.with_policy(policy);
        self.built()
    }

    /// `client` sending through this service, wrapped in async-openai's default retry.
    pub fn instrument<C: Config>(self, client: Client<C>) -> Client<C> {
        use tower_layer::Layer as _;
        client.with_http_service(OpenAIRetryLayer::default().layer(self))
    }

    fn built(mut self) -> Self {
        // Whatever the host, an async-openai client speaks OpenAI's API.
        let endpoints = match &self.provider {
            Some(p) => LlmEndpoints::none().or_any_host(p),
            None => LlmEndpoints::default().or_any_host("openai"),
        };
        let propagation =
            BotanuPropagation::from(self.options.clone().with_llm_endpoints(endpoints));
        self.client = reqwest_middleware::ClientBuilder::new(self.http.clone())
            .with(propagation)
            .build();
        self
    }
}

impl tower_service::Service<HttpRequestFactory> for OpenAiService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.client.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            http.execute(request).await.map_err(|e| match e {
                reqwest_middleware::Error::Reqwest(e) => OpenAIError::Reqwest(e),
                reqwest_middleware::Error::Middleware(e) => OpenAIError::Boxed(e.into()),
            })
        })
    }
}
