//! `sleep`: never early, parks (does not block the thread), many sleepers.
//!
//! The `elapsed() >= d` checks below are the API's contract ("sleeps for at
//! least d"), a lower bound that load can only make safer; nothing here asserts
//! how *fast* anything is (that is bench/'s job).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn sleep_is_never_early() {
    gort::run(|| {
        for ms in [1u64, 2, 5, 10, 20] {
            let t = Instant::now();
            gort::sleep(Duration::from_millis(ms));
            assert!(t.elapsed() >= Duration::from_millis(ms));
        }
    });
}

#[test]
fn zero_sleep_returns() {
    gort::run(|| gort::sleep(Duration::ZERO));
    gort::sleep(Duration::ZERO);
}

#[test]
fn sleep_outside_goroutine_sleeps_thread() {
    let t = Instant::now();
    gort::sleep(Duration::from_millis(3));
    assert!(t.elapsed() >= Duration::from_millis(3));
}

#[test]
fn ten_thousand_sleepers_all_wake_not_early() {
    let early = Arc::new(AtomicUsize::new(0));
    gort::run({
        let early = early.clone();
        move || {
            let hs: Vec<_> = (0..10_000u64)
                .map(|i| {
                    let early = early.clone();
                    gort::go(move || {
                        let d = Duration::from_millis(1 + (i * 7919) % 50);
                        let t = Instant::now();
                        gort::sleep(d);
                        if t.elapsed() < d {
                            early.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
    assert_eq!(early.load(Ordering::Relaxed), 0);
}

#[test]
fn sleeping_goroutine_does_not_hold_its_thread() {
    // 64 goroutines sleep in a loop until released: far more than there are
    // threads. If sleeping blocked a thread, the worker below could never run
    // and the test would hang; it completes only because sleepers park.
    gort::run(|| {
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sleepers: Vec<_> = (0..64)
            .map(|_| {
                let r = release.clone();
                gort::go(move || {
                    while !r.load(Ordering::SeqCst) {
                        gort::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        let n = gort::go(|| (0..1000u64).sum::<u64>()).join().unwrap();
        assert_eq!(n, 499_500);
        assert!(sleepers.iter().all(|h| !h.is_finished()));
        release.store(true, Ordering::SeqCst);
        for h in sleepers {
            h.join().unwrap();
        }
    });
}
