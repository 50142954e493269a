//! `mutex N`: cost of a contended goroutine-aware mutex.
//!
//! 8 goroutines each do N/8 times lock → `*count += 1` → unlock on one shared
//! mutex (N is rounded down to a multiple of 8; `ops` reports the exact
//! total). The spawner waits for all 8 and checks that the count equals
//! `ops` (a mismatch panics: non-zero exit). `ns_per_op` = wall time / ops,
//! i.e. ns per lock/unlock pair. With 8 goroutines on 2..n workers the lock
//! is contended: how a runtime makes a waiter spin, park, or hand the lock
//! over decides the number.
//!
//! - gort:  `gort::sync::Mutex<u64>` (parks the goroutine, never the thread),
//!   goroutines under `gort::scope`.
//! - Go:    `sync.Mutex` guarding a `uint64` + `sync.WaitGroup` (Go's mutex
//!   spins briefly before parking and has a starvation mode).
//! - tokio: `tokio::sync::Mutex<u64>` (`lock().await`; a fair, FIFO
//!   semaphore-based lock); waited for with a `TokioLatch`.
//! - may:   `may::sync::Mutex<u64>` (coroutine-parking, std-like API with
//!   poisoning: `lock().unwrap()`); waited for with a `MayLatch`.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Number of goroutines sharing the lock.
pub const GOROUTINES: u64 = 8;

fn report(n: u64, count: u64, wall: Duration) -> Report {
    let ops = (n / GOROUTINES) * GOROUTINES;
    if count != ops {
        panic!("mutex: count {count} != {ops} increments");
    }
    Report::new(Workload::Mutex, n, common::ns_per_op(wall, ops))
        .with("wall_ms", common::ms(wall))
        .with("goroutines", GOROUTINES)
        .with("ops", ops)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let per = n / GOROUTINES;
        let count = gort::sync::Mutex::new(0u64);
        let t0 = Instant::now();
        gort::scope(|s| {
            let count = &count;
            for _ in 0..GOROUTINES {
                s.go(move || {
                    for _ in 0..per {
                        *count.lock() += 1;
                    }
                });
            }
        });
        let wall = t0.elapsed();
        let count = *count.lock();
        report(n, count, wall)
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    struct Shared {
        count: tokio::sync::Mutex<u64>,
        latch: common::TokioLatch,
    }
    common::tokio_run(async move {
        let per = n / GOROUTINES;
        let shared = Arc::new(Shared {
            count: tokio::sync::Mutex::new(0),
            latch: common::TokioLatch::new(GOROUTINES),
        });
        let t0 = Instant::now();
        for _ in 0..GOROUTINES {
            let sh = shared.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    *sh.count.lock().await += 1;
                }
                sh.latch.done();
            });
        }
        shared.latch.wait().await;
        let wall = t0.elapsed();
        let count = *shared.count.lock().await;
        report(n, count, wall)
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    struct Shared {
        count: may::sync::Mutex<u64>,
        latch: common::MayLatch,
    }
    common::may_run(move || {
        let per = n / GOROUTINES;
        let shared = Arc::new(Shared {
            count: may::sync::Mutex::new(0),
            latch: common::MayLatch::new(GOROUTINES),
        });
        let t0 = Instant::now();
        for _ in 0..GOROUTINES {
            let sh = shared.clone();
            may::go!(move || {
                for _ in 0..per {
                    *sh.count.lock().expect("mutex: poisoned") += 1;
                }
                sh.latch.done();
            });
        }
        shared.latch.wait();
        let wall = t0.elapsed();
        let count = *shared.count.lock().expect("mutex: poisoned");
        report(n, count, wall)
    })
}
