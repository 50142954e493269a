//! `preempt N`: can a goroutine that never yields starve a sleeping one?
//!
//! Runs on ONE processor, so the two goroutines below compete for a single
//! worker thread and only preemption lets the sleeper run while the spinner
//! spins. N is the duration in milliseconds (default 2000).
//!
//! - The **spinner** runs `while stop == RUNNING { x = x * A + B }` (an LCG
//!   step; `black_box` on the result) and makes no calls at all: the only way
//!   to take the processor from it is asynchronous preemption. It reports its
//!   iteration count (`spin_iters_m`, millions) to show it really ran.
//! - The **sleeper** (the workload's own goroutine, which spawns the spinner)
//!   loops: t = now; sleep 1 ms; gap = now − t; record the gap; until N ms
//!   have elapsed since the start, then sets `stop`. Its first `t` is taken
//!   before the spinner is spawned, so the spinner's first turn on the
//!   processor is inside the first gap even if spawning switches to it.
//! - A plain OS thread (not a goroutine, so it runs whatever the scheduler
//!   does) sets `stop` after N + 1000 ms as a safety net: without preemption
//!   the sleeper never gets to set it, and the workload must still end.
//!   `safety_stop=1` says the safety net, not the sleeper, stopped the spinner.
//!
//! Reports the headline `max_gap_ms` (the longest the sleeper went without
//! running after asking for a 1 ms sleep; lower is better), `mean_gap_ms`,
//! `p99_gap_ms` (nearest rank), `wakes` (completed sleeps), `spin_iters_m`,
//! `safety_stop`, `wall_ms`, and `ns_per_op` = wall / wakes. A runtime that
//! cannot preempt the spinner does not run the sleeper until the safety net
//! stops the spinner: max gap ≈ N + 1000 ms and a single wake. That is the
//! expected result for tokio, not a failure (may: see below).
//!
//! - gort:  `gort::set_procs(1)` before `gort::run`; spinner `gort::go`,
//!   `gort::sleep(1 ms)`. gort preempts by a signal from sysmon (time slice).
//! - Go:    `runtime.GOMAXPROCS(1)` (restored on return); `time.Sleep(1 ms)`.
//!   Go has no thread outside its scheduler without cgo, so the safety net is
//!   in the spinner: every 2^27 iterations (~160 ms here, > 50 ms on any
//!   current CPU) it calls `time.Since(start)`. That call is a point where Go
//!   could preempt synchronously, but sysmon's async preemption (after 10 ms)
//!   comes far sooner, so it does not shape the gaps.
//! - tokio: `new_current_thread().enable_time()` runtime (timers are driven by
//!   that same thread); `tokio::time::sleep(1 ms).await`. No preemption of a
//!   task that does not `.await`.
//! - may:   `may::config().set_workers(1)` before may's scheduler starts (each
//!   binary runs one workload, so this is the first use);
//!   `may::coroutine::sleep(1 ms)`. may does not preempt either, but its timer
//!   thread resumes a coroutine whose sleep expired itself (may 0.3.51,
//!   `init_scheduler`: the timer handler calls `run_coroutine`), and the
//!   coroutine then runs on the timer thread until it blocks again. So after
//!   its first sleep the sleeper never needs the one worker the spinner holds:
//!   may's gaps stay small because a second OS thread runs coroutines, not
//!   because the spinner is preempted (`threads=1` counts workers only).

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The sleeper's requested sleep.
pub const TICK: Duration = Duration::from_millis(1);
/// How long after N the OS thread stops the spinner if the sleeper has not.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(1);

/// Values of the shared `stop` flag.
const RUNNING: u8 = 0;
const BY_SLEEPER: u8 = 1;
const BY_SAFETY_NET: u8 = 2;

/// The spinner: no calls in the loop (the atomic load and the arithmetic are
/// inlined), so only asynchronous preemption can interrupt it. Returns the
/// iteration count.
fn spin(stop: &AtomicU8) -> u64 {
    let mut x: u64 = 1;
    let mut iters: u64 = 0;
    while stop.load(Relaxed) == RUNNING {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        iters += 1;
    }
    std::hint::black_box(x);
    iters
}

/// Starts the OS thread that sets `stop` at `start + limit` unless it is set
/// earlier. It parks with a timeout so that `unpark` after the run lets it
/// exit at once; it is never joined (joining would block a worker thread).
fn safety_net(stop: Arc<AtomicU8>, start: Instant, limit: Duration) -> std::thread::Thread {
    let handle = std::thread::spawn(move || {
        let deadline = start + limit;
        while stop.load(Relaxed) == RUNNING {
            let now = Instant::now();
            if now >= deadline {
                let _ = stop.compare_exchange(RUNNING, BY_SAFETY_NET, Relaxed, Relaxed);
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
    });
    handle.thread().clone()
}

/// The sleeper's bookkeeping: gaps in ns, and when to stop.
struct Sleeper {
    start: Instant,
    duration: Duration,
    t: Instant,
    gaps: Vec<i64>,
}

impl Sleeper {
    /// Call before spawning the spinner: the first gap starts here.
    fn new(n: u64) -> Sleeper {
        let start = Instant::now();
        Sleeper {
            start,
            duration: Duration::from_millis(n),
            t: start,
            gaps: Vec::with_capacity(n as usize + 16),
        }
    }

    /// Records the gap of the sleep that just returned; `false` once N ms
    /// have elapsed. Takes the next `t` right before the caller sleeps again.
    fn woke(&mut self) -> bool {
        let now = Instant::now();
        self.gaps.push(now.duration_since(self.t).as_nanos() as i64);
        if now.duration_since(self.start) >= self.duration {
            return false;
        }
        self.t = Instant::now();
        true
    }
}

/// Stops the spinner on the sleeper's behalf (a no-op if the safety net
/// already did) and lets the safety-net thread exit.
fn stop_spinner(stop: &AtomicU8, net: &std::thread::Thread) {
    let _ = stop.compare_exchange(RUNNING, BY_SLEEPER, Relaxed, Relaxed);
    net.unpark();
}

fn report(n: u64, s: Sleeper, iters: u64, stop: &AtomicU8, threads: usize) -> Report {
    let wall = s.start.elapsed();
    let wakes = s.gaps.len() as u64;
    // late_stats works in ns in, µs out; gaps are reported in ms.
    let stats = common::late_stats(s.gaps);
    Report::new(Workload::Preempt, n, common::ns_per_op(wall, wakes))
        .with("max_gap_ms", format!("{:.3}", stats.max_us / 1e3))
        .with("mean_gap_ms", format!("{:.3}", stats.mean_us / 1e3))
        .with("p99_gap_ms", format!("{:.3}", stats.p99_us / 1e3))
        .with("wakes", wakes)
        .with("spin_iters_m", format!("{:.1}", iters as f64 / 1e6))
        .with("safety_stop", u8::from(stop.load(Relaxed) == BY_SAFETY_NET))
        .with("wall_ms", common::ms(wall))
        .threads(threads)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    // Set before gort::run starts the workload: there is nothing running yet
    // that would have to reach a scheduling point for the shrink to apply.
    gort::set_procs(1);
    gort::run(move || {
        let stop = Arc::new(AtomicU8::new(RUNNING));
        let mut s = Sleeper::new(n);
        let net = safety_net(stop.clone(), s.start, s.duration + SAFETY_MARGIN);
        let spinner = {
            let stop = stop.clone();
            gort::go(move || spin(&stop))
        };
        loop {
            gort::sleep(TICK);
            if !s.woke() {
                break;
            }
        }
        stop_spinner(&stop, &net);
        let iters = spinner.join().expect("spinner panicked");
        report(n, s, iters, &stop, gort::procs())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build tokio runtime");
    // A spawned task, like the other workloads (not the block_on future).
    rt.block_on(async move {
        tokio::spawn(async move {
            let stop = Arc::new(AtomicU8::new(RUNNING));
            let mut s = Sleeper::new(n);
            let net = safety_net(stop.clone(), s.start, s.duration + SAFETY_MARGIN);
            let spinner = {
                let stop = stop.clone();
                tokio::spawn(async move { spin(&stop) })
            };
            loop {
                tokio::time::sleep(TICK).await;
                if !s.woke() {
                    break;
                }
            }
            stop_spinner(&stop, &net);
            let iters = spinner.await.expect("spinner panicked");
            report(n, s, iters, &stop, 1)
        })
        .await
        .expect("workload task panicked")
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    // may reads the worker count when its scheduler starts, i.e. at the first
    // `go!` below (common::may_run would set one worker per core).
    may::config().set_workers(1);
    may::go!(move || {
        let stop = Arc::new(AtomicU8::new(RUNNING));
        let mut s = Sleeper::new(n);
        let net = safety_net(stop.clone(), s.start, s.duration + SAFETY_MARGIN);
        let spinner = {
            let stop = stop.clone();
            may::go!(move || spin(&stop))
        };
        loop {
            may::coroutine::sleep(TICK);
            if !s.woke() {
                break;
            }
        }
        stop_spinner(&stop, &net);
        let iters = spinner.join().expect("spinner panicked");
        report(n, s, iters, &stop, may::config().get_workers())
    })
    .join()
    .expect("workload coroutine panicked")
}
