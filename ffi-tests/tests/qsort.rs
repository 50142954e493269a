//! `libc::qsort` with a `gort::ffi::Callback` comparator whose closure captures
//! state (a call counter, the sort direction): inside a goroutine, on plain
//! threads, and from 8 goroutines at once, each with its own array and its own
//! callback, yielding from inside the comparator now and then (the goroutine
//! switches with qsort's C frames on its stack).

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

type Cmp = extern "C" fn(*const c_void, *const c_void) -> i32;

struct Outcome {
    calls: u64,
    outside_goroutine: u64,
}

/// Sorts `data` with qsort and a capturing comparator; `yield_every` > 0 makes
/// the comparator call `gort::yield_now()` every that many comparisons.
fn qsort_u64(data: &mut [u64], descending: bool, yield_every: u64) -> Outcome {
    let calls = Arc::new(AtomicU64::new(0));
    let outside = Arc::new(AtomicU64::new(0));
    let (c2, o2) = (calls.clone(), outside.clone());
    let cb = Callback::<Cmp>::new(move |a, b| {
        let n = c2.fetch_add(1, Ordering::Relaxed) + 1;
        if n % 4096 == 1 && gort::current_id().is_none() {
            o2.fetch_add(1, Ordering::Relaxed);
        }
        if yield_every > 0 && n % yield_every == 0 {
            gort::yield_now();
        }
        // SAFETY: qsort passes pointers to two elements of the u64 array.
        let (a, b) = unsafe { (*(a as *const u64), *(b as *const u64)) };
        let ord = if descending { b.cmp(&a) } else { a.cmp(&b) };
        ord as i32
    })
    .expect("Callback::new");
    let cmp: unsafe extern "C" fn(*const c_void, *const c_void) -> i32 = cb.as_fn();
    // SAFETY: a valid array of u64 and a comparator for u64.
    unsafe {
        libc::qsort(
            data.as_mut_ptr() as *mut c_void,
            data.len(),
            std::mem::size_of::<u64>(),
            Some(cmp),
        )
    };
    Outcome {
        calls: calls.load(Ordering::Relaxed),
        outside_goroutine: outside.load(Ordering::Relaxed),
    }
}

fn sort_and_check(seed: u64, n: usize, descending: bool, yield_every: u64) {
    let mut data = pseudo_random(seed, n);
    // Some duplicates too.
    for i in (0..n).step_by(97) {
        data[i] = data[i / 2];
    }
    let mut want = data.clone();
    want.sort_unstable();
    if descending {
        want.reverse();
    }
    let out = qsort_u64(&mut data, descending, yield_every);
    assert!(
        data == want,
        "seed {seed}: not sorted (descending: {descending})"
    );
    assert!(
        out.calls >= n as u64 - 1,
        "seed {seed}: only {} comparisons for {n} elements",
        out.calls
    );
    assert_eq!(
        out.outside_goroutine, 0,
        "comparator ran outside a goroutine"
    );
}

#[test]
fn qsort_inside_a_goroutine() {
    let _w = Watchdog::new("qsort_inside_a_goroutine", TEST_LIMIT);
    gort::run(|| {
        sort_and_check(1, 100_000, true, 0);
        sort_and_check(2, 100_000, false, 0);
    });
}

#[test]
fn qsort_on_plain_threads() {
    let _w = Watchdog::new("qsort_on_plain_threads", TEST_LIMIT);
    sort_and_check(3, 100_000, false, 0);
    std::thread::spawn(|| sort_and_check(4, 100_000, true, 0))
        .join()
        .unwrap();
}

#[test]
fn qsort_on_a_c_thread() {
    let _w = Watchdog::new("qsort_on_a_c_thread", TEST_LIMIT);
    on_c_thread(|| sort_and_check(5, 100_000, true, 1000));
}

#[test]
fn qsort_from_eight_goroutines_at_once() {
    let _w = Watchdog::new("qsort_from_eight_goroutines_at_once", TEST_LIMIT);
    gort::run(|| {
        let hs: Vec<_> = (0..8u64)
            .map(|g| gort::go(move || sort_and_check(100 + g, 100_000, g % 2 == 0, 5000)))
            .collect();
        for h in hs {
            h.join().expect("sorting goroutine");
        }
    });
}

/// Small arrays many times (callback set-up and tear-down on every sort).
#[test]
fn qsort_many_small_sorts() {
    let _w = Watchdog::new("qsort_many_small_sorts", TEST_LIMIT);
    gort::run(|| {
        let hs: Vec<_> = (0..4u64)
            .map(|g| {
                gort::go(move || {
                    for i in 0..500 {
                        sort_and_check(g * 1000 + i, 1 + (i as usize % 50), i % 2 == 0, 7);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}
