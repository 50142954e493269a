//! Pieces shared by every workload and binary: the command line, the output
//! line, readers for /proc/self/status, the deterministic sleep durations of
//! the `timers` workload, lateness statistics, and small helpers that start
//! each peer runtime the same way (workload code runs *inside* the runtime, on
//! a worker, just as Go's `main` is itself a goroutine).

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The workloads, in the order the runner and the usage text list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Spawn,
    SpawnJoin,
    Yield,
    Timers,
    Parked,
    Preempt,
    PingPong,
    ChanThroughput,
    Mutex,
    ParkedChan,
    Qsort,
    Echo,
    Kv,
    Idle,
}

impl Workload {
    pub const ALL: [Workload; 14] = [
        Workload::Spawn,
        Workload::SpawnJoin,
        Workload::Yield,
        Workload::Timers,
        Workload::Parked,
        Workload::Preempt,
        Workload::PingPong,
        Workload::ChanThroughput,
        Workload::Mutex,
        Workload::ParkedChan,
        Workload::Qsort,
        Workload::Echo,
        Workload::Kv,
        Workload::Idle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Spawn => "spawn",
            Workload::SpawnJoin => "spawnjoin",
            Workload::Yield => "yield",
            Workload::Timers => "timers",
            Workload::Parked => "parked",
            Workload::Preempt => "preempt",
            Workload::PingPong => "pingpong",
            Workload::ChanThroughput => "chanthroughput",
            Workload::Mutex => "mutex",
            Workload::ParkedChan => "parkedchan",
            Workload::Qsort => "qsort",
            Workload::Echo => "echo",
            Workload::Kv => "kv",
            Workload::Idle => "idle",
        }
    }

    /// Default N; keep in sync with `bench/go/main.go` and `bench/run.py`.
    pub fn default_n(self) -> u64 {
        match self {
            Workload::Spawn => 1_000_000,
            Workload::SpawnJoin => 1_000_000,
            Workload::Yield => 10_000_000,
            Workload::Timers => 100_000,
            Workload::Parked => 1_000_000,
            // A duration in ms, not a count.
            Workload::Preempt => 2000,
            Workload::PingPong => 1_000_000,
            Workload::ChanThroughput => 4_000_000,
            Workload::Mutex => 8_000_000,
            Workload::ParkedChan => 1_000_000,
            Workload::Qsort => 1_000_000,
            // Messages in total, over 100 connections.
            Workload::Echo => 1_000_000,
            // Requests per redis-benchmark test (`-n`); bench/run.py drives it.
            Workload::Kv => 200_000,
            // Connections.
            Workload::Idle => 10_000,
        }
    }

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// One result line: ordered `key=value` pairs.
#[derive(Debug)]
pub struct Report {
    fields: Vec<(&'static str, String)>,
    threads: Option<usize>,
}

impl Report {
    /// Starts a line with the three mandatory keys `name`, `n`, `ns_per_op`.
    pub fn new(w: Workload, n: u64, ns_per_op: f64) -> Report {
        Report {
            fields: Vec::new(),
            threads: None,
        }
        .with("name", w.name())
        .with("n", n)
        .with("ns_per_op", format!("{ns_per_op:.2}"))
    }

    /// Appends `key=value`.
    pub fn with(mut self, key: &'static str, value: impl Display) -> Report {
        self.fields.push((key, value.to_string()));
        self
    }

    /// The worker threads the workload ran on, when it is not what the
    /// binary's runtime uses by default (`preempt` runs on one).
    pub fn threads(mut self, n: usize) -> Report {
        self.threads = Some(n);
        self
    }

    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.join(" ")
    }
}

/// Entry point of every binary: `<bin> <workload> [N]`. `run` executes the
/// workload and returns its report; `impl=<imp>` and `threads=<t>` (the number
/// of worker threads the runtime used: [`Report::threads`] if the workload set
/// it, else `threads()` asked after the run) are appended.
pub fn main(imp: &str, threads: impl FnOnce() -> usize, run: impl FnOnce(Workload, u64) -> Report) {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        eprintln!("usage: {} <{}> [N]", args[0], names.join("|"));
        std::process::exit(2);
    };
    if args.len() < 2 || args.len() > 3 {
        usage();
    }
    let Some(w) = Workload::parse(&args[1]) else {
        usage()
    };
    let n = match args.get(2) {
        None => w.default_n(),
        Some(s) => match s.replace('_', "").parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => usage(),
        },
    };
    let report = run(w, n);
    let t = report.threads.unwrap_or_else(threads);
    println!("{}", report.with("impl", imp).with("threads", t).line());
}

/// Exit status of a binary asked for a workload its runtime has no
/// equivalent of (e.g. `qsort` for tokio and may); bench/run.py records such
/// a run as "n/a", not as a failure.
pub const EXIT_NOT_APPLICABLE: i32 = 3;

/// Says on stderr that workload `w` does not exist for `imp` (and why) and
/// exits with [`EXIT_NOT_APPLICABLE`], printing no result line.
pub fn not_applicable(imp: &str, w: Workload, why: &str) -> ! {
    eprintln!("{}: not applicable to {imp}: {why}", w.name());
    std::process::exit(EXIT_NOT_APPLICABLE);
}

/// What `gort-bench kv` says: the binaries have no `kv` workload.
pub const KV_IS_RUN_PY: &str = "kv is a server benchmark: bench/run.py starts gort's \
                                examples/kv.rs (cargo build --release -p gort --example kv) and \
                                drives it with redis-benchmark; this binary has nothing to run";

/// Number of cores the process may use: the worker count for every runtime.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `wall / n` in nanoseconds.
pub fn ns_per_op(wall: Duration, n: u64) -> f64 {
    wall.as_nanos() as f64 / n.max(1) as f64
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// A `kB` field (`VmRSS`, `VmHWM`, ...) of /proc/self/status; 0 if missing.
pub fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Current resident set size in bytes.
pub fn rss_bytes() -> u64 {
    proc_status_kb("VmRSS") * 1024
}

/// Peak resident set size in kB.
pub fn peak_rss_kb() -> u64 {
    proc_status_kb("VmHWM")
}

/// Sleep duration, in ms (uniform-ish in 1..=100), of goroutine `i` in the
/// `timers` workload: xorshift64 seeded from the index, so that every
/// implementation sleeps exactly the same durations. The Go copy in
/// bench/go/main.go must stay identical (the `sum_sleep_ms` key checks it).
pub fn sleep_ms_for(i: u64) -> u64 {
    let mut x = (i.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    1 + x % 100
}

/// Lateness of a wake-up in ns: `woke - (start + requested)`; negative would
/// mean an early wake.
pub fn lateness_ns(start: Instant, requested: Duration, woke: Instant) -> i64 {
    woke.duration_since(start).as_nanos() as i64 - requested.as_nanos() as i64
}

/// Summary of lateness samples (ns in, µs out).
pub struct LateStats {
    pub mean_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Mean, p99 (nearest rank) and max of the samples.
pub fn late_stats(mut samples: Vec<i64>) -> LateStats {
    if samples.is_empty() {
        return LateStats {
            mean_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
        };
    }
    samples.sort_unstable();
    let n = samples.len();
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let rank = (n * 99).div_ceil(100).max(1); // nearest-rank p99, 1-based
    LateStats {
        mean_us: mean / 1e3,
        p99_us: samples[rank - 1] as f64 / 1e3,
        max_us: samples[n - 1] as f64 / 1e3,
    }
}

/// Runs `fut` as a task on a multi-threaded tokio runtime with one worker per
/// core (spawned from the block_on thread onto a worker, so that spawns inside
/// the workload go to a worker's local queue as in Go/gort/may).
#[cfg(feature = "tokio")]
pub fn tokio_run<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio_run_with(false, fut)
}

/// [`tokio_run`] with tokio's I/O driver enabled too, for the network
/// workloads (`echo`, `idle`); the others keep the runtime without it, as
/// before, so that their figures do not move.
#[cfg(feature = "tokio")]
pub fn tokio_run_io<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio_run_with(true, fut)
}

#[cfg(feature = "tokio")]
fn tokio_run_with<F>(io: bool, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(cores()).enable_time();
    if io {
        b.enable_io();
    }
    let rt = b.build().expect("build tokio runtime");
    rt.block_on(async move { tokio::spawn(fut).await.expect("workload task panicked") })
}

/// Runs `f` as a may coroutine on may's scheduler with one worker per core
/// (may's default; everything else is left at may's defaults, including its
/// 32 KiB default stack and pinning of workers to cores).
#[cfg(feature = "may")]
pub fn may_run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may::config().set_workers(cores());
    may::go!(f).join().expect("workload coroutine panicked")
}

/// WaitGroup for tokio: an atomic countdown whose last `done` wakes the single
/// waiter through `Notify` (`notify_one` keeps a permit, so a wake-up that
/// happens before `wait` is not lost). Cheaper than a `JoinSet`, which keeps
/// every JoinHandle in a mutex-protected list.
#[cfg(feature = "tokio")]
pub struct TokioLatch {
    left: std::sync::atomic::AtomicU64,
    notify: tokio::sync::Notify,
}

#[cfg(feature = "tokio")]
impl TokioLatch {
    pub fn new(n: u64) -> TokioLatch {
        TokioLatch {
            left: n.into(),
            notify: tokio::sync::Notify::new(),
        }
    }

    pub fn done(&self) {
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.notify.notify_one();
        }
    }

    pub async fn wait(&self) {
        if self.left.load(std::sync::atomic::Ordering::Acquire) != 0 {
            self.notify.notified().await;
        }
    }
}

/// WaitGroup for may: the same atomic countdown, the last `done` fires a
/// `may::sync::SyncFlag`. (may's own `WaitGroup` takes a mutex on every
/// clone/drop, which would penalise may for no good reason.)
#[cfg(feature = "may")]
pub struct MayLatch {
    left: std::sync::atomic::AtomicU64,
    flag: may::sync::SyncFlag,
}

#[cfg(feature = "may")]
impl MayLatch {
    pub fn new(n: u64) -> MayLatch {
        MayLatch {
            left: n.into(),
            flag: may::sync::SyncFlag::new(),
        }
    }

    pub fn done(&self) {
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.flag.fire();
        }
    }

    pub fn wait(&self) {
        if self.left.load(std::sync::atomic::Ordering::Acquire) != 0 {
            self.flag.wait();
        }
    }
}
