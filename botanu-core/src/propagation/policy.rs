//! Outbound propagation with a host policy (ARCHITECTURE.md, "Decisions and why").
//!
//! `traceparent` goes to every host, so traces stay connected. Baggage — which carries
//! `botanu.customer_id`, `botanu.event_id` and whatever else the app put there — goes only to
//! hosts the [`PropagationPolicy`] allows: by default the app's own network (loopback,
//! private and link-local addresses, single-label names, `*.local`, `*.internal`, `*.svc`,
//! `*.cluster.local`), never a third-party API such as an LLM provider.

use std::net::IpAddr;
use std::sync::OnceLock;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::{global, Context};

use crate::run::current::{CurrentRun, WithoutRunBaggage};
use crate::BaggagePropagator;

/// Which hosts may receive baggage.
///
/// ```
/// use botanu_core::propagation::PropagationPolicy;
///
/// let policy = PropagationPolicy::default().allow("*.corp.example");
/// assert!(policy.allows("billing.svc"));
/// assert!(policy.allows("10.1.2.3"));
/// assert!(policy.allows("api.corp.example"));
/// assert!(!policy.allows("api.openai.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationPolicy {
    private_networks: bool,
    patterns: Vec<String>,
}

const DEFAULT_SUFFIXES: [&str; 4] = ["*.local", "*.internal", "*.svc", "*.cluster.local"];

impl Default for PropagationPolicy {
    /// Loopback, private and link-local addresses, single-label names, `*.local`,
    /// `*.internal`, `*.svc`, `*.cluster.local`.
    fn default() -> Self {
        PropagationPolicy {
            private_networks: true,
            patterns: DEFAULT_SUFFIXES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl PropagationPolicy {
    /// A policy that allows no host at all (`traceparent` only, everywhere).
    pub fn none() -> Self {
        PropagationPolicy {
            private_networks: false,
            patterns: Vec::new(),
        }
    }

    /// Also allows hosts matching `pattern`: an exact host, `*.suffix`, or `*` for every host.
    pub fn allow(mut self, pattern: impl Into<String>) -> Self {
        let p = pattern.into().trim().to_ascii_lowercase();
        if !p.is_empty() {
            self.patterns.push(p);
        }
        self
    }

    /// The default policy extended with `BOTANU_PROPAGATE_HOSTS` (comma-separated patterns).
    pub fn from_env() -> Self {
        Self::from_lookup(crate::config::env_var)
    }

    /// [`from_env`](Self::from_env) over any env-like lookup.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut policy = Self::default();
        if let Some(list) = var("BOTANU_PROPAGATE_HOSTS") {
            for p in list.split(',') {
                policy = policy.allow(p);
            }
        }
        policy
    }

    /// The process-wide policy (from the environment, read once).
    pub fn global() -> &'static PropagationPolicy {
        static GLOBAL: OnceLock<PropagationPolicy> = OnceLock::new();
        GLOBAL.get_or_init(Self::from_env)
    }

    /// Whether `host` (a name or an IP, brackets allowed) may receive baggage.
    ///
    /// The host is judged as the client will connect to it: parsed the WHATWG way (the `url`
    /// crate's host parser), so `134744072`, `0x08080808` and `010.010.010.010` are the public
    /// address 8.8.8.8, not single-label names, and `①②⑦.0.0.1` is 127.0.0.1. A host that does
    /// not parse gets no baggage.
    ///
    /// ```
    /// use botanu_core::propagation::PropagationPolicy;
    ///
    /// let policy = PropagationPolicy::default();
    /// assert!(policy.allows("billing"));
    /// assert!(!policy.allows("134744072")); // 8.8.8.8
    /// assert!(policy.allows("2130706433")); // 127.0.0.1
    /// ```
    pub fn allows(&self, host: &str) -> bool {
        let trimmed = host.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return false;
        }
        // Brackets are how an IPv6 address stands in a URL; a bare one is accepted too.
        let bracketed;
        let input = if trimmed.contains(':') && !trimmed.starts_with('[') {
            bracketed = format!("[{trimmed}]");
            bracketed.as_str()
        } else {
            trimmed
        };
        let (ip, name) = match url::Host::parse(input) {
            Ok(url::Host::Ipv4(v4)) => (Some(IpAddr::V4(v4)), v4.to_string()),
            Ok(url::Host::Ipv6(v6)) => (Some(IpAddr::V6(v6)), v6.to_string()),
            Ok(url::Host::Domain(d)) => (None, d.trim_end_matches('.').to_owned()),
            Err(_) => return false,
        };
        if self.private_networks {
            match ip {
                Some(ip) if is_private(ip) => return true,
                Some(_) => {}
                None if name == "localhost" || !name.contains('.') => return true,
                None => {}
            }
        }
        self.patterns.iter().any(|p| matches(p, &name))
    }

    /// Injects the context's trace context into `injector` (always, through the global
    /// propagator) and its baggage (through botanu's propagator) only if `host` is allowed.
    pub fn inject(&self, cx: &Context, host: Option<&str>, injector: &mut dyn Injector) {
        let baggage_allowed = host.is_some_and(|h| self.allows(h));
        if cx.baggage().is_empty() && cx.get::<CurrentRun>().is_none() {
            global::get_text_map_propagator(|p| p.inject_context(cx, injector));
            return;
        }
        // The global propagator may carry baggage too: give it none (and not the run's),
        // add ours if allowed.
        let without = cx.with_cleared_baggage().with_value(WithoutRunBaggage);
        global::get_text_map_propagator(|p| p.inject_context(&without, injector));
        if baggage_allowed {
            BaggagePropagator::new().inject_context(cx, injector);
        }
    }
}

fn matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => pattern == host,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy() {
        let p = PropagationPolicy::default();
        for host in [
            "localhost",
            "127.0.0.1",
            "127.0.0.53",
            "[::1]",
            "10.0.0.7",
            "172.16.4.4",
            "172.31.255.1",
            "192.168.1.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "billing",
            "billing.svc",
            "billing.default.svc.cluster.local",
            "printer.local",
            "db.internal",
            "BILLING.SVC.",
        ] {
            assert!(p.allows(host), "{host}");
        }
        for host in [
            "api.openai.com",
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "x.svc.evil.com",
            "svc.com",
            "",
            // 8.8.8.8 written the ways a client's resolver (inet_aton, WHATWG) accepts: not
            // single-label names.
            "134744072",
            "0x08080808",
            "0x8.0x8.0x8.0x8",
            "010.010.010.010",
            "8.526344",
            "8.8.2056",
            "[::ffff:8.8.8.8]",
            // Not a host at all.
            "bad host",
            "a%2Fb",
        ] {
            assert!(!p.allows(host), "{host}");
        }
        // The same forms of private addresses are private.
        for host in [
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "10.1",
            "0xa.0.0.7",
            "①②⑦.0.0.1",
        ] {
            assert!(p.allows(host), "{host}");
        }
        assert!(!PropagationPolicy::none().allows("localhost"));
    }

    #[test]
    fn patterns_from_env() {
        let p = PropagationPolicy::from_lookup(|k| {
            (k == "BOTANU_PROPAGATE_HOSTS").then(|| " api.partner.com , *.corp.example,".into())
        });
        assert!(p.allows("api.partner.com"));
        assert!(p.allows("a.b.corp.example"));
        assert!(!p.allows("corp.example"));
        assert!(!p.allows("evilcorp.example"));
        assert!(!p.allows("api.partner.com.evil.io"));
        let all = PropagationPolicy::none().allow("*");
        assert!(all.allows("api.openai.com"));
    }
}
