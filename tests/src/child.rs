//! Running one workload in a child process of the test binary: the global tracer provider and
//! propagator can be set once per process, so tests that compare an app with and without
//! botanu run each variant in a process of its own.
//!
//! The test binary has an ignored test (the child) that reads its variant from an environment
//! variable and prints lines; the parent runs it with [`run_child`] and reads the lines back.

use std::collections::BTreeSet;
use std::process::Command;

/// Runs the ignored test `test` of the current test binary in a child process with `vars`
/// set (and botanu's and OpenTelemetry's destination variables of the parent removed), waits
/// for it, and returns its standard output. Panics, with the child's output, if it failed.
pub fn run_child(test: &str, vars: &[(&str, String)]) -> String {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("BOTANU_COLLECTOR_ENDPOINT")
        .env_remove("BOTANU_DISABLED")
        .env_remove("BOTANU_API_KEY");
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {test} {vars:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of `stdout` that start with `prefix`, without it. The test harness writes
/// `test NAME ... ` before the child's first line, without a line break: that is cut off.
pub fn lines_with(stdout: &str, prefix: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .map(|l| match l.strip_prefix("test ") {
            Some(rest) => rest.split_once(" ... ").map_or(l, |(_, after)| after),
            None => l,
        })
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_harness_prefix_is_cut_off() {
        let out = "\nrunning 1 test\ntest child ... A\tone\nA\ttwo\nB\tthree\nok\n";
        let a: Vec<String> = super::lines_with(out, "A\t").into_iter().collect();
        assert_eq!(a, ["one", "two"]);
    }
}
