//! botanu-bench: botanu-rs against bare servers and the established OpenTelemetry middleware,
//! measured in one run, side by side.
//!
//! ```text
//! cargo run --release -p botanu-bench                 # full run (needs wrk), prints a table
//! cargo run --release -p botanu-bench -- --rounds 3 --duration 5 --markdown out.md
//! cargo run -p botanu-bench -- --smoke                # CI: every variant serves and exports
//! cargo run --release -p botanu-bench -- soak --requests 1000000
//! cargo run --profile profiling -p botanu-bench -- profile   # callgrind: instructions/request
//! ```
//!
//! Every variant is its own server process (`botanu-bench serve <variant> <addr> <otlp>`) with
//! one runtime worker, pinned to the first core; wrk (`-t1 -c32`) and the OTLP receiver run on
//! the second. Variants alternate (A B C … A B C …) so that drift of the machine hits all of
//! them. The figures: requests/s and p50/p99 from wrk, server CPU time per request from
//! `/proc/<pid>/stat` (all threads, exporter included) over the measured window, peak RSS from
//! `VmHWM`, and spans received per request from the receiver.
#![forbid(unsafe_code)]

mod load;
mod profile;
mod report;
mod servers;
mod soak;

use std::process::ExitCode;
use std::time::Duration;

use servers::Variant;

/// Command-line options of a measuring run.
#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub variants: Vec<Variant>,
    pub smoke: bool,
    pub markdown: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rounds: 5,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            connections: 32,
            variants: Variant::ALL.to_vec(),
            smoke: false,
            markdown: None,
        }
    }
}

const USAGE: &str = "usage:
  botanu-bench [--rounds N] [--duration SECS] [--warmup SECS] [--connections N]
               [--variants a,b,…] [--markdown FILE] [--smoke]
  botanu-bench soak [--requests N] [--connections N] [--server PATH]
  botanu-bench profile [--requests N] [--variants a,b,…] [--markdown FILE] [--keep]   (valgrind)
  botanu-bench serve <variant> <addr> <otlp-endpoint>
variants: axum-bare axum-botanu axum-botanu-noexport axum-otel axum-otel-noexport actix-bare
          actix-botanu actix-otel agent-otel agent-botanu";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("profile") => profile::run(&args[1..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => parse(&args).and_then(|o| report::run(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("botanu-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let [variant, addr, otlp] = args else {
        return Err(USAGE.into());
    };
    let variant = Variant::parse(variant).ok_or_else(|| format!("unknown variant {variant}"))?;
    servers::serve(variant, addr, otlp);
    Ok(())
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--rounds" => o.rounds = number(&value()?)?,
            "--duration" => o.duration = Duration::from_secs_f64(seconds(&value()?)?),
            "--warmup" => o.warmup = Duration::from_secs_f64(seconds(&value()?)?),
            "--connections" => o.connections = number(&value()?)?,
            "--markdown" => o.markdown = Some(value()?.into()),
            "--smoke" => o.smoke = true,
            "--variants" => {
                o.variants = value()?
                    .split(',')
                    .map(|n| Variant::parse(n.trim()).ok_or_else(|| format!("unknown variant {n}")))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.rounds == 0 || o.connections == 0 || o.variants.is_empty() {
        return Err("rounds, connections and variants must not be zero".into());
    }
    Ok(o)
}

pub fn number(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("not a positive number of seconds: {s}")),
    }
}
