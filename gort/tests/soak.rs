//! Soak: a mixed workload — channels, `select!` with timeouts, `gort::sync`,
//! timers, spawn trees, callbacks, `set_procs` changes — run round after
//! round for `GORT_SOAK_SECS` seconds (default 3). Every round ends with
//! every sum exact; at the end `num_goroutines()` is back to its baseline and
//! RSS has stopped growing.
//!
//! - `cargo test --release --test soak`: a few seconds, in the normal suite;
//! - CI, under the chaos build (random delays at park/ready/steal points and
//!   preemption storms, `src/runtime/chaos.rs`):
//!   `RUSTFLAGS="--cfg gort_chaos" GORT_SOAK_SECS=120 cargo test --release --test soak`;
//! - an hour locally: the same with `GORT_SOAK_SECS=3600`.

use gort::ffi::Callback;
use gort::sync::{Mutex, WaitGroup};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn soak_secs() -> u64 {
    std::env::var("GORT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// VmRSS in KiB (0 where /proc is not there).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Producers and consumers over a buffered and an unbuffered channel.
fn channels(round: u64) {
    const P: u64 = 4;
    const PER: u64 = 2000;
    let (tx, rx) = gort::chan::<u64>((round % 3) as usize * 16);
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let tx = tx.clone();
            gort::go(move || {
                for i in 0..PER {
                    tx.send(p * PER + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            gort::go(move || rx.iter().sum::<u64>())
        })
        .collect();
    for h in producers {
        h.join().unwrap();
    }
    let sum: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    let n = P * PER;
    assert_eq!(sum, n * (n - 1) / 2, "channels, round {round}");
}

/// `select!` over several channels, with `after` arms that sometimes win:
/// every value is received exactly once.
fn select(round: u64) {
    const N: u64 = 3000;
    let (a_tx, a_rx) = gort::chan::<u64>(0);
    let (b_tx, b_rx) = gort::chan::<u64>(4);
    let sender = gort::go(move || {
        for i in 0..N {
            if i % 2 == 0 {
                a_tx.send(i).unwrap();
            } else {
                b_tx.send(i).unwrap();
            }
            if i % 500 == 0 {
                gort::sleep(Duration::from_micros(200));
            }
        }
    });
    let (mut sum, mut got, mut timeouts) = (0u64, 0u64, 0u64);
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        gort::select! {
            recv(a_rx) -> v => match v {
                Ok(v) => { sum += v; got += 1; }
                Err(_) => a_open = false,
            },
            recv(b_rx) -> v => match v {
                Ok(v) => { sum += v; got += 1; }
                Err(_) => b_open = false,
            },
            after(Duration::from_micros(50)) => timeouts += 1,
        }
        if !a_open {
            // A closed channel is always ready: stop selecting on it.
            while let Ok(v) = b_rx.recv() {
                sum += v;
                got += 1;
            }
            b_open = false;
        } else if !b_open {
            while let Ok(v) = a_rx.recv() {
                sum += v;
                got += 1;
            }
            a_open = false;
        }
    }
    sender.join().unwrap();
    assert_eq!(got, N, "select, round {round} ({timeouts} timeouts)");
    assert_eq!(sum, N * (N - 1) / 2, "select, round {round}");
}

/// A `gort::sync::Mutex` counter and a `WaitGroup`.
fn sync(round: u64) {
    let m = Arc::new(Mutex::new(0u64));
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..16 {
        wg.add(1);
        let (m, wg) = (m.clone(), wg.clone());
        gort::go(move || {
            for _ in 0..500 {
                *m.lock() += 1;
            }
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(*m.lock(), 16 * 500, "sync, round {round}");
}

/// Sleepers and timers: each goroutine sleeps a short, varied time and
/// reports; `gort::time::after` fires once.
fn timers(round: u64) {
    let hs: Vec<_> = (0..200u64)
        .map(|i| {
            gort::go(move || {
                let d = Duration::from_micros(10 + (i * 37 + round) % 900);
                let t = Instant::now();
                gort::sleep(d);
                assert!(t.elapsed() >= d, "slept less than asked");
                i
            })
        })
        .collect();
    let fired = gort::time::after(Duration::from_millis(1)).recv().is_ok();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(fired);
    assert_eq!(sum, 199 * 200 / 2, "timers, round {round}");
}

/// A spawn tree (each node spawns two children until depth 0) joined bottom
/// up, and scoped goroutines borrowing the stack.
fn spawns(round: u64) {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let l = gort::go(move || tree(depth - 1));
        let r = tree(depth - 1);
        l.join().unwrap() + r
    }
    assert_eq!(
        gort::go(|| tree(10)).join().unwrap(),
        1024,
        "tree, round {round}"
    );
    let data: Vec<u64> = (0..1000).collect();
    let total = AtomicU64::new(0);
    gort::scope(|s| {
        for chunk in data.chunks(10) {
            let total = &total;
            s.go(move || {
                total.fetch_add(chunk.iter().sum(), Ordering::Relaxed);
            });
        }
    });
    assert_eq!(
        total.load(Ordering::Relaxed),
        999 * 1000 / 2,
        "scope, round {round}"
    );
}

/// Callbacks called from goroutines, parking inside (a channel hand-off per
/// call).
fn callbacks(round: u64) {
    let (tx, rx) = gort::chan::<u64>(0);
    let echo = gort::go(move || rx.iter().count() as u64);
    let tx2 = tx.clone();
    let cb = Callback::<extern "C" fn(u64) -> u64>::new(move |x| {
        tx2.send(x).unwrap(); // parks until the counter takes it
        x * 2
    })
    .unwrap();
    let f = cb.as_fn();
    let hs: Vec<_> = (0..8u64)
        .map(|g| gort::go(move || (0..50u64).map(|i| f(g * 50 + i)).sum::<u64>()))
        .collect();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    drop(cb);
    drop(tx);
    assert_eq!(echo.join().unwrap(), 400, "callbacks, round {round}");
    assert_eq!(sum, 2 * (399 * 400 / 2), "callbacks, round {round}");
}

#[test]
fn mixed_workload_stays_exact_and_bounded() {
    let secs = soak_secs();
    let start_procs = gort::procs();
    let baseline = gort::num_goroutines();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0u64;
    let mut rss_after_first = 0;
    let mut rss_max = 0;
    while rounds < 3 || Instant::now() < deadline {
        // Processors change under the workload: every few rounds, from a
        // goroutine, while the round's goroutines run.
        let procs = [1, 2, 3, 8, 2][(rounds % 5) as usize];
        let changer = gort::go(move || {
            gort::sleep(Duration::from_micros(300));
            gort::set_procs(procs);
        });
        let round = rounds;
        gort::run(move || {
            let parts: Vec<_> = [channels, select, sync, timers, spawns, callbacks]
                .into_iter()
                .map(|f| gort::go(move || f(round)))
                .collect();
            for p in parts {
                p.join().unwrap();
            }
        });
        changer.join().unwrap();
        rounds += 1;
        let rss = rss_kb();
        if rounds == 1 {
            rss_after_first = rss;
        }
        rss_max = rss_max.max(rss);
    }
    gort::set_procs(start_procs);
    // Goroutines that finished are uncounted by the time their join returns.
    assert_eq!(gort::num_goroutines(), baseline, "goroutines leaked");
    // Pools (stacks, Gs, tasks) fill during the first rounds; afterwards
    // memory must not keep growing round after round.
    if rss_after_first > 0 {
        assert!(
            rss_max <= rss_after_first * 3 + 64 * 1024,
            "RSS grew from {rss_after_first} KiB after round 1 to {rss_max} KiB"
        );
    }
    println!(
        "soak: {rounds} rounds in {secs} s, RSS {rss_after_first} -> {rss_max} KiB, chaos {}",
        cfg!(gort_chaos)
    );
}
