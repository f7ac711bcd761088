//! [`AwcPropagation`]: the run crosses outbound calls of actix-web's client, `awc` (feature
//! `awc`).

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use awc::middleware::Transform;
use awc::{ConnectRequest, ConnectResponse};
use botanu_core::propagation::PropagationPolicy;
use opentelemetry::propagation::Injector;
use opentelemetry::Context;

/// An `awc` middleware that writes the current context into each outbound request:
/// `traceparent` to every host, the run's baggage only to hosts the [`PropagationPolicy`]
/// allows (as `BotanuPropagation` does for reqwest and `PropagateLayer` for Tower clients).
/// Header values that cannot be sent are left out, never a panic.
///
/// ```no_run
/// use botanu_actix::AwcPropagation;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = awc::Client::builder().wrap(AwcPropagation::new()).finish();
/// let response = client.get("http://billing.svc/invoices").send().await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct AwcPropagation {
    policy: Option<PropagationPolicy>,
}

impl AwcPropagation {
    /// Uses the process-wide policy ([`PropagationPolicy::global`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `policy` instead of the process-wide one.
    pub fn with_policy(policy: PropagationPolicy) -> Self {
        AwcPropagation {
            policy: Some(policy),
        }
    }
}

impl<S> Transform<S, ConnectRequest> for AwcPropagation
where
    S: actix_web::dev::Service<ConnectRequest, Response = ConnectResponse>,
{
    type Transform = AwcPropagationService<S>;

    fn new_transform(self, service: S) -> Self::Transform {
        AwcPropagationService {
            service,
            policy: self.policy,
        }
    }
}

/// The service of [`AwcPropagation`].
#[derive(Debug)]
pub struct AwcPropagationService<S> {
    service: S,
    policy: Option<PropagationPolicy>,
}

/// An actix header map as an OpenTelemetry [`Injector`]: names or values that are not valid
/// headers are left out.
struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

impl<S> actix_web::dev::Service<ConnectRequest> for AwcPropagationService<S>
where
    S: actix_web::dev::Service<ConnectRequest, Response = ConnectResponse>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ConnectRequest) -> Self::Future {
        let policy = self
            .policy
            .as_ref()
            .unwrap_or_else(|| PropagationPolicy::global());
        let cx = Context::current();
        match &mut req {
            ConnectRequest::Client(head, ..) => {
                use actix_http::RequestHeadType;
                let host = head.as_ref().uri.host().map(str::to_owned);
                let headers = match head {
                    RequestHeadType::Owned(head) => &mut head.headers,
                    // A shared head (a request sent again): its extra headers are this send's
                    // own, the shared head is left as it is.
                    RequestHeadType::Rc(_, extra) => extra.get_or_insert_with(HeaderMap::new),
                };
                policy.inject(&cx, host.as_deref(), &mut Headers(headers));
            }
            ConnectRequest::Tunnel(head, _) => {
                let host = head.uri.host().map(str::to_owned);
                policy.inject(&cx, host.as_deref(), &mut Headers(&mut head.headers));
            }
        }
        self.service.call(req)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use actix_http::RequestHead;
    use actix_web::dev::Service as _;
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
    use opentelemetry::KeyValue;

    use super::*;

    /// The headers a request to `url` leaves with, from a context with a remote span and
    /// baggage (one entry with a hostile value); the connection itself is never made.
    fn sent_to(url: &str) -> HeaderMap {
        // What botanu installs: W3C trace context and botanu's baggage.
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
                Box::new(botanu_core::BaggagePropagator::new()),
            ]),
        );
        let seen = Rc::new(RefCell::new(HeaderMap::new()));
        let inner = {
            let seen = seen.clone();
            actix_web::dev::fn_service(move |req: ConnectRequest| {
                if let ConnectRequest::Tunnel(head, _) = &req {
                    *seen.borrow_mut() = head.headers.clone();
                }
                async { Err::<ConnectResponse, _>(awc::error::SendRequestError::Timeout) }
            })
        };
        let service = AwcPropagation::new().new_transform(inner);
        let mut head = RequestHead::default();
        head.uri = url.parse().unwrap();
        let cx = Context::new()
            .with_remote_span_context(SpanContext::new(
                0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128.into(),
                0x00f0_67aa_0ba9_02b7_u64.into(),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ))
            .with_baggage([
                KeyValue::new("botanu.run_id", "run-1"),
                KeyValue::new("note", "line\r\nbreak"),
            ]);
        let _inside = cx.attach();
        drop(service.call(ConnectRequest::Tunnel(head, None)));
        let headers = seen.borrow().clone();
        headers
    }

    #[test]
    fn baggage_only_to_allowed_hosts_and_never_a_panic() {
        let internal = sent_to("http://billing.svc/invoices");
        assert_eq!(
            internal.get("traceparent").unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let baggage = internal.get("baggage").unwrap().to_str().unwrap();
        assert!(baggage.contains("botanu.run_id=run-1"), "{baggage}");
        assert!(!baggage.contains('\n'), "values are encoded: {baggage}");

        let public = sent_to("https://api.example.com/v1");
        assert!(
            public.get("traceparent").is_some(),
            "the trace continues everywhere"
        );
        assert!(
            public.get("baggage").is_none(),
            "the run's baggage stays in the app's network"
        );
    }
}
