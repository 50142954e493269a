//! `timers N`: timer accuracy under load.
//!
//! N goroutines each sleep a duration uniformly drawn from 1..=100 ms by a
//! per-index xorshift ([`common::sleep_ms_for`]), so every implementation
//! sleeps exactly the same set of durations (`sum_sleep_ms` lets the runner
//! check that). Each goroutine takes `start` right before the sleep call and
//! records lateness = wake instant − (start + requested). Reports `wall_ms`
//! (spawn of the first to exit of the last), `mean_late_us`, `p99_late_us`,
//! `max_late_us`, and `ns_per_op` = wall / N.
//!
//! - gort:  `gort::sleep(d)` in goroutines under `gort::scope`.
//! - Go:    `time.Sleep(d)` + `sync.WaitGroup`.
//! - tokio: `tokio::time::sleep(d).await` (tokio's timer wheel has 1 ms
//!   resolution, so expect ~0.5–1 ms of lateness by design); `TokioLatch`.
//! - may:   `may::coroutine::sleep(d)`; `MayLatch`.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Requested sleep of goroutine `i`.
fn duration(i: u64) -> Duration {
    Duration::from_millis(common::sleep_ms_for(i))
}

/// One lateness slot per goroutine.
fn slots(n: u64) -> Vec<AtomicI64> {
    (0..n).map(|_| AtomicI64::new(0)).collect()
}

fn report(n: u64, late: &[AtomicI64], wall: Duration) -> Report {
    let stats = common::late_stats(late.iter().map(|x| x.load(Relaxed)).collect());
    let sum_sleep_ms: u64 = (0..n).map(common::sleep_ms_for).sum();
    Report::new(Workload::Timers, n, common::ns_per_op(wall, n))
        .with("wall_ms", common::ms(wall))
        .with("mean_late_us", format!("{:.1}", stats.mean_us))
        .with("p99_late_us", format!("{:.1}", stats.p99_us))
        .with("max_late_us", format!("{:.1}", stats.max_us))
        .with("sum_sleep_ms", sum_sleep_ms)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let late = slots(n);
        let t0 = Instant::now();
        gort::scope(|s| {
            let late = &late;
            for i in 0..n {
                s.go(move || {
                    let d = duration(i);
                    let start = Instant::now();
                    gort::sleep(d);
                    late[i as usize].store(common::lateness_ns(start, d, Instant::now()), Relaxed);
                });
            }
        });
        report(n, &late, t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    struct Shared {
        late: Vec<AtomicI64>,
        latch: common::TokioLatch,
    }
    common::tokio_run(async move {
        let shared = Arc::new(Shared {
            late: slots(n),
            latch: common::TokioLatch::new(n),
        });
        let t0 = Instant::now();
        for i in 0..n {
            let sh = shared.clone();
            tokio::spawn(async move {
                let d = duration(i);
                let start = Instant::now();
                tokio::time::sleep(d).await;
                sh.late[i as usize].store(common::lateness_ns(start, d, Instant::now()), Relaxed);
                sh.latch.done();
            });
        }
        shared.latch.wait().await;
        report(n, &shared.late, t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    struct Shared {
        late: Vec<AtomicI64>,
        latch: common::MayLatch,
    }
    common::may_run(move || {
        let shared = Arc::new(Shared {
            late: slots(n),
            latch: common::MayLatch::new(n),
        });
        let t0 = Instant::now();
        for i in 0..n {
            let sh = shared.clone();
            may::go!(move || {
                let d = duration(i);
                let start = Instant::now();
                may::coroutine::sleep(d);
                sh.late[i as usize].store(common::lateness_ns(start, d, Instant::now()), Relaxed);
                sh.latch.done();
            });
        }
        shared.latch.wait();
        report(n, &shared.late, t0.elapsed())
    })
}
