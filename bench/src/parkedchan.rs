//! `parkedchan N`: memory per goroutine blocked on a channel receive (the
//! headline number), and the cost of parking N of them and of waking them
//! all.
//!
//! Reads VmRSS, then, for i in 0..N, makes a channel, keeps its sender in a
//! vector (allocated before the first VmRSS read, so only the 8-byte slots
//! written count) and starts a goroutine that bumps a `started` counter and
//! blocks receiving on its channel. As in `parked`, the spawner polls
//! `started` with short sleeps of its own (1 ms) until it reaches N, notes
//! `park_ms` (first spawn → all N started; the last ones are at most a few
//! instructions away from parking), reads VmRSS again and reports
//! `rss_bytes_per_g` = (rss_parked − rss_before) / N, which includes each
//! goroutine's channel and sender slot. Then it sends `i` on channel i, in
//! order, and waits until all N goroutines have finished: `wake_ms` (first
//! send → all finished). Each goroutine checks that it received its own `i`
//! (a mismatch is counted; any makes the run panic: non-zero exit).
//! `ns_per_op` = park time / N; `wake_ns_per_g` = wake time / N.
//!
//! - gort:  `gort::chan::<u64>(0)` (unbuffered) per goroutine, `rx.recv()`;
//!   goroutines under `gort::scope`; poll with `gort::sleep`; the spawner
//!   `send`s through `&Sender` (the senders are dropped after the timing).
//! - Go:    `make(chan uint64)` (unbuffered) per goroutine, `<-c`;
//!   `sync.WaitGroup`; poll with `time.Sleep`.
//! - tokio: `tokio::sync::oneshot::channel()` per task (tokio's channel for
//!   exactly one value; smaller than an `mpsc::channel(1)`), `rx.await`;
//!   `TokioLatch`; poll with `tokio::time::sleep`. `oneshot::Sender::send`
//!   consumes the sender, so tokio's wake time includes dropping them.
//! - may:   `may::sync::mpsc::channel()` per coroutine (unbounded; may has no
//!   other), `rx.recv()`; `MayLatch`; poll with `may::coroutine::sleep`.
//!   (With the default `vm.max_map_count` may cannot hold more than ~32k
//!   coroutines: see `parked`.)

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use crate::parked::POLL;
#[allow(unused_imports)]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// What the spawner measured.
struct Snapshot {
    park: Duration,
    wake: Duration,
    rss_before: u64,
    rss_parked: u64,
}

fn report(n: u64, snap: Snapshot, bad: u64, wall: Duration) -> Report {
    if bad != 0 {
        panic!("parkedchan: {bad} goroutines received another goroutine's value");
    }
    let per_g = snap.rss_parked.saturating_sub(snap.rss_before) as f64 / n as f64;
    Report::new(Workload::ParkedChan, n, common::ns_per_op(snap.park, n))
        .with("rss_bytes_per_g", format!("{per_g:.1}"))
        .with(
            "wake_ns_per_g",
            format!("{:.2}", common::ns_per_op(snap.wake, n)),
        )
        .with("park_ms", common::ms(snap.park))
        .with("wake_ms", common::ms(snap.wake))
        .with("rss_before_kb", snap.rss_before / 1024)
        .with("rss_parked_kb", snap.rss_parked / 1024)
        .with("wall_ms", common::ms(wall))
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let (started, bad) = (AtomicU64::new(0), AtomicU64::new(0));
        let mut txs = Vec::with_capacity(n as usize);
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        let (park, rss_parked, t1) = gort::scope(|s| {
            let (started, bad) = (&started, &bad);
            for i in 0..n {
                let (tx, rx) = gort::chan::<u64>(0);
                txs.push(tx);
                s.go(move || {
                    started.fetch_add(1, Relaxed);
                    if rx.recv().expect("parkedchan: channel closed") != i {
                        bad.fetch_add(1, Relaxed);
                    }
                });
            }
            while started.load(Relaxed) < n {
                gort::sleep(POLL);
            }
            let park = t0.elapsed();
            let rss_parked = common::rss_bytes();
            let t1 = Instant::now();
            for (i, tx) in (0..n).zip(&txs) {
                tx.send(i).expect("parkedchan: channel closed");
            }
            (park, rss_parked, t1)
        });
        let snap = Snapshot {
            park,
            wake: t1.elapsed(),
            rss_before,
            rss_parked,
        };
        drop(txs);
        report(n, snap, bad.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    struct Shared {
        started: AtomicU64,
        bad: AtomicU64,
        latch: common::TokioLatch,
    }
    common::tokio_run(async move {
        let shared = Arc::new(Shared {
            started: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            latch: common::TokioLatch::new(n),
        });
        let mut txs = Vec::with_capacity(n as usize);
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for i in 0..n {
            let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
            txs.push(tx);
            let sh = shared.clone();
            tokio::spawn(async move {
                sh.started.fetch_add(1, Relaxed);
                if rx.await.expect("parkedchan: sender dropped") != i {
                    sh.bad.fetch_add(1, Relaxed);
                }
                sh.latch.done();
            });
        }
        while shared.started.load(Relaxed) < n {
            tokio::time::sleep(POLL).await;
        }
        let park = t0.elapsed();
        let rss_parked = common::rss_bytes();
        let t1 = Instant::now();
        for (i, tx) in (0..n).zip(txs) {
            tx.send(i).expect("parkedchan: receiver dropped");
        }
        shared.latch.wait().await;
        let snap = Snapshot {
            park,
            wake: t1.elapsed(),
            rss_before,
            rss_parked,
        };
        report(n, snap, shared.bad.load(Relaxed), t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    struct Shared {
        started: AtomicU64,
        bad: AtomicU64,
        latch: common::MayLatch,
    }
    common::may_run(move || {
        let shared = Arc::new(Shared {
            started: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            latch: common::MayLatch::new(n),
        });
        let mut txs = Vec::with_capacity(n as usize);
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for i in 0..n {
            let (tx, rx) = may::sync::mpsc::channel::<u64>();
            txs.push(tx);
            let sh = shared.clone();
            may::go!(move || {
                sh.started.fetch_add(1, Relaxed);
                if rx.recv().expect("parkedchan: channel closed") != i {
                    sh.bad.fetch_add(1, Relaxed);
                }
                sh.latch.done();
            });
        }
        while shared.started.load(Relaxed) < n {
            may::coroutine::sleep(POLL);
        }
        let park = t0.elapsed();
        let rss_parked = common::rss_bytes();
        let t1 = Instant::now();
        for (i, tx) in (0..n).zip(&txs) {
            tx.send(i).expect("parkedchan: receiver dropped");
        }
        shared.latch.wait();
        let snap = Snapshot {
            park,
            wake: t1.elapsed(),
            rss_before,
            rss_parked,
        };
        drop(txs);
        report(n, snap, shared.bad.load(Relaxed), t0.elapsed())
    })
}
