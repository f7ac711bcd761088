//! One botanu per test binary, exporting to one receiver, and helpers to find runs there.

use std::sync::OnceLock;
use std::time::Duration;

use botanu_core::{Botanu, BotanuConfig};

use crate::receiver::{ReceivedEvent, ReceivedSpan, Receiver, Val};

/// botanu installed (greenfield) with the receiver as its endpoint.
#[derive(Debug)]
pub struct TestEnv {
    /// The receiver botanu exports to.
    pub receiver: Receiver,
    /// The installed botanu.
    pub botanu: Botanu,
}

impl TestEnv {
    /// Installs botanu once for this process (later calls return the same environment);
    /// `then` runs once after installation (e.g. to set a `tracing` subscriber).
    pub fn get_or_init(then: impl FnOnce(&Botanu)) -> &'static TestEnv {
        Self::get_or_init_with(|c| c, then)
    }

    /// [`TestEnv::get_or_init`] with the configuration adjusted by `configure` (on first use).
    pub fn get_or_init_with(
        configure: impl FnOnce(BotanuConfig) -> BotanuConfig,
        then: impl FnOnce(&Botanu),
    ) -> &'static TestEnv {
        static ENV: OnceLock<TestEnv> = OnceLock::new();
        ENV.get_or_init(|| {
            let receiver = Receiver::start().expect("start the receiver");
            let botanu = botanu_core::enable_with(configure(
                BotanuConfig::default()
                    .with_endpoint(receiver.endpoint())
                    .with_schedule_delay(Duration::from_millis(20)),
            ))
            .expect("install botanu");
            then(&botanu);
            TestEnv { receiver, botanu }
        })
    }

    /// [`TestEnv::get_or_init`] with nothing more to do.
    pub fn get() -> &'static TestEnv {
        Self::get_or_init(|_| {})
    }

    /// Flushes and waits (up to 10 s) for the run span whose name starts with `name` and whose
    /// event id is `event_id`, and for `n` spans of that run; returns the run span and all spans
    /// of the run. Panics if the run span never arrives.
    pub fn run(&self, name: &str, event_id: &str, n: usize) -> (ReceivedSpan, Vec<ReceivedSpan>) {
        let _ = self.botanu.force_flush();
        let is_run = |s: &ReceivedSpan| {
            s.name.starts_with(name) && s.attr("botanu.event_id") == Some(event_id)
        };
        let complete = self.receiver.wait_for(Duration::from_secs(10), |spans| {
            spans.iter().find(|s| is_run(s)).is_some_and(|run| {
                let id = run.attr("botanu.run_id");
                spans
                    .iter()
                    .filter(|s| s.attr("botanu.run_id") == id)
                    .count()
                    >= n
            })
        });
        let spans = self.receiver.spans();
        let run = spans
            .iter()
            .find(|s| is_run(s))
            .cloned()
            .unwrap_or_else(|| panic!("no run span {name}… for event {event_id}"));
        let id = run.attr("botanu.run_id").map(str::to_owned);
        let all: Vec<ReceivedSpan> = spans
            .into_iter()
            .filter(|s| s.attr("botanu.run_id").map(str::to_owned) == id)
            .collect();
        assert!(complete, "run {id:?} has {} spans, expected {n}", all.len());
        (run, all)
    }
}

/// The one `botanu.run.completed` event of a run span (panics if there is not exactly one).
pub fn completed(run: &ReceivedSpan) -> &ReceivedEvent {
    let events: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.name == "botanu.run.completed")
        .collect();
    assert_eq!(
        events.len(),
        1,
        "exactly one completed event on {}",
        run.name
    );
    events[0]
}

/// A string attribute of the completed event.
pub fn completed_attr(run: &ReceivedSpan, key: &str) -> Option<String> {
    completed(run)
        .attributes
        .get(key)
        .and_then(Val::as_str)
        .map(str::to_owned)
}
