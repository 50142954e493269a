//! The callback table: `CAPACITY` (2048) slots shared by every signature;
//! `in_use()` counts live callbacks; when the table is full `new` returns
//! `Err(CallbackError)`; dropping a callback frees its slot (and its entry
//! stub) for the next `new`. Every slot's pointer is distinct and dispatches to
//! its own closure.
//!
//! One test, alone in this binary: it fills the whole table, which would starve
//! tests running in parallel in the same process.

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::{self, CAPACITY, Callback, CallbackError};
use gort_ffi_tests::*;
use std::collections::HashSet;
use std::time::Duration;

type F = extern "C" fn(i32) -> i32;

fn numbered(i: usize) -> Result<Callback<F>, CallbackError> {
    let k = i as i32 * 10_000;
    Callback::<F>::new(move |x| k + x)
}

fn assert_error_traits<
    E: std::error::Error + std::fmt::Debug + std::fmt::Display + PartialEq + Eq,
>(
    _: &E,
) {
}

#[test]
fn table_exhaustion_and_reuse() {
    let _w = Watchdog::new("table_exhaustion_and_reuse", Duration::from_secs(120));
    assert_eq!(CAPACITY, 2048);
    assert_eq!(ffi::capacity(), CAPACITY);

    // new/drop move in_use by one.
    let base = ffi::in_use();
    assert!(
        base < CAPACITY,
        "table already full before the test: {base}"
    );
    let one = numbered(0).unwrap();
    assert_eq!(ffi::in_use(), base + 1);
    drop(one);
    assert_eq!(ffi::in_use(), base);

    // Fill the table.
    let free = CAPACITY - ffi::in_use();
    let mut cbs: Vec<Callback<F>> = (0..free)
        .map(|i| numbered(i).unwrap_or_else(|e| panic!("callback {i} of {free} free slots: {e}")))
        .collect();
    assert_eq!(ffi::in_use(), CAPACITY);

    // Full: every signature fails, from any kind of thread.
    let err = match numbered(free) {
        Ok(_) => panic!(
            "new succeeded with the table full (in_use {})",
            ffi::in_use()
        ),
        Err(e) => e,
    };
    assert_error_traits(&err);
    let shown = err.to_string();
    assert!(!shown.is_empty(), "empty Display for CallbackError");
    assert!(!format!("{err:?}").is_empty());
    let Err(again) = numbered(free) else {
        panic!("new succeeded with the table still full");
    };
    assert_eq!(
        err, again,
        "the table-full error differs between two attempts"
    );
    assert!(Callback::<extern "C" fn()>::new(|| {}).is_err());
    assert!(Callback::<extern "system" fn(f64) -> f64>::new(|x| x).is_err());
    assert!(
        gort::run(|| Callback::<extern "C" fn() -> u8>::new(|| 1).is_err()),
        "in a goroutine"
    );
    assert!(
        on_c_thread(|| Callback::<extern "C" fn() -> u8>::new(|| 1).is_err()),
        "on a C thread"
    );
    assert_eq!(ffi::in_use(), CAPACITY, "failed attempts changed in_use");
    println!("table full: {shown}");

    // Every pointer distinct, each calling its own closure (from Rust and C).
    let fns: Vec<F> = cbs.iter().map(|c| c.as_fn()).collect();
    let distinct: HashSet<usize> = fns.iter().map(|&f| f as usize).collect();
    assert_eq!(distinct.len(), free, "callbacks share entry stubs");
    for (i, f) in fns.iter().enumerate() {
        assert_eq!(
            f(i as i32 % 7),
            i as i32 * 10_000 + i as i32 % 7,
            "slot {i} from Rust"
        );
        // SAFETY: matches the C prototype.
        assert_eq!(
            unsafe { call_id_i32(*f, 3) },
            i as i32 * 10_000 + 3,
            "slot {i} from C"
        );
    }

    // Drop one: its slot (the only free one) is reused, with the same stub.
    let k = free / 2;
    let dropped_fn = fns[k] as usize;
    drop(cbs.remove(k));
    assert_eq!(ffi::in_use(), CAPACITY - 1);
    let reused = Callback::<F>::new(|x| -x).expect("new after a drop");
    assert_eq!(ffi::in_use(), CAPACITY);
    assert_eq!(
        reused.as_fn() as usize,
        dropped_fn,
        "the freed slot's entry stub was not reused"
    );
    assert_eq!(
        reused.as_fn()(5),
        -5,
        "the reused slot calls the new closure"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { call_id_i32(reused.as_fn(), 6) }, -6);
    assert!(numbered(0).is_err(), "full again");
    // The others are untouched.
    for (j, cb) in cbs.iter().enumerate() {
        let i = if j < k { j } else { j + 1 };
        assert_eq!(cb.as_fn()(1), i as i32 * 10_000 + 1, "slot {i} after reuse");
    }

    // Free a few, refill them with another signature.
    let freed: Vec<_> = cbs.drain(..10).collect();
    drop(freed);
    assert_eq!(ffi::in_use(), CAPACITY - 10);
    let other: Vec<_> = (0..10)
        .map(|i| Callback::<extern "C" fn(f64) -> f64>::new(move |x| x + i as f64).unwrap())
        .collect();
    assert!(numbered(0).is_err());
    for (i, cb) in other.iter().enumerate() {
        assert_eq!(cb.as_fn()(0.5), 0.5 + i as f64);
    }

    // Empty it again.
    drop(other);
    drop(reused);
    drop(cbs);
    assert_eq!(ffi::in_use(), base, "slots leaked");

    // Fill and empty from 4 threads at once (plain, C, goroutines): exactly the
    // free slots are taken, none twice.
    let free = CAPACITY - ffi::in_use();
    let quarter = free / 4;
    let shares = [quarter, quarter, quarter, free - 3 * quarter];
    let mk = |n: usize| -> Vec<Callback<F>> {
        (0..n)
            .map(|i| numbered(i).unwrap_or_else(|e| panic!("concurrent fill: {e} at {i}/{n}")))
            .collect()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| mk(shares[0]));
        let b = s.spawn(|| on_c_thread(|| mk(shares[1])));
        (a.join().unwrap(), b.join().unwrap())
    });
    let n2 = shares[2];
    let n3 = shares[3];
    let (c, d) = gort::run(move || {
        let c = gort::go(move || {
            (0..n2)
                .map(|i| numbered(i).unwrap_or_else(|e| panic!("goroutine fill: {e} at {i}")))
                .collect::<Vec<_>>()
        });
        let d = gort::go(move || {
            (0..n3)
                .map(|i| numbered(i).unwrap_or_else(|e| panic!("goroutine fill: {e} at {i}")))
                .collect::<Vec<_>>()
        });
        (c.join().unwrap(), d.join().unwrap())
    });
    assert_eq!(ffi::in_use(), CAPACITY);
    let all: HashSet<usize> = [&a, &b, &c, &d]
        .iter()
        .flat_map(|v| v.iter().map(|cb| cb.as_fn() as usize))
        .collect();
    assert_eq!(all.len(), free, "two live callbacks share a slot");
    assert!(numbered(0).is_err());
    std::thread::scope(|s| {
        s.spawn(move || drop(a));
        s.spawn(move || drop(b));
        s.spawn(move || gort::run(move || drop(c)));
        s.spawn(move || on_c_thread(move || drop(d)));
    });
    assert_eq!(ffi::in_use(), base, "slots leaked after concurrent drops");
    let last = numbered(1).expect("new after emptying");
    assert_eq!(last.as_fn()(2), 10_002);
}
