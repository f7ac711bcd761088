//! The run in a [`Context`]: [`CurrentRun`] (the typed value), [`RunContext::current`] and
//! friends, and the entries a run writes into baggage.

use std::collections::HashMap;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::{Context, KeyValue, StringValue};

use crate::run::RunContext;
use crate::semconv::{keys, BAGGAGE_HEADER};

/// The run carried in a [`Context`] next to its baggage, so code inside the run gets the very
/// object the lifecycle owns (shared cancellation and outcome state), not a copy; with the
/// attributes the enricher stamps on every span of the run, worked out once per run.
#[derive(Debug)]
pub(crate) struct CurrentRun {
    run: RunContext,
    /// The values of the [`keys::ENRICHED`] attributes, in that order, held inline: no
    /// allocation of their own per run.
    enriched: [Option<StringValue>; 7],
}

impl CurrentRun {
    /// The run.
    pub(crate) fn run(&self) -> &RunContext {
        &self.run
    }

    /// The attributes for spans started inside the run: the [`keys::ENRICHED`] entries of the
    /// run's baggage (its own values, and an outer tenant it does not override).
    pub(crate) fn enriched(&self) -> impl Iterator<Item = KeyValue> + '_ {
        with_enriched_keys(self.enriched.iter().map(Option::as_ref))
    }
}

/// Every key a run writes into baggage, in the order the header carries them.
pub(crate) const CANONICAL: [&str; 12] = [
    keys::RUN_ID,
    keys::WORKFLOW,
    keys::EVENT_ID,
    keys::CUSTOMER_ID,
    keys::ENVIRONMENT,
    keys::TENANT_ID,
    keys::PARENT_RUN_ID,
    keys::ROOT_RUN_ID,
    keys::ATTEMPT,
    keys::RETRY_OF_RUN_ID,
    keys::DEADLINE,
    keys::CANCELLED,
];

/// The baggage entries `run` writes, by their place in [`CANONICAL`] (`None`: not written).
pub(crate) fn canonical_entries(run: &RunContext) -> [Option<StringValue>; 12] {
    let mut entries: [Option<StringValue>; 12] = Default::default();
    run.for_each_baggage_entry(|k, v| {
        if let Some(i) = CANONICAL.iter().position(|e| *e == k) {
            entries[i] = Some(v);
        }
    });
    entries
}

/// A copy of `baggage` without the entries `drop` names.
pub(crate) fn copy_except(baggage: &Baggage, drop: impl Fn(&str) -> bool) -> Baggage {
    let mut out = Baggage::new();
    for (key, (value, metadata)) in baggage {
        if !drop(key.as_str()) {
            out.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
        }
    }
    out
}

/// Whether `propagator` writes the `botanu.*` entries of a run that is only in the context
/// as a [`CurrentRun`] (not in its `Baggage`): true when it contains [`BaggagePropagator`].
pub(crate) fn writes_run_baggage(propagator: &dyn TextMapPropagator) -> bool {
    let run = RunContext::new("botanu.probe", "", "");
    let cx = Context::new().with_value(CurrentRun {
        run: run.clone(),
        enriched: Default::default(),
    });
    let mut headers = HashMap::new();
    propagator.inject_context(&cx, &mut headers);
    headers
        .get(BAGGAGE_HEADER)
        .is_some_and(|h: &String| h.contains(run.run_id()))
}

/// Marks a context whose run is not to be written into an outbound `baggage` header: what
/// the propagation policy gives the global propagator for a host it does not allow.
#[derive(Debug)]
pub(crate) struct WithoutRunBaggage;

/// The attributes [`RunContextEnricher`](crate::RunContextEnricher) stamps for `baggage`: its
/// non-empty [`keys::ENRICHED`] entries, in that order.
pub(crate) fn enriched_attributes(baggage: &Baggage) -> impl Iterator<Item = KeyValue> + '_ {
    with_enriched_keys(enriched_values(baggage))
}

/// The attributes for values in [`keys::ENRICHED`] order (`None`: not set).
fn with_enriched_keys<'a, I>(values: I) -> impl Iterator<Item = KeyValue> + use<'a, I>
where
    I: IntoIterator<Item = Option<&'a StringValue>>,
{
    values
        .into_iter()
        .zip(keys::ENRICHED)
        .filter_map(|(value, key)| value.map(|v| KeyValue::new(key, v.clone())))
}

/// One pass over the (small) baggage instead of seven hashed lookups.
fn enriched_values(baggage: &Baggage) -> [Option<&StringValue>; 7] {
    let mut found: [Option<&StringValue>; 7] = [None; 7];
    for (key, (value, _)) in baggage {
        let key = key.as_str();
        if !key.starts_with(keys::PREFIX) || value.as_str().is_empty() {
            continue;
        }
        if let Some(i) = keys::ENRICHED.iter().position(|k| *k == key) {
            found[i] = Some(value);
        }
    }
    found
}

impl RunContext {
    /// A child of `parent` that carries this run: the run's baggage entries layered over the
    /// parent's baggage, and the run itself for [`RunContext::current`].
    ///
    /// Entries of other keys are kept (as is an outer `botanu.tenant_id` this run does not
    /// override, as in the reference SDK). Retry-chain keys (`root_run_id`, `attempt`,
    /// `retry_of_run_id`, `deadline`, `cancelled`) that this run does not write are removed
    /// rather than inherited, so they never describe an outer run (the reference SDK lets them
    /// leak; see the README's notes on differences).
    ///
    /// Read the run back with [`RunContext::from_context`] (or [`RunContext::current`] once
    /// attached), not from `cx.baggage()`: when botanu's [`BaggagePropagator`](crate::BaggagePropagator) is the global
    /// baggage propagator, the run's `botanu.*` entries are written from the run at inject
    /// time and are not in the context's `Baggage`.
    ///
    /// ```
    /// use botanu_core::RunContext;
    /// use opentelemetry::Context;
    ///
    /// let run = RunContext::new("Customer Support", "ticket-42", "acme");
    /// let cx = run.to_context(&Context::new());
    /// let back = RunContext::from_context(&cx).unwrap();
    /// assert_eq!(back.run_id(), run.run_id());
    /// ```
    pub fn to_context(&self, parent: &Context) -> Context {
        self.context_over(parent, parent.baggage())
    }

    /// [`to_context`](Self::to_context) over `base`, with the run's entries layered over
    /// `inbound` instead of `base`'s own baggage.
    ///
    /// When botanu's propagator is the one that writes outbound `baggage` headers
    /// ([`typed_run_baggage`]), the run's entries are not copied into the
    /// context's `Baggage` (that costs ~13k instructions of key validation and hashing per
    /// run): the propagator writes them from the run at inject time, and the context's
    /// `Baggage` keeps only the other entries. Otherwise (an app's own W3C propagator would
    /// not see the run) they are written into the `Baggage` as well. The header is the same.
    pub(crate) fn context_over(&self, base: &Context, inbound: &Baggage) -> Context {
        // What the enricher stamps comes from the run itself, not from what fits in the
        // baggage: every span of the run carries its ids whatever the header's limits drop.
        let mut enriched = self.enriched_values();
        // An outer tenant this run does not override is inherited (as in the reference SDK).
        const TENANT: usize = 5;
        if enriched[TENANT].is_none() {
            enriched[TENANT] = inbound
                .get(keys::TENANT_ID)
                .filter(|v| !v.as_str().is_empty())
                .cloned();
        }
        let typed = typed_run_baggage();
        // The run's baggage entries: needed only to merge them with inbound entries, or to
        // write them into the `Baggage` for a propagator that is not botanu's.
        let entries = (!typed || !inbound.is_empty()).then(|| canonical_entries(self));
        // Inbound entries the run replaces, and retry-chain keys of an outer run, go.
        let replaced = |k: &str| {
            CANONICAL.iter().position(|e| *e == k).is_some_and(|i| {
                entries.as_ref().is_some_and(|e| e[i].is_some()) || keys::RUN_SCOPED.contains(&k)
            })
        };
        let current = CurrentRun {
            run: self.clone(),
            enriched,
        };
        if typed {
            let own = std::ptr::eq(inbound, base.baggage());
            let keep_all = !inbound.iter().any(|(k, _)| replaced(k.as_str()));
            let cx = if (own && keep_all) || (inbound.is_empty() && base.baggage().is_empty()) {
                base.clone()
            } else if inbound.is_empty() {
                base.with_cleared_baggage()
            } else {
                base.with_baggage(copy_except(inbound, replaced))
            };
            return cx.with_value(current);
        }
        let mut baggage = Baggage::new();
        // Our entries first: if the parent's baggage is near the W3C limits, ours win.
        for (key, value) in CANONICAL.iter().zip(entries.iter().flatten()) {
            if let Some(v) = value {
                baggage.insert(*key, v.clone());
            }
        }
        for (key, (value, metadata)) in inbound {
            if !replaced(key.as_str()) {
                baggage.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
            }
        }
        base.with_baggage(baggage).with_value(current)
    }

    /// The run of the current context, if code is running inside one.
    ///
    /// Inside a run started by botanu this is the run object itself; in a context that only
    /// has botanu baggage (e.g. extracted from an inbound request) it is rebuilt from it.
    pub fn current() -> Option<RunContext> {
        Context::map_current(Self::from_context)
    }

    /// The run object a botanu lifecycle put in `cx` (not one rebuilt from baggage).
    pub(crate) fn from_context_local(cx: &Context) -> Option<RunContext> {
        cx.get::<CurrentRun>().map(|r| r.run.clone())
    }

    /// The run carried by `cx` (see [`current`](Self::current)).
    pub fn from_context(cx: &Context) -> Option<RunContext> {
        match cx.get::<CurrentRun>() {
            Some(current) => Some(current.run.clone()),
            None => RunContext::from_baggage(cx.baggage()),
        }
    }
}

/// Whether the global propagator writes a run's `botanu.*` baggage from the run itself (it
/// contains [`BaggagePropagator`]), so a run need not copy its entries into the context's
/// `Baggage` ([`RunContext::context_over`](crate::RunContext)).
///
/// Found by injecting a probe run through the propagator, once per propagator: the result is
/// kept with the propagator's address, so a propagator the app installs later (before or
/// after botanu) is probed when the next run starts. Costs one atomic load per run otherwise.
pub(crate) fn typed_run_baggage() -> bool {
    use std::sync::atomic::AtomicU64;
    /// `(address << 1) | typed` of the last propagator probed; 0: none yet.
    static PROBED: AtomicU64 = AtomicU64::new(0);
    let (address, typed) = opentelemetry::global::get_text_map_propagator(|p| {
        let address = (p as *const dyn opentelemetry::propagation::TextMapPropagator).cast::<()>()
            as usize as u64;
        let seen = PROBED.load(std::sync::atomic::Ordering::Acquire);
        if seen != 0 && seen >> 1 == address {
            return (address, seen & 1 == 1);
        }
        (address, writes_run_baggage(p))
    });
    PROBED.store(
        address << 1 | u64::from(typed),
        std::sync::atomic::Ordering::Release,
    );
    typed
}
