//! `parked N`: memory per parked goroutine (the headline number) and the
//! cost of getting N goroutines started.
//!
//! Reads VmRSS, then starts N goroutines that each bump a `started` counter
//! and park in `sleep(1 s)`. The spawner polls `started` with short sleeps of
//! its own (1 ms) until it reaches N, notes `spawn_ms` (first spawn → all N
//! started), reads VmRSS again and reports `rss_bytes_per_g` =
//! (rss_parked − rss_before) / N; then it sets `release` and waits for all N
//! to finish. `ns_per_op` = spawn_ms / N.
//!
//! A goroutine whose 1 s sleep ends before `release` is set parks in another
//! `sleep(1 s)` (counted in `rewakes`): on 2 cores, starting 10^6 goroutines
//! can take longer than 1 s (Go needs ~3 s), and without this the early ones
//! would already have exited when RSS is read, understating the memory.
//!
//! - gort:  `gort::sleep(1 s)` under `gort::scope`; poll with `gort::sleep`.
//! - Go:    `time.Sleep(1 s)` + `sync.WaitGroup`; poll with `time.Sleep`.
//! - tokio: `tokio::time::sleep(1 s).await`; `TokioLatch`; poll with
//!   `tokio::time::sleep`.
//! - may:   `may::coroutine::sleep(1 s)`; `MayLatch`; poll with
//!   `may::coroutine::sleep`. (Each may coroutine has its own mmap'ed stack
//!   with a guard page, i.e. two memory mappings, so with the default
//!   `vm.max_map_count` of 65530 may cannot hold more than ~32k coroutines.)

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// How long each goroutine stays parked.
pub const PARK: Duration = Duration::from_secs(1);
/// The spawner's own polling interval while it waits for all to start.
pub const POLL: Duration = Duration::from_millis(1);

/// What the spawner saw at the moment all N goroutines had started.
struct Snapshot {
    spawn: Duration,
    rss_before: u64,
    rss_parked: u64,
}

fn report(n: u64, snap: Snapshot, rewakes: u64, wall: Duration) -> Report {
    let per_g = snap.rss_parked.saturating_sub(snap.rss_before) as f64 / n as f64;
    Report::new(Workload::Parked, n, common::ns_per_op(snap.spawn, n))
        .with("rss_bytes_per_g", format!("{per_g:.1}"))
        .with("spawn_ms", common::ms(snap.spawn))
        .with("rss_before_kb", snap.rss_before / 1024)
        .with("rss_parked_kb", snap.rss_parked / 1024)
        .with("rewakes", rewakes)
        .with("wall_ms", common::ms(wall))
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let (started, rewakes, release) =
            (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        let snap = gort::scope(|s| {
            let (started, rewakes, release) = (&started, &rewakes, &release);
            for _ in 0..n {
                s.go(move || {
                    started.fetch_add(1, Relaxed);
                    gort::sleep(PARK);
                    while !release.load(Relaxed) {
                        rewakes.fetch_add(1, Relaxed);
                        gort::sleep(PARK);
                    }
                });
            }
            while started.load(Relaxed) < n {
                gort::sleep(POLL);
            }
            let spawn = t0.elapsed();
            let rss_parked = common::rss_bytes();
            release.store(true, Relaxed);
            Snapshot {
                spawn,
                rss_before,
                rss_parked,
            }
        });
        report(n, snap, rewakes.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    struct Shared {
        started: AtomicU64,
        rewakes: AtomicU64,
        release: AtomicBool,
        latch: common::TokioLatch,
    }
    common::tokio_run(async move {
        let shared = Arc::new(Shared {
            started: AtomicU64::new(0),
            rewakes: AtomicU64::new(0),
            release: AtomicBool::new(false),
            latch: common::TokioLatch::new(n),
        });
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            let sh = shared.clone();
            tokio::spawn(async move {
                sh.started.fetch_add(1, Relaxed);
                tokio::time::sleep(PARK).await;
                while !sh.release.load(Relaxed) {
                    sh.rewakes.fetch_add(1, Relaxed);
                    tokio::time::sleep(PARK).await;
                }
                sh.latch.done();
            });
        }
        while shared.started.load(Relaxed) < n {
            tokio::time::sleep(POLL).await;
        }
        let spawn = t0.elapsed();
        let rss_parked = common::rss_bytes();
        shared.release.store(true, Relaxed);
        let snap = Snapshot {
            spawn,
            rss_before,
            rss_parked,
        };
        shared.latch.wait().await;
        report(n, snap, shared.rewakes.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    struct Shared {
        started: AtomicU64,
        rewakes: AtomicU64,
        release: AtomicBool,
        latch: common::MayLatch,
    }
    common::may_run(move || {
        let shared = Arc::new(Shared {
            started: AtomicU64::new(0),
            rewakes: AtomicU64::new(0),
            release: AtomicBool::new(false),
            latch: common::MayLatch::new(n),
        });
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for _ in 0..n {
            let sh = shared.clone();
            may::go!(move || {
                sh.started.fetch_add(1, Relaxed);
                may::coroutine::sleep(PARK);
                while !sh.release.load(Relaxed) {
                    sh.rewakes.fetch_add(1, Relaxed);
                    may::coroutine::sleep(PARK);
                }
                sh.latch.done();
            });
        }
        while shared.started.load(Relaxed) < n {
            may::coroutine::sleep(POLL);
        }
        let spawn = t0.elapsed();
        let rss_parked = common::rss_bytes();
        shared.release.store(true, Relaxed);
        let snap = Snapshot {
            spawn,
            rss_before,
            rss_parked,
        };
        shared.latch.wait();
        report(n, snap, shared.rewakes.load(Relaxed), t0.elapsed())
    })
}
