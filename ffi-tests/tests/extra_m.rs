//! Threads created by C: the runtime binds an "extra M" to such a thread on its
//! first callback, keeps it for the thread's life, releases it at thread exit
//! and reuses it for later threads. After 1000 short-lived C threads that each
//! call once, the process's thread count, `gort::ffi::in_use()` and
//! `gort::num_goroutines()` are back at their baselines.
//!
//! One test, alone in this binary, so that nothing else moves the counts.
//! The count is the kernel's (`/proc/self/status`) on Linux and a Toolhelp
//! snapshot on Windows, where the C threads are `CreateThread`'s and a
//! released M must likewise leave no thread behind.
//!
//! Threads the runtime itself starts to run goroutines (`debug::stats().threads`)
//! are kept idle once started, as Go keeps its Ms, and how many a run needs
//! depends on timing (a callback that parks hands its P to another M). So the
//! threads compared with the baseline are the others, the ones no M of the
//! runtime's own accounts for; the runtime's Ms are only required to stay
//! bounded (no M per C thread).

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Threads in the process that are not Ms the runtime started: the C threads
/// still alive, the test's own, sysmon. Read so that no M started or exited
/// between the two counts.
fn foreign_threads() -> usize {
    loop {
        let before = gort::debug::stats().threads;
        let all = thread_count();
        if gort::debug::stats().threads == before {
            return all - before;
        }
    }
}

/// The runtime's Ms may exceed the processors by the callbacks that park at
/// once (each keeps its M, locked, and hands its P on) and a few spinning or
/// idle Ms; one M per C thread would be far past this.
fn runtime_ms_bound(concurrent_callers: usize) -> usize {
    gort::procs() + concurrent_callers + 4
}

#[test]
fn a_thousand_short_lived_c_threads() {
    let _w = Watchdog::new("a_thousand_short_lived_c_threads", Duration::from_secs(120));
    let calls = Arc::new(AtomicU64::new(0));
    let outside = Arc::new(AtomicU64::new(0));
    let wrong_arg = Arc::new(AtomicU64::new(0));
    let (c2, o2, w2) = (calls.clone(), outside.clone(), wrong_arg.clone());
    let cb = Callback::<extern "C" fn(i32)>::new(move |i| {
        if gort::current_id().is_none() {
            o2.fetch_add(1, Ordering::SeqCst);
        }
        gort::yield_now();
        if i % 50 == 0 {
            // Now and then park and spawn, so goroutines come and go.
            gort::sleep(Duration::from_micros(100));
            let h = gort::go(move || i + 1);
            if h.join().ok() != Some(i + 1) {
                w2.fetch_add(1, Ordering::SeqCst);
            }
        }
        if !(0..1000).contains(&i) {
            w2.fetch_add(1, Ordering::SeqCst);
        }
        c2.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let f = cb.as_fn();

    // Warm up: the runtime's own threads, one round of C threads.
    gort::run(|| {
        gort::go(|| gort::sleep(Duration::from_millis(1)))
            .join()
            .unwrap()
    });
    // SAFETY: matches the C prototype.
    assert_eq!(unsafe { spawn_short_threads(20, 4, f) }, 0);
    std::thread::sleep(Duration::from_millis(200));

    let base_threads = foreign_threads();
    let base_in_use = gort::ffi::in_use();
    let base_goroutines = gort::num_goroutines();
    calls.store(0, Ordering::SeqCst);

    // Sample the thread count meanwhile (for the report; the peak is not part
    // of the contract).
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = std::thread::spawn({
        let (stop, peak) = (stop.clone(), peak.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(foreign_threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });

    // 1000 threads, 4 alive at a time; then 200 more one at a time.
    // SAFETY: as above.
    assert_eq!(unsafe { spawn_short_threads(1000, 4, f) }, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1000);
    // SAFETY: as above.
    assert_eq!(unsafe { spawn_short_threads(200, 1, f) }, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1200);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let base_threads_sampled = base_threads + 1; // the sampler itself was running

    assert_eq!(
        outside.load(Ordering::SeqCst),
        0,
        "closure ran outside a goroutine"
    );
    assert_eq!(
        wrong_arg.load(Ordering::SeqCst),
        0,
        "wrong argument or join result"
    );

    let settled = wait_until(Duration::from_secs(10), || {
        foreign_threads() <= base_threads
    });
    let now = foreign_threads();
    let ms = gort::debug::stats().threads;
    println!(
        "threads not the runtime's Ms: baseline {base_threads}, peak {} (sampler included, baseline then {base_threads_sampled}), after {now}; the runtime's Ms: {ms}",
        peak.load(Ordering::Relaxed)
    );
    assert!(
        settled,
        "threads did not return to baseline: {now} > {base_threads}"
    );
    assert!(
        ms <= runtime_ms_bound(4),
        "the runtime started {ms} Ms for 4 concurrent C threads on {} processors",
        gort::procs()
    );
    assert_eq!(gort::ffi::in_use(), base_in_use, "callback slots leaked");
    let goroutines_back = wait_until(Duration::from_secs(10), || {
        gort::num_goroutines() == base_goroutines
    });
    assert!(
        goroutines_back,
        "num_goroutines {} != baseline {base_goroutines}",
        gort::num_goroutines()
    );

    // The released Ms are reusable: another round works and still settles.
    // SAFETY: as above.
    assert_eq!(unsafe { spawn_short_threads(100, 8, f) }, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1300);
    assert!(
        wait_until(Duration::from_secs(10), || foreign_threads()
            <= base_threads),
        "threads after the last round: {} > {base_threads}",
        foreign_threads()
    );
    let ms = gort::debug::stats().threads;
    assert!(
        ms <= runtime_ms_bound(8),
        "the runtime started {ms} Ms for 8 concurrent C threads on {} processors",
        gort::procs()
    );
    drop(cb);
    assert_eq!(gort::ffi::in_use(), base_in_use - 1);
}
