//! Server processes, the load generator (wrk), and what `/proc` tells about a server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::Variant;

/// Cores: the server gets the first, the load generator and receiver the second.
pub const SERVER_CORE: &str = "0";
pub const LOAD_CORE: &str = "1";

/// Whether there are two cores to pin to (otherwise nothing is pinned).
pub fn can_pin() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Pins this process (all its threads, and the threads it starts later) to `core`.
pub fn pin_self(core: &str) {
    let _ = Command::new("taskset")
        .args(["-a", "-cp", core, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
}

/// `program`, run through `taskset -c core` when `pin`.
fn pinned(program: &str, core: &str, pin: bool) -> Command {
    if !pin {
        return Command::new(program);
    }
    let mut c = Command::new("taskset");
    c.args(["-c", core, program]);
    c
}

/// A running server process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// What it printed after its ready line.
    output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// The address in a `ready <addr>` line (the harness's own servers).
pub fn ready_line(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("ready ")?.trim().parse().ok()
}

impl Server {
    /// Starts `program args…` (pinned to the server core when `pin`) and waits for the line
    /// `ready` finds an address in.
    pub fn start(
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        pin: bool,
        ready: fn(&str) -> Option<SocketAddr>,
    ) -> Result<Server, String> {
        let mut child = pinned(program, SERVER_CORE, pin)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("start {program}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = ready(&line) {
                        break addr;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{program} exited before it was ready"));
                }
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        let output: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let sink = std::sync::Arc::clone(&output);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Ok(Server {
            child,
            addr,
            output,
        })
    }

    /// The lines it printed after its ready line so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time of the whole process so far (all threads, also those that ended).
    pub fn cpu_time(&self) -> Result<Duration, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.pid()))?;
        // Fields after the command name (which may hold spaces) in parentheses.
        let rest = stat.rsplit_once(')').ok_or("malformed stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64, String> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| "malformed stat".to_owned())
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
    }

    /// Peak resident set size in KiB (`VmHWM`), or the current one (`VmRSS`) with `current`.
    pub fn rss_kib(&self, current: bool) -> Option<u64> {
        let field = if current { "VmRSS" } else { "VmHWM" };
        botanu_tests::proc_status_kib(&self.pid().to_string(), field)
    }

    /// SIGINT (graceful shutdown: the server flushes its spans), then waits; kills it after
    /// `timeout`.
    pub fn stop(&mut self, timeout: Duration) -> Result<(), String> {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("server exited with {status}"))
                };
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("server did not stop in time; killed".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// What wrk reported.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
}

pub fn wrk_available() -> bool {
    Command::new("wrk")
        .arg("-v")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
}

/// Runs `wrk -t1 -c<connections> -d<duration> --latency` against `url`, pinned to the load
/// core when `pin`, with an optional Lua `script`.
pub fn wrk(
    url: &str,
    connections: usize,
    duration: Duration,
    pin: bool,
    script: Option<&str>,
) -> Result<WrkResult, String> {
    let mut cmd = pinned("wrk", LOAD_CORE, pin);
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{}s", duration.as_secs().max(1)),
        "--latency",
    ]);
    if let Some(s) = script {
        cmd.args(["-s", s]);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("wrk: {e} (install it: apt-get install wrk)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_wrk(&text).ok_or_else(|| format!("could not read wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut p50 = None;
    let mut p99 = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_latency(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_latency(v.trim());
        } else if line.contains(" requests in ") {
            r.requests = line.split_whitespace().next()?.parse().ok()?;
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            r.requests_per_sec = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            r.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    r.p50 = p50?;
    r.p99 = p99?;
    Some(r)
}

fn parse_latency(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// A few keep-alive GET requests over one connection (smoke mode: no timing, checks every
/// answer is 200).
pub fn smoke_requests(addr: SocketAddr, path: &str, n: usize) -> Result<u64, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    for i in 0..n {
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("request {i}: {e}"))?;
        let mut status = String::new();
        reader
            .read_line(&mut status)
            .map_err(|e| format!("response {i}: {e}"))?;
        if !status.starts_with("HTTP/1.1 200") {
            return Err(format!("{path}: answered {status:?}"));
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(|_| "bad content-length")?;
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    }
    Ok(n as u64)
}

/// The server command for a variant.
pub fn serve_args(variant: Variant, otlp: &str) -> [&str; 4] {
    ["serve", variant.name(), "127.0.0.1:0", otlp]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/hello
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.11us  100.00us   3.00ms   90.00%
  Latency Distribution
     50%  500.00us
     75%  600.00us
     90%  700.00us
     99%    1.25ms
  300000 requests in 5.00s, 37.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  60000.50
Transfer/sec:      7.40MB
";
        let r = parse_wrk(text).unwrap();
        assert_eq!(r.requests, 300_000);
        assert_eq!(r.requests_per_sec, 60000.5);
        assert_eq!(r.p50, Duration::from_micros(500));
        assert_eq!(r.p99, Duration::from_micros(1250));
        assert_eq!(r.errors, 7);
        assert!(parse_wrk("garbage").is_none());
    }
}
