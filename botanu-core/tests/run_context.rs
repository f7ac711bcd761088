//! The run model against the reference Python SDK's conformance cases: ids, retries,
//! deadlines, cancellation, outcomes, the baggage encodings and the span attributes.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botanu_core::{Outcome, RunContext, RunStatus};
use opentelemetry::{KeyValue, Value};

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn bag<'a>(entries: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

fn is_uuid_v7(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && groups[2].starts_with('7')
        && matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn run_id_is_lowercase_uuid_v7() {
    let run = RunContext::new("w", "e", "c");
    assert!(is_uuid_v7(run.run_id()), "{}", run.run_id());
    let parsed = uuid::Uuid::parse_str(run.run_id()).unwrap();
    assert_eq!(parsed.get_version_num(), 7);
    assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    // The first 48 bits are Unix milliseconds of now.
    let b = parsed.as_bytes();
    let ms = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now_ms.abs_diff(ms) < 5_000,
        "timestamp {ms} vs now {now_ms}"
    );
}

#[test]
fn thousand_ids_are_unique() {
    let ids: std::collections::HashSet<String> =
        (0..1000).map(|_| botanu_core::new_run_id()).collect();
    assert_eq!(ids.len(), 1000);
}

#[test]
fn ids_sort_by_time() {
    let a = botanu_core::new_run_id();
    std::thread::sleep(Duration::from_millis(2));
    let b = botanu_core::new_run_id();
    assert!(a < b, "{a} !< {b}");
}

#[test]
fn create_echoes_fields_with_defaults() {
    let run = RunContext::builder("Support")
        .event_id("ticket-1")
        .customer_id("acme")
        .environment("production")
        .build();
    assert_eq!(run.workflow(), "Support");
    assert_eq!(run.event_id(), "ticket-1");
    assert_eq!(run.customer_id(), "acme");
    assert_eq!(run.environment(), "production");
    assert_eq!(run.attempt(), 1);
    assert_eq!(run.root_run_id(), run.run_id());
    assert!(run.parent_run_id().is_none() && run.retry_of_run_id().is_none());
    assert!(run.outcome().is_none() && run.duration().is_none());
}

#[test]
fn explicit_root_run_id_kept() {
    let run = RunContext::builder("w").root_run_id("root-1").build();
    assert_eq!(run.root_run_id(), "root-1");
}

#[test]
fn retry_chain() {
    let first = RunContext::builder("Support")
        .event_id("ticket-1")
        .customer_id("acme")
        .tenant_id("t-1")
        .parent_run_id("parent")
        .workflow_version("v:abc")
        .deadline_in(Duration::from_secs(60))
        .build();
    first.cancel();
    let second = RunContext::retry(&first);
    assert_eq!(second.attempt(), 2);
    assert_eq!(second.retry_of_run_id(), Some(first.run_id()));
    assert_eq!(second.root_run_id(), first.run_id());
    assert_ne!(second.run_id(), first.run_id());
    assert_eq!(second.event_id(), "ticket-1");
    assert_eq!(second.customer_id(), "acme");
    assert_eq!(second.tenant_id(), Some("t-1"));
    assert_eq!(second.parent_run_id(), Some("parent"));
    assert_eq!(second.workflow_version(), Some("v:abc"));
    assert_eq!(second.environment(), first.environment());
    // Not carried: deadline, cancellation.
    assert!(second.deadline().is_none());
    assert!(!second.is_cancelled());

    let third = RunContext::retry(&second);
    assert_eq!(third.attempt(), 3);
    assert_eq!(third.root_run_id(), first.run_id());
    assert_eq!(third.retry_of_run_id(), Some(second.run_id()));
}

#[test]
fn deadlines() {
    let run = RunContext::builder("w")
        .deadline_in(Duration::from_secs(10))
        .build();
    assert!(run.deadline().unwrap() > SystemTime::now());
    assert!(!run.is_past_deadline());
    let left = run.remaining().unwrap();
    assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));

    let short = RunContext::builder("w")
        .deadline_in(Duration::from_millis(1))
        .build();
    std::thread::sleep(Duration::from_millis(10));
    assert!(short.is_past_deadline());
    assert!(short.is_cancelled(), "past deadline counts as cancelled");
    assert_eq!(short.remaining(), Some(Duration::ZERO));

    assert_eq!(RunContext::new("w", "e", "c").remaining(), None);
}

#[test]
fn cancellation_is_shared_by_clones() {
    let run = RunContext::new("w", "e", "c");
    assert!(!run.is_cancelled());
    assert!(run.cancelled_at().is_none());
    let handle = run.clone();
    handle.cancel();
    assert!(run.is_cancelled());
    let at = run.cancelled_at().unwrap();
    assert!(SystemTime::now().duration_since(at).unwrap() < Duration::from_secs(5));
    // A second cancel keeps the first time.
    handle.cancel();
    assert_eq!(run.cancelled_at(), Some(at));
}

#[test]
fn complete_stores_outcome() {
    let run = RunContext::new("w", "e", "c");
    run.complete(Outcome::success().value("tickets_resolved", 1.0));
    let o = run.outcome().unwrap();
    assert_eq!(o.status, RunStatus::Success);
    assert_eq!(o.value_type.as_deref(), Some("tickets_resolved"));
    assert_eq!(o.value_amount, Some(botanu_core::Amount::Double(1.0)));
    // A count stays an int, as the caller gave it.
    run.complete(Outcome::success().value("tickets_resolved", 3));
    assert_eq!(
        run.outcome().unwrap().value_amount,
        Some(botanu_core::Amount::Int(3))
    );
    let a = run.to_span_attributes();
    assert_eq!(
        attr(&a, "botanu.outcome.value_amount"),
        Some(&Value::I64(3))
    );
    assert!(run.duration().is_some());
    // complete() replaces the outcome wholesale.
    run.complete(Outcome::failure("ValueError"));
    let o = run.outcome().unwrap();
    assert_eq!(o.status, RunStatus::Failure);
    assert_eq!(o.error_class.as_deref(), Some("ValueError"));
    assert_eq!(o.value_type, None);
}

#[test]
fn baggage_always_and_conditional_keys() {
    let run = RunContext::builder("Support")
        .event_id("e-1")
        .customer_id("c-1")
        .tenant_id("t-1")
        .environment("staging")
        .build();
    let b = run.to_baggage();
    let keys: Vec<&str> = b.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "botanu.run_id",
            "botanu.workflow",
            "botanu.event_id",
            "botanu.customer_id",
            "botanu.environment",
            "botanu.tenant_id"
        ]
    );
    assert_eq!(bag(&b, "botanu.run_id"), Some(run.run_id()));
    assert_eq!(bag(&b, "botanu.workflow"), Some("Support"));
    assert_eq!(bag(&b, "botanu.environment"), Some("staging"));

    // Empty ids are still sent (always-present keys).
    let bare = RunContext::builder("w").environment("p").build();
    let b = bare.to_baggage();
    assert_eq!(bag(&b, "botanu.event_id"), Some(""));
    assert_eq!(bag(&b, "botanu.customer_id"), Some(""));
    assert_eq!(b.len(), 5);
}

#[test]
fn baggage_encodes_retry_deadline_and_cancel() {
    let first = RunContext::new("w", "e", "c");
    let deadline = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_999);
    let retry = RunContext::builder("w")
        .root_run_id(first.run_id())
        .attempt(2)
        .retry_of_run_id(first.run_id())
        .parent_run_id("p")
        .deadline_at(deadline)
        .build();
    retry.cancel();
    let b = retry.to_baggage();
    assert_eq!(bag(&b, "botanu.root_run_id"), Some(first.run_id()));
    assert_eq!(bag(&b, "botanu.attempt"), Some("2"));
    assert_eq!(bag(&b, "botanu.retry_of_run_id"), Some(first.run_id()));
    assert_eq!(bag(&b, "botanu.parent_run_id"), Some("p"));
    // Unix milliseconds, truncated toward zero.
    assert_eq!(bag(&b, "botanu.deadline"), Some("1700000000123"));
    assert_eq!(bag(&b, "botanu.cancelled"), Some("true"));

    // attempt 1 and root == run_id are not sent.
    let plain = first.to_baggage();
    assert_eq!(bag(&plain, "botanu.attempt"), None);
    assert_eq!(bag(&plain, "botanu.root_run_id"), None);
    assert_eq!(bag(&plain, "botanu.deadline"), None);
    assert_eq!(bag(&plain, "botanu.cancelled"), None);
    // Never in baggage: workflow_version, start time, outcome.
    let versioned = RunContext::builder("w").workflow_version("v:1").build();
    versioned.complete(Outcome::success());
    assert!(versioned
        .to_baggage()
        .iter()
        .all(|(k, _)| !k.contains("version") && !k.contains("outcome") && !k.contains("start")));
}

#[test]
fn span_attributes_names_and_types() {
    let run = RunContext::builder("Support")
        .event_id("e-1")
        .customer_id("c-1")
        .tenant_id("t-1")
        .environment("production")
        .workflow_version("v:0123456789ab")
        .parent_run_id("p-1")
        .attempt(3)
        .retry_of_run_id("r-1")
        .deadline_at(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        .build();
    let a = run.to_span_attributes();
    assert_eq!(
        attr(&a, "botanu.run_id"),
        Some(&Value::from(run.run_id().to_owned()))
    );
    assert_eq!(attr(&a, "botanu.workflow"), Some(&Value::from("Support")));
    assert_eq!(attr(&a, "botanu.event_id"), Some(&Value::from("e-1")));
    assert_eq!(attr(&a, "botanu.customer_id"), Some(&Value::from("c-1")));
    assert_eq!(attr(&a, "botanu.tenant_id"), Some(&Value::from("t-1")));
    assert_eq!(
        attr(&a, "botanu.environment"),
        Some(&Value::from("production"))
    );
    assert_eq!(attr(&a, "botanu.attempt"), Some(&Value::I64(3)));
    assert_eq!(
        attr(&a, "botanu.root_run_id"),
        Some(&Value::from(run.run_id().to_owned()))
    );
    assert_eq!(
        attr(&a, "botanu.workflow.version"),
        Some(&Value::from("v:0123456789ab"))
    );
    assert_eq!(attr(&a, "botanu.parent_run_id"), Some(&Value::from("p-1")));
    assert_eq!(
        attr(&a, "botanu.retry_of_run_id"),
        Some(&Value::from("r-1"))
    );
    assert_eq!(
        attr(&a, "botanu.run.deadline_ts"),
        Some(&Value::F64(1_700_000_000.5))
    );
    let Some(Value::String(start)) = attr(&a, "botanu.run.start_time") else {
        panic!("start_time missing")
    };
    assert!(start.as_str().ends_with("+00:00"), "{start}");
    assert_eq!(&start.as_str()[4..5], "-");
    // No outcome yet: no outcome or duration attributes.
    assert!(a
        .iter()
        .all(|kv| !kv.key.as_str().starts_with("botanu.outcome")));
    assert!(attr(&a, "botanu.run.duration_ms").is_none());
    assert!(attr(&a, "botanu.run.cancelled").is_none());

    // After complete, value attributes but never botanu.outcome.status.
    run.complete(
        Outcome::partial()
            .value("tickets", 0.0)
            .confidence(0.9)
            .reason("low_stock")
            .metadata("warehouse", "north"),
    );
    run.cancel();
    let a = run.to_span_attributes();
    assert!(attr(&a, "botanu.outcome.status").is_none());
    assert_eq!(
        attr(&a, "botanu.outcome.value_type"),
        Some(&Value::from("tickets"))
    );
    assert_eq!(
        attr(&a, "botanu.outcome.value_amount"),
        Some(&Value::F64(0.0)),
        "zero is kept"
    );
    assert_eq!(
        attr(&a, "botanu.outcome.confidence"),
        Some(&Value::F64(0.9))
    );
    assert_eq!(
        attr(&a, "botanu.outcome.reason_code"),
        Some(&Value::from("low_stock"))
    );
    assert_eq!(
        attr(&a, "botanu.outcome.metadata.warehouse"),
        Some(&Value::from("north")),
        "metadata given to complete() is not lost"
    );
    assert!(matches!(attr(&a, "botanu.run.duration_ms"), Some(Value::F64(ms)) if *ms >= 0.0));
    assert_eq!(attr(&a, "botanu.run.cancelled"), Some(&Value::Bool(true)));
    assert!(matches!(
        attr(&a, "botanu.run.cancelled_at"),
        Some(Value::F64(_))
    ));
}

#[test]
fn baggage_round_trip() {
    let run = RunContext::builder("Support")
        .event_id("e-1")
        .customer_id("c-1")
        .tenant_id("t-1")
        .environment("staging")
        .parent_run_id("p")
        .attempt(4)
        .root_run_id("root")
        .retry_of_run_id("prev")
        .deadline_at(UNIX_EPOCH + Duration::from_millis(1_900_000_000_000))
        .build();
    run.cancel();
    let back = RunContext::from_baggage(&run.to_baggage()).unwrap();
    assert_eq!(back.run_id(), run.run_id());
    assert_eq!(back.workflow(), "Support");
    assert_eq!(back.event_id(), "e-1");
    assert_eq!(back.customer_id(), "c-1");
    assert_eq!(back.tenant_id(), Some("t-1"));
    assert_eq!(back.environment(), "staging");
    assert_eq!(back.parent_run_id(), Some("p"));
    assert_eq!(back.attempt(), 4);
    assert_eq!(back.root_run_id(), "root");
    assert_eq!(back.retry_of_run_id(), Some("prev"));
    assert_eq!(back.deadline(), run.deadline());
    assert!(back.is_cancelled());
}

#[test]
fn from_baggage_needs_run_id_and_workflow() {
    let empty: HashMap<String, String> = HashMap::new();
    assert!(RunContext::from_baggage(&empty).is_none());
    let only_id = vec![("botanu.run_id", "x")];
    assert!(RunContext::from_baggage(&only_id).is_none());
    let empty_workflow = vec![("botanu.run_id", "x"), ("botanu.workflow", "")];
    assert!(RunContext::from_baggage(&empty_workflow).is_none());
}

#[test]
fn from_baggage_defaults_follow_reference() {
    let m = |pairs: &[(&'static str, &'static str)]| pairs.to_vec();
    let r =
        RunContext::from_baggage(&m(&[("botanu.run_id", "r"), ("botanu.workflow", "w")])).unwrap();
    assert_eq!(r.event_id(), "");
    assert_eq!(r.customer_id(), "");
    assert_eq!(r.environment(), "unknown");
    assert_eq!(r.tenant_id(), None);
    assert_eq!(r.root_run_id(), "r");
    assert_eq!(r.attempt(), 1);
    assert!(r.deadline().is_none());
    assert!(!r.is_cancelled());

    let base = [("botanu.run_id", "r"), ("botanu.workflow", "w")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        RunContext::from_baggage(&v).unwrap()
    };
    // Present-but-empty environment and tenant are kept as empty.
    assert_eq!(with(&[("botanu.environment", "")]).environment(), "");
    assert_eq!(with(&[("botanu.tenant_id", "")]).tenant_id(), Some(""));
    assert_eq!(with(&[("botanu.root_run_id", "")]).root_run_id(), "r");
    assert_eq!(with(&[("botanu.attempt", " 2 ")]).attempt(), 2);
    assert_eq!(with(&[("botanu.attempt", "2.0")]).attempt(), 1);
    assert_eq!(with(&[("botanu.attempt", "x")]).attempt(), 1);
    assert_eq!(with(&[("botanu.attempt", "0")]).attempt(), 0);
    assert_eq!(with(&[("botanu.attempt", "-3")]).attempt(), -3);
    assert!(with(&[("botanu.cancelled", "TRUE")]).is_cancelled());
    assert!(!with(&[("botanu.cancelled", "yes")]).is_cancelled());
    assert_eq!(
        with(&[("botanu.deadline", "1e3")]).deadline(),
        Some(UNIX_EPOCH + Duration::from_secs(1))
    );
    assert!(with(&[("botanu.deadline", "nan")]).deadline().is_none());
    // workflow_version is not restored from baggage.
    assert!(with(&[]).workflow_version().is_none());
}

#[test]
fn status_wire_values() {
    let all = [
        (RunStatus::Success, "success"),
        (RunStatus::Failure, "failure"),
        (RunStatus::Partial, "partial"),
        (RunStatus::Timeout, "timeout"),
        (RunStatus::Canceled, "canceled"),
    ];
    for (s, text) in all {
        assert_eq!(s.as_str(), text);
        assert_eq!(s.to_string(), text);
    }
}
