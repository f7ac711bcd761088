//! The measuring run: variants alternated over rounds, one markdown table with ratios to the
//! bare server of the same round, and the targets checked against it.

use std::fmt::Write as _;
use std::time::Duration;

use botanu_tests::receiver::Receiver;

use crate::load::{self, Server};
use crate::servers::{Variant, CHILD_SPANS};
use crate::Options;

/// One variant measured once.
#[derive(Debug, Clone, Default)]
struct Sample {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// Server CPU time per request, µs.
    cpu_us: f64,
    peak_rss_kib: u64,
    /// Spans the receiver got per request served.
    spans_per_request: f64,
    errors: u64,
}

pub fn run(o: &Options) -> Result<(), String> {
    let pin = load::can_pin();
    if !o.smoke && !load::wrk_available() {
        return Err(
            "wrk is needed for a measuring run (apt-get install wrk); --smoke runs without it"
                .into(),
        );
    }
    if pin {
        // The receiver's thread starts after this, so it lands on the load core too.
        load::pin_self(load::LOAD_CORE);
    } else {
        eprintln!("note: fewer than 2 cores or no taskset: nothing is pinned");
    }
    let receiver = Receiver::start_counting().map_err(|e| format!("receiver: {e}"))?;
    let otlp = receiver.endpoint();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let exe = exe.to_str().ok_or("executable path is not UTF-8")?;

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); o.variants.len()];
    for round in 1..=o.rounds {
        for (i, &variant) in o.variants.iter().enumerate() {
            let s = measure(exe, variant, o, &receiver, &otlp, pin)
                .map_err(|e| format!("{} (round {round}): {e}", variant.name()))?;
            eprintln!(
                "round {round}/{} {:<22} {:>9.0} req/s  cpu {:>6.2} µs/req  p50 {:>7.3} ms  p99 {:>7.3} ms  rss {:>6} KiB  spans/req {:.3}",
                o.rounds,
                variant.name(),
                s.rps,
                s.cpu_us,
                ms(s.p50),
                ms(s.p99),
                s.peak_rss_kib,
                s.spans_per_request
            );
            samples[i].push(s);
        }
    }
    let table = render(o, &samples, pin);
    println!("{table}");
    if let Some(path) = &o.markdown {
        std::fs::write(path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if o.smoke {
        smoke_checks(o, &samples)?;
    }
    Ok(())
}

fn measure(
    exe: &str,
    variant: Variant,
    o: &Options,
    receiver: &Receiver,
    otlp: &str,
    pin: bool,
) -> Result<Sample, String> {
    let before = receiver.accepted();
    let mut server = Server::start(
        exe,
        &load::serve_args(variant, otlp),
        &[],
        pin,
        load::ready_line,
    )?;
    let url = format!("http://{}{}", server.addr, variant.path());
    let mut s = Sample::default();
    let served = if o.smoke {
        let n = load::smoke_requests(server.addr, variant.path(), 50)?;
        s.rps = n as f64;
        n
    } else {
        let warm = load::wrk(&url, o.connections, o.warmup, pin, None)?;
        let cpu_before = server.cpu_time()?;
        let r = load::wrk(&url, o.connections, o.duration, pin, None)?;
        let cpu = server.cpu_time()? - cpu_before;
        s.rps = r.requests_per_sec;
        s.p50 = r.p50;
        s.p99 = r.p99;
        s.errors = warm.errors + r.errors;
        s.cpu_us = cpu.as_secs_f64() * 1e6 / r.requests.max(1) as f64;
        warm.requests + r.requests
    };
    s.peak_rss_kib = server.rss_kib(false).unwrap_or(0);
    server.stop(Duration::from_secs(60))?;
    let expected = served as usize * variant.spans_per_request();
    // Shutdown flushed; give the receiver a moment for the last request.
    receiver.wait_for_accepted(before + expected, Duration::from_secs(5));
    s.spans_per_request = (receiver.accepted() - before) as f64 / served.max(1) as f64;
    Ok(s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Per-variant medians over rounds; ratios are taken within a round, then the median.
struct Row {
    variant: Variant,
    rps: f64,
    rps_ratio: f64,
    cpu_us: f64,
    added_cpu_us: f64,
    p50_ms: f64,
    p99_ms: f64,
    p99_ratio: f64,
    peak_rss_mib: f64,
    spans_per_request: f64,
    errors: u64,
}

fn rows(o: &Options, samples: &[Vec<Sample>]) -> Vec<Row> {
    let index = |v: Variant| o.variants.iter().position(|&x| x == v);
    o.variants
        .iter()
        .enumerate()
        .map(|(i, &variant)| {
            let mine = &samples[i];
            let base = index(variant.baseline()).map(|b| &samples[b]);
            let per_round = |f: &dyn Fn(&Sample, &Sample) -> f64| -> f64 {
                match base {
                    Some(base) => median(mine.iter().zip(base).map(|(m, b)| f(m, b)).collect()),
                    None => f64::NAN,
                }
            };
            Row {
                variant,
                rps: median(mine.iter().map(|s| s.rps).collect()),
                rps_ratio: per_round(&|m, b| m.rps / b.rps),
                cpu_us: median(mine.iter().map(|s| s.cpu_us).collect()),
                added_cpu_us: per_round(&|m, b| m.cpu_us - b.cpu_us),
                p50_ms: median(mine.iter().map(|s| ms(s.p50)).collect()),
                p99_ms: median(mine.iter().map(|s| ms(s.p99)).collect()),
                p99_ratio: per_round(&|m, b| ms(m.p99) / ms(b.p99)),
                peak_rss_mib: mine.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0) as f64
                    / 1024.0,
                spans_per_request: median(mine.iter().map(|s| s.spans_per_request).collect()),
                errors: mine.iter().map(|s| s.errors).sum(),
            }
        })
        .collect()
}

fn render(o: &Options, samples: &[Vec<Sample>], pin: bool) -> String {
    let rows = rows(o, samples);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} round(s), {} s measured per variant and round after {} s warm-up, wrk -t1 -c{}, {}; medians over rounds, ratios against the bare server of the same round.\n",
        o.rounds,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.connections,
        if pin { "server on core 0, wrk and receiver on core 1" } else { "nothing pinned" }
    );
    if o.smoke {
        let _ = writeln!(t, "SMOKE MODE: 50 requests per variant over one connection; timing columns are not measured.\n");
    }
    t.push_str("| variant | req/s | × bare | server CPU/req | added CPU/req | p50 | p99 | p99 × bare | peak RSS | spans/req exported | errors |\n");
    t.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.2} | {:.2} µs | {:+.2} µs | {:.3} ms | {:.3} ms | {:.2} | {:.1} MiB | {:.3} of {} | {} |",
            r.variant.name(),
            r.rps,
            r.rps_ratio,
            r.cpu_us,
            r.added_cpu_us,
            r.p50_ms,
            r.p99_ms,
            r.p99_ratio,
            r.peak_rss_mib,
            r.spans_per_request,
            r.variant.spans_per_request(),
            r.errors
        );
    }
    t.push('\n');
    for r in &rows {
        let _ = writeln!(t, "- `{}`: {}", r.variant.name(), r.variant.describe());
    }
    let find = |v: Variant| rows.iter().find(|r| r.variant == v);
    let mut targets = Vec::new();
    let mut target = |what: String, value: f64, limit: f64, at_most: bool| {
        let ok = if at_most {
            value <= limit
        } else {
            value >= limit
        };
        targets.push(format!(
            "| {what} | {value:.2} | {} {limit:.2} | {} |",
            if at_most { "≤" } else { "≥" },
            if ok { "met" } else { "**missed**" }
        ));
    };
    // Issue 16's load-harness targets: botanu at least as fast as the established middleware
    // of the same framework, in the same run.
    for (ours, theirs) in [
        (Variant::AxumBotanu, Variant::AxumOtel),
        (Variant::ActixBotanu, Variant::ActixOtel),
    ] {
        if let (Some(a), Some(b)) = (find(ours), find(theirs)) {
            target(
                format!("req/s `{}` ÷ `{}`", ours.name(), theirs.name()),
                a.rps / b.rps,
                1.0,
                false,
            );
            target(
                format!("p99 `{}` ÷ `{}`", ours.name(), theirs.name()),
                a.p99_ms / b.p99_ms,
                1.0,
                true,
            );
        }
    }
    if let (Some(a), Some(b)) = (
        find(Variant::AxumBotanuNoExport),
        find(Variant::AxumOtelNoExport),
    ) {
        target(
            "added CPU/req without export, `axum-botanu-noexport` ÷ `axum-otel-noexport`".into(),
            a.added_cpu_us / b.added_cpu_us,
            1.0,
            true,
        );
    }
    if let Some(r) = find(Variant::AgentBotanu) {
        // Every span delivered (a request or two finishing at shutdown may add a span).
        target(
            "spans/req exported by `agent-botanu` (of 11)".into(),
            r.spans_per_request,
            10.99,
            false,
        );
    }
    if let (Some(ab), Some(hb), Some(ao), Some(b)) = (
        find(Variant::AgentBotanu),
        find(Variant::AxumBotanu),
        find(Variant::AgentOtel),
        find(Variant::AxumBare),
    ) {
        let in_run = (ab.cpu_us - hb.cpu_us) / CHILD_SPANS as f64;
        let plain = (ao.cpu_us - b.cpu_us) / CHILD_SPANS as f64;
        let short = [ab, ao]
            .into_iter()
            .find(|r| r.spans_per_request < 0.99 * r.variant.spans_per_request() as f64);
        if let Some(r) = short {
            // Dropped spans were never encoded nor sent: a per-span cost would be too low.
            let _ = writeln!(
                t,
                "\nPer child span: not comparable in this run — `{}` exported {:.3} of {} spans per request (its export queue filled and dropped the rest), so its CPU per request leaves out the export of the dropped spans.",
                r.variant.name(),
                r.spans_per_request,
                r.variant.spans_per_request()
            );
        } else {
            let _ = writeln!(
                t,
                "\nPer child span, exporting: {:.0} ns inside a botanu run (enriched) vs {:.0} ns for a plain OpenTelemetry span; enrichment adds {:.0} ns (criterion's `enricher/in_run` isolates it without export).",
                in_run * 1e3,
                plain * 1e3,
                (in_run - plain) * 1e3
            );
        }
    }
    if let (false, Some(ours), Some(theirs)) = (
        o.smoke,
        find(Variant::AxumBotanuNoExport),
        find(Variant::AxumOtelNoExport),
    ) {
        let _ = writeln!(
            t,
            "\nRequest path without export: `{}` adds {:.2} µs per request, `{}` {:.2} µs ({:.2}×).",
            ours.variant.name(),
            ours.added_cpu_us,
            theirs.variant.name(),
            theirs.added_cpu_us,
            ours.added_cpu_us / theirs.added_cpu_us
        );
    }
    if !o.smoke && !targets.is_empty() {
        t.push_str("\n| target | value | limit | |\n|---|---:|---:|---|\n");
        for line in targets {
            t.push_str(&line);
            t.push('\n');
        }
    }
    t
}

/// Smoke mode checks what does not depend on timing: every variant served every request, and
/// every exporting variant delivered exactly its spans.
fn smoke_checks(o: &Options, samples: &[Vec<Sample>]) -> Result<(), String> {
    for (i, v) in o.variants.iter().enumerate() {
        for s in &samples[i] {
            let want = v.spans_per_request() as f64;
            if (s.spans_per_request - want).abs() > f64::EPSILON {
                return Err(format!(
                    "{}: {} spans per request exported, expected {want}",
                    v.name(),
                    s.spans_per_request
                ));
            }
        }
    }
    eprintln!("smoke: every variant served and exported what it should");
    Ok(())
}
