//! `gort::run` from a plain thread, interleaved with plain (std and C)
//! threads that call back into the runtime and exit, taking their extra M's
//! P with them to the pool: each `run` must still find an M to run its
//! goroutine. (A hang once seen in `gort-bench qsort`: the main thread in
//! `run`'s join, every P idle, the only worker M asleep.)
//!
//! Alone in this binary, so nothing else keeps the scheduler awake.

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ROUNDS: u64 = 2000;

#[test]
fn run_between_threads_that_call_back_and_exit() {
    let _w = Watchdog::new(
        "run_between_threads_that_call_back_and_exit",
        Duration::from_secs(120),
    );
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let cb = Callback::<I32Fn>::new(|x| {
        CALLS.fetch_add(1, Ordering::Relaxed);
        x + 1
    })
    .unwrap();
    let f = cb.as_fn();
    let mut want = 0;
    for round in 0..ROUNDS {
        // A plain thread calls back a few times (keeping its P between
        // calls, as a thread calling in a loop does) and exits at once.
        let calls = 1 + (round % 64) as i32;
        std::thread::spawn(move || {
            for i in 0..calls {
                assert_eq!(f(i), i + 1);
            }
        })
        .join()
        .unwrap();
        want += calls as u64;
        // Sometimes with a pause, so sysmon goes idle or retakes the P first.
        if round % 7 == 0 {
            std::thread::sleep(Duration::from_micros(50 + (round % 5) * 20));
        }
        assert_eq!(gort::run(move || round * 2), round * 2);
        if round % 3 == 0 {
            // And a goroutine that spawns and parks.
            let n = gort::run(move || {
                let h = gort::go(move || round + 1);
                h.join().unwrap()
            });
            assert_eq!(n, round + 1);
        }
    }
    assert_eq!(CALLS.load(Ordering::Relaxed), want);
}
