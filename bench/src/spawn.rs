//! `spawn N`: cost of creating, running and retiring N trivial goroutines.
//!
//! One spawner (itself a goroutine / runtime task) starts N goroutines that
//! each do `counter.fetch_add(1)`, then waits for all of them. Reports
//! `ns_per_op` = wall time / N and `peak_rss_kb` (VmHWM at the end, i.e. how
//! many goroutines were alive at once times their size, plus the runtime).
//! The counter is checked to equal N.
//!
//! How each peer waits for the N goroutines:
//! - gort:  `gort::scope` + `s.go` (gort's WaitGroup equivalent for now).
//! - Go:    `go func(){...}()` + `sync.WaitGroup` (bench/go/main.go).
//! - tokio: `tokio::spawn`, JoinHandle dropped at once; one shared `Arc`
//!   holding the counter and a [`TokioLatch`](crate::common::TokioLatch) (atomic countdown + `Notify`),
//!   the cheapest idiomatic wait (no JoinSet bookkeeping).
//! - may:   `may::go!` + the same countdown firing a `SyncFlag` ([`MayLatch`](crate::common::MayLatch)).

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[allow(unused_imports)]
use std::{sync::Arc, time::Instant};

fn report(n: u64, counter: u64, wall: std::time::Duration) -> Report {
    assert_eq!(counter, n, "spawn: counter != N");
    Report::new(Workload::Spawn, n, common::ns_per_op(wall, n))
        .with("wall_ms", common::ms(wall))
        .with("peak_rss_kb", common::peak_rss_kb())
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let counter = AtomicU64::new(0);
        let t0 = Instant::now();
        gort::scope(|s| {
            let counter = &counter;
            for _ in 0..n {
                s.go(move || {
                    counter.fetch_add(1, Relaxed);
                });
            }
        });
        report(n, counter.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    struct Shared {
        counter: AtomicU64,
        latch: common::TokioLatch,
    }
    common::tokio_run(async move {
        let shared = Arc::new(Shared {
            counter: AtomicU64::new(0),
            latch: common::TokioLatch::new(n),
        });
        let t0 = Instant::now();
        for _ in 0..n {
            let sh = shared.clone();
            tokio::spawn(async move {
                sh.counter.fetch_add(1, Relaxed);
                sh.latch.done();
            });
        }
        shared.latch.wait().await;
        report(n, shared.counter.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    struct Shared {
        counter: AtomicU64,
        latch: common::MayLatch,
    }
    common::may_run(move || {
        let shared = Arc::new(Shared {
            counter: AtomicU64::new(0),
            latch: common::MayLatch::new(n),
        });
        let t0 = Instant::now();
        for _ in 0..n {
            let sh = shared.clone();
            may::go!(move || {
                sh.counter.fetch_add(1, Relaxed);
                sh.latch.done();
            });
        }
        shared.latch.wait();
        report(n, shared.counter.load(Relaxed), t0.elapsed())
    })
}
