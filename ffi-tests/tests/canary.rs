//! The callback entry preserves the System V callee-saved state of its caller:
//! `canary_call` (c/canary.S) loads canaries into RBX RBP R12–R15, MXCSR and the
//! x87 control word, calls the callback pointer, and returns a mask of what
//! changed (and whether DF came back set). The closures switch goroutines in
//! every way (spawn + join, park on a channel, yield, sleep) so that the
//! runtime's own switches happen between entry and return. Called from a plain
//! std thread, from goroutines, from a C thread, and inside `gort::blocking`.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A callback whose closure switches goroutines a lot; counts its runs and
/// the runs that were not goroutine code.
fn busy_callback() -> (Callback<extern "C" fn()>, Arc<AtomicU64>, Arc<AtomicU64>) {
    let runs = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let (r2, b2) = (runs.clone(), bad.clone());
    let cb = Callback::<extern "C" fn()>::new(move || {
        if gort::current_id().is_none() {
            b2.fetch_add(1, Ordering::SeqCst);
        }
        let h = gort::go(|| {
            gort::yield_now();
            7u32
        });
        if h.join().ok() != Some(7) {
            b2.fetch_add(1, Ordering::SeqCst);
        }
        let (tx, rx) = gort::chan::<u32>(0);
        let sender = gort::go(move || {
            gort::sleep(Duration::from_micros(500));
            tx.send(11).unwrap();
        });
        if rx.recv_timeout(Duration::from_secs(20)) != Ok(11) {
            b2.fetch_add(1, Ordering::SeqCst);
        }
        sender.join().unwrap();
        gort::yield_now();
        gort::sleep(Duration::from_millis(1));
        r2.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    (cb, runs, bad)
}

#[track_caller]
fn assert_mask(mask: u64, what: &str) {
    assert_eq!(
        mask,
        0,
        "{what}: callback did not preserve {:?} (mask {mask:#x})",
        canary_mask_names(mask)
    );
}

extern "C" fn nothing() {}

#[test]
fn canary_caller_itself_is_sound() {
    // SAFETY: a valid function pointer.
    assert_mask(unsafe { canary_call(nothing) }, "plain Rust function");
}

#[test]
fn switching_callback_from_a_plain_thread() {
    let _w = Watchdog::new("switching_callback_from_a_plain_thread", TEST_LIMIT);
    let (cb, runs, bad) = busy_callback();
    let f = cb.as_fn();
    for i in 0..10 {
        // SAFETY: a valid function pointer.
        assert_mask(unsafe { canary_call(f) }, &format!("test thread, call {i}"));
    }
    let masks: Vec<u64> = std::thread::spawn(move || {
        // SAFETY: as above.
        (0..10).map(|_| unsafe { canary_call(f) }).collect()
    })
    .join()
    .unwrap();
    for (i, m) in masks.into_iter().enumerate() {
        assert_mask(m, &format!("spawned std thread, call {i}"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 20);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "closure misbehaved (no goroutine / lost value)"
    );
}

#[test]
fn switching_callback_from_goroutines() {
    let _w = Watchdog::new("switching_callback_from_goroutines", TEST_LIMIT);
    let (cb, runs, bad) = busy_callback();
    let f = cb.as_fn();
    let masks = gort::run(move || {
        // SAFETY: a valid function pointer.
        let first = unsafe { canary_call(f) };
        // Many goroutines at once, so that some are switched around meanwhile.
        let hs: Vec<_> = (0..32)
            .map(|_| {
                gort::go(move || {
                    // SAFETY: as above.
                    (0..3)
                        .map(|_| unsafe { canary_call(f) })
                        .fold(0, |a, m| a | m)
                })
            })
            .collect();
        let mut all = vec![first];
        all.extend(hs.into_iter().map(|h| h.join().unwrap()));
        all
    });
    for (i, m) in masks.into_iter().enumerate() {
        assert_mask(m, &format!("goroutine {i}"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1 + 32 * 3);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "closure misbehaved (no goroutine / lost value)"
    );
}

#[test]
fn switching_callback_from_a_c_thread() {
    let _w = Watchdog::new("switching_callback_from_a_c_thread", TEST_LIMIT);
    let (cb, runs, bad) = busy_callback();
    let f = cb.as_fn();
    // SAFETY: a valid function pointer.
    let masks: Vec<u64> = on_c_thread(|| (0..10).map(|_| unsafe { canary_call(f) }).collect());
    for (i, m) in masks.into_iter().enumerate() {
        assert_mask(m, &format!("C thread, call {i}"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 10);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "closure misbehaved (no goroutine / lost value)"
    );
}

#[test]
fn switching_callback_inside_blocking() {
    let _w = Watchdog::new("switching_callback_inside_blocking", TEST_LIMIT);
    let (cb, runs, bad) = busy_callback();
    let f = cb.as_fn();
    let masks = gort::run(move || {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                // SAFETY: a valid function pointer.
                gort::go(move || gort::blocking(|| unsafe { canary_call(f) }))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (i, m) in masks.into_iter().enumerate() {
        assert_mask(m, &format!("goroutine {i} in blocking"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 8);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "closure misbehaved (no goroutine / lost value)"
    );
}

/// A trivial closure, hundreds of times, from each kind of caller.
#[test]
fn trivial_callback_many_times() {
    let _w = Watchdog::new("trivial_callback_many_times", TEST_LIMIT);
    let hits = Arc::new(AtomicU64::new(0));
    let h2 = hits.clone();
    let cb = Callback::<extern "C" fn()>::new(move || {
        h2.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let f = cb.as_fn();
    let run = move |n: usize| -> u64 {
        // SAFETY: a valid function pointer.
        (0..n)
            .map(|_| unsafe { canary_call(f) })
            .fold(0, |a, m| a | m)
    };
    assert_mask(run(500), "test thread");
    assert_mask(gort::run(move || run(500)), "goroutine");
    assert_mask(on_c_thread(|| run(500)), "C thread");
    assert_mask(
        std::thread::spawn(move || run(500)).join().unwrap(),
        "std thread",
    );
    assert_eq!(hits.load(Ordering::Relaxed), 2000);
}

/// The same through the frame path: a signature with six integer arguments
/// takes every general argument register, so its entry captures the
/// arguments into a frame and saves RBX RBP R12–R15 itself.
#[test]
fn switching_callback_through_the_frame_path() {
    let _w = Watchdog::new("switching_callback_through_the_frame_path", TEST_LIMIT);
    let (inner, runs, bad) = busy_callback();
    let g = inner.as_fn();
    let cb =
        Callback::<extern "C" fn(u64, u64, u64, u64, u64, u64)>::new(move |_, _, _, _, _, _| g())
            .unwrap();
    // SAFETY: `canary_call` passes whatever the argument registers hold,
    // and the closure ignores its arguments; same ABI otherwise.
    let f: extern "C" fn() = unsafe { core::mem::transmute(cb.as_fn()) };
    // SAFETY: a valid function pointer (above).
    assert_mask(unsafe { canary_call(f) }, "frame path, test thread");
    // SAFETY: as above.
    assert_mask(
        gort::run(move || unsafe { canary_call(f) }),
        "frame path, goroutine",
    );
    // SAFETY: as above.
    assert_mask(
        on_c_thread(move || unsafe { canary_call(f) }),
        "frame path, C thread",
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(bad.load(Ordering::SeqCst), 0);
}
