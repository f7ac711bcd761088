//! `botanu-bench profile`: instructions per request of every variant, counted by callgrind
//! (all threads: the runtime worker, the exporters, the HTTP client's runtime).
//!
//! Each variant's server runs twice under `valgrind --tool=callgrind`, serving `n/3` and then
//! `n` keep-alive requests on one connection before a graceful shutdown (which exports what is
//! queued). The difference of the two totals over the difference of the request counts is the
//! cost of one request — start-up, shutdown and the final flush's fixed part cancel out — and
//! every span the requests made is exported in both runs, so export is counted. Instruction
//! counts are repeatable for one binary whatever else the machine does, unlike timings.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use botanu_tests::receiver::Receiver;

use crate::load::{self, Server};
use crate::servers::Variant;

/// Options of `botanu-bench profile`.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    pub requests: u64,
    pub variants: Vec<Variant>,
    pub markdown: Option<PathBuf>,
    /// Keep the callgrind files (for `callgrind_annotate`) instead of removing them.
    pub keep: bool,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|o| o.status.success()) {
        return Err("valgrind is needed (apt-get install valgrind)".into());
    }
    let receiver = Receiver::start_counting().map_err(|e| format!("receiver: {e}"))?;
    let otlp = receiver.endpoint();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("botanu-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let few = (o.requests / 3).max(1);
    let mut rows = Vec::new();
    for &variant in &o.variants {
        let small = count(&exe, &dir, variant, &otlp, few)?;
        let large = count(&exe, &dir, variant, &otlp, o.requests)?;
        let per_request = (large as f64 - small as f64) / (o.requests - few) as f64;
        eprintln!(
            "{:<22} {:>12} instructions for {few} requests, {:>12} for {}: {:>9.0} per request",
            variant.name(),
            small,
            large,
            o.requests,
            per_request
        );
        rows.push((variant, per_request));
    }
    if o.keep {
        eprintln!("callgrind files kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let table = render(&o, &rows);
    println!("{table}");
    if let Some(path) = &o.markdown {
        std::fs::write(path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<ProfileOptions, String> {
    let mut o = ProfileOptions {
        requests: 3_000,
        variants: vec![
            Variant::AxumBare,
            Variant::AxumOtel,
            Variant::AxumBotanu,
            Variant::AxumOtelNoExport,
            Variant::AxumBotanuNoExport,
            Variant::AgentOtel,
            Variant::AgentBotanu,
            Variant::ActixBare,
            Variant::ActixOtel,
            Variant::ActixBotanu,
        ],
        markdown: None,
        keep: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            o.keep = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--requests" => {
                o.requests = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 6)
                    .ok_or("--requests: a number of at least 6")?
            }
            "--variants" => {
                o.variants = value
                    .split(',')
                    .map(|n| Variant::parse(n.trim()).ok_or_else(|| format!("unknown variant {n}")))
                    .collect::<Result<_, _>>()?
            }
            "--markdown" => o.markdown = Some(value.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Total instructions (all threads) of one server process serving `n` requests.
fn count(exe: &Path, dir: &Path, variant: Variant, otlp: &str, n: u64) -> Result<u64, String> {
    let out = dir.join(format!("callgrind.{}.{n}.out", variant.name()));
    let out_arg = format!("--callgrind-out-file={}", out.display());
    let exe = exe.to_str().ok_or("executable path is not UTF-8")?;
    let mut args = vec!["-q", "--tool=callgrind", out_arg.as_str(), exe];
    args.extend(load::serve_args(variant, otlp));
    let mut server = Server::start("valgrind", &args, &[], false, load::ready_line)?;
    load::smoke_requests(server.addr, variant.path(), n as usize)?;
    server.stop(Duration::from_secs(300))?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    total(&text).ok_or_else(|| format!("no instruction total in {}", out.display()))
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn render(o: &ProfileOptions, rows: &[(Variant, f64)]) -> String {
    use std::fmt::Write as _;
    let per = |v: Variant| rows.iter().find(|(r, _)| *r == v).map(|(_, n)| *n);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "callgrind, all threads, instructions per request ({} requests minus {} requests, one keep-alive connection, 100% export where the variant exports)\n",
        o.requests,
        (o.requests / 3).max(1)
    );
    let _ = writeln!(
        t,
        "| variant | instructions/request | added over its bare server |"
    );
    let _ = writeln!(t, "|---|---:|---:|");
    for &(v, n) in rows {
        let added = per(v.baseline())
            .filter(|_| v.baseline() != v)
            .map_or("".to_owned(), |b| format!("{:+.0}", n - b));
        let _ = writeln!(t, "| {} | {:.0} | {added} |", v.name(), n);
    }
    let added = |v: Variant| Some(per(v)? - per(v.baseline())?);
    let mut ratio = |name: &str, a: Variant, b: Variant| {
        if let (Some(x), Some(y)) = (added(a), added(b)) {
            let _ = writeln!(
                t,
                "\n{name}: `{}` adds {x:.0}, `{}` adds {y:.0}: **{:.2}×**",
                a.name(),
                b.name(),
                x / y
            );
        }
    };
    ratio("Exporting 100%", Variant::AxumBotanu, Variant::AxumOtel);
    ratio(
        "Export off / no-op exporter",
        Variant::AxumBotanuNoExport,
        Variant::AxumOtelNoExport,
    );
    ratio(
        "actix-web, exporting 100%",
        Variant::ActixBotanu,
        Variant::ActixOtel,
    );
    ratio(
        "Agent handler (10 child spans)",
        Variant::AgentBotanu,
        Variant::AgentOtel,
    );
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_total() {
        let text =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 123456\ntotals: 123456\n";
        assert_eq!(super::total(text), Some(123_456));
        assert_eq!(super::total("events: Ir\n"), None);
    }
}
