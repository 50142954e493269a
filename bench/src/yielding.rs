//! `yield N`: cost of a voluntary context switch through the scheduler.
//!
//! 100 goroutines each yield N/100 times (N is rounded down to a multiple of
//! 100; `yields` reports the exact total); `ns_per_op` = wall time / yields.
//! With 100 runnable goroutines per 2..n workers every yield really switches
//! to another goroutine.
//!
//! - gort:  `gort::scope` + `gort::yield_now()`.
//! - Go:    `runtime.Gosched()` + `sync.WaitGroup`.
//! - tokio: `tokio::task::yield_now().await`; waited for with a `TokioLatch`.
//! - may:   `may::coroutine::yield_now()`; waited for with a `MayLatch`.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::{sync::Arc, time::Instant};

/// Number of yielding goroutines.
pub const GOROUTINES: u64 = 100;

fn report(n: u64, wall: std::time::Duration) -> Report {
    let yields = (n / GOROUTINES) * GOROUTINES;
    Report::new(Workload::Yield, n, common::ns_per_op(wall, yields))
        .with("wall_ms", common::ms(wall))
        .with("goroutines", GOROUTINES)
        .with("yields", yields)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let per = n / GOROUTINES;
        let t0 = Instant::now();
        gort::scope(|s| {
            for _ in 0..GOROUTINES {
                s.go(move || {
                    for _ in 0..per {
                        gort::yield_now();
                    }
                });
            }
        });
        report(n, t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    common::tokio_run(async move {
        let per = n / GOROUTINES;
        let latch = Arc::new(common::TokioLatch::new(GOROUTINES));
        let t0 = Instant::now();
        for _ in 0..GOROUTINES {
            let latch = latch.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    tokio::task::yield_now().await;
                }
                latch.done();
            });
        }
        latch.wait().await;
        report(n, t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    common::may_run(move || {
        let per = n / GOROUTINES;
        let latch = Arc::new(common::MayLatch::new(GOROUTINES));
        let t0 = Instant::now();
        for _ in 0..GOROUTINES {
            let latch = latch.clone();
            may::go!(move || {
                for _ in 0..per {
                    may::coroutine::yield_now();
                }
                latch.done();
            });
        }
        latch.wait();
        report(n, t0.elapsed())
    })
}
