//! Where callbacks come from: threads C created (pthreads; `CreateThread` on
//! Windows), plain std threads, goroutines that
//! called C (directly or inside `gort::blocking`), and C → callback → C →
//! callback nesting. Whatever the caller, the closure is goroutine code
//! (`current_id()` is `Some`) that may block on channels, sleep, spawn and join,
//! and lock a `gort::sync::Mutex`; called from a goroutine through C it runs on
//! that goroutine (same id).

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const RECV_LIMIT: Duration = Duration::from_secs(20);

/// 4 C threads × 100 calls; each call blocks in `recv` on a channel that a
/// goroutine feeds with 1..=400, and returns the value: the sum is 80200.
fn pthreads_receive_from_goroutine() -> (i64, u64, usize) {
    let (tx, rx) = gort::chan::<i32>(0);
    let feeder = gort::go(move || {
        for v in 1..=400 {
            tx.send(v).expect("receiver alive");
        }
    });
    let not_goroutine = Arc::new(AtomicU64::new(0));
    let ng = not_goroutine.clone();
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let ids2 = ids.clone();
    let cb = Callback::<extern "C" fn(i32, i32) -> i32>::new(move |_thread, _i| {
        match gort::current_id() {
            Some(id) => {
                ids2.lock().unwrap().insert(id.as_u64());
            }
            None => {
                ng.fetch_add(1, Ordering::SeqCst);
            }
        }
        rx.recv_timeout(RECV_LIMIT).unwrap_or(-1_000_000)
    })
    .unwrap();
    let mut sum = 0i64;
    // SAFETY: matches the C prototype; `sum` outlives the call.
    let rc = unsafe { call_n_times_in_pthreads(4, 100, cb.as_fn(), &mut sum) };
    assert_eq!(rc, 0, "thread creation error {rc}");
    feeder.join().expect("feeder goroutine");
    let distinct = ids.lock().unwrap().len();
    (sum, not_goroutine.load(Ordering::SeqCst), distinct)
}

#[test]
fn c_threads_block_on_a_channel_fed_by_a_goroutine() {
    let _w = Watchdog::new(
        "c_threads_block_on_a_channel_fed_by_a_goroutine",
        TEST_LIMIT,
    );
    let (sum, not_goroutine, _) = pthreads_receive_from_goroutine();
    assert_eq!(not_goroutine, 0, "closure ran outside a goroutine");
    assert_eq!(sum, 400 * 401 / 2);
}

#[test]
fn c_threads_started_from_a_goroutine_in_blocking() {
    let _w = Watchdog::new("c_threads_started_from_a_goroutine_in_blocking", TEST_LIMIT);
    let (sum, not_goroutine, _) = gort::run(|| gort::blocking(pthreads_receive_from_goroutine));
    assert_eq!(not_goroutine, 0, "closure ran outside a goroutine");
    assert_eq!(sum, 400 * 401 / 2);
}

/// The closure sleeps, spawns and joins a goroutine, and takes a contended
/// `gort::sync::Mutex` (holding it across a sleep), from 4 C threads × 25 calls.
#[test]
fn closure_sleeps_spawns_and_locks_a_gort_mutex() {
    let _w = Watchdog::new("closure_sleeps_spawns_and_locks_a_gort_mutex", TEST_LIMIT);
    let counter = Arc::new(gort::sync::Mutex::new(0u64));
    let bad = Arc::new(AtomicU64::new(0));
    let (c2, b2) = (counter.clone(), bad.clone());
    let cb = Callback::<extern "C" fn(i32, i32) -> i32>::new(move |thread, i| {
        if gort::current_id().is_none() {
            b2.fetch_add(1, Ordering::SeqCst);
        }
        gort::sleep(Duration::from_micros(200));
        let h = gort::go(move || {
            gort::yield_now();
            thread * 1000 + i
        });
        let v = h.join().expect("spawned goroutine");
        {
            let mut g = c2.lock();
            let before = *g;
            gort::sleep(Duration::from_micros(100)); // park while holding it
            *g = before + 1;
        }
        v
    })
    .unwrap();
    let mut sum = 0i64;
    // SAFETY: matches the C prototype.
    let rc = unsafe { call_n_times_in_pthreads(4, 25, cb.as_fn(), &mut sum) };
    assert_eq!(rc, 0);
    let want: i64 = (0..4)
        .flat_map(|t| (0..25).map(move |i| t * 1000 + i))
        .sum();
    assert_eq!(sum, want);
    assert_eq!(*counter.lock(), 100, "lost updates under the gort Mutex");
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "closure ran outside a goroutine"
    );

    // The same closure from goroutines competing for the mutex with the C threads.
    let f = cb.as_fn();
    let hs: Vec<_> = (0..8)
        .map(|t| gort::go(move || (0..5).map(|i| f(t, i) as i64).sum::<i64>()))
        .collect();
    let mut sum2 = 0i64;
    // SAFETY: as above.
    let rc = unsafe { call_n_times_in_pthreads(2, 10, f, &mut sum2) };
    assert_eq!(rc, 0);
    let got: i64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let want: i64 = (0..8).flat_map(|t| (0..5).map(move |i| t * 1000 + i)).sum();
    assert_eq!(got, want);
    assert_eq!(*counter.lock(), 100 + 40 + 20);
}

/// Goroutines inside `gort::blocking` call C that calls back; the closure parks
/// (channel, sleep, join). Many at once, so they compete for processors.
#[test]
fn from_blocking_inside_goroutines() {
    let _w = Watchdog::new("from_blocking_inside_goroutines", TEST_LIMIT);
    let seen_none = Arc::new(AtomicUsize::new(0));
    let n2 = seen_none.clone();
    // The closure reports its goroutine id (low 32 bits) and the value it got.
    let cb = Callback::<extern "C" fn(u64) -> u64>::new(move |x| {
        let id = gort::current_id();
        if id.is_none() {
            n2.fetch_add(1, Ordering::SeqCst);
        }
        let (tx, rx) = gort::chan::<u64>(0);
        let h = gort::go(move || {
            gort::sleep(Duration::from_micros(300));
            tx.send(x * 2).unwrap();
        });
        let v = rx.recv_timeout(RECV_LIMIT).unwrap_or(0);
        h.join().unwrap();
        gort::sleep(Duration::from_micros(100));
        (v << 32) | id.map_or(0, |i| i.as_u64() & 0xFFFF_FFFF)
    })
    .unwrap();
    let f = cb.as_fn();
    let results = gort::run(move || {
        let hs: Vec<_> = (1..=32u64)
            .map(|x| {
                gort::go(move || {
                    let me = gort::current_id().unwrap().as_u64() & 0xFFFF_FFFF;
                    // SAFETY: matches the C prototype.
                    let r = gort::blocking(|| unsafe { call_id_u64(f, x) });
                    (x, r >> 32, r & 0xFFFF_FFFF, me)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(
        seen_none.load(Ordering::SeqCst),
        0,
        "closure ran outside a goroutine"
    );
    let mut same = 0;
    for (x, v, id, me) in results {
        assert_eq!(v, x * 2, "value through the channel for caller {x}");
        assert_ne!(id, 0, "no goroutine id inside the closure");
        if id == me {
            same += 1;
        }
    }
    // Not required by the contract for `blocking`; reported for information.
    println!("from_blocking_inside_goroutines: {same}/32 callbacks ran on the calling goroutine");
}

/// C → callback → C → ... 10 levels (11 callback frames); at every level the
/// closure spawns and joins a goroutine and yields, and logs (depth, goroutine
/// id) into `me_out`. Returns the outermost `nest`'s result (1011 if right).
fn nest_ten(me_out: &Arc<Mutex<Vec<(i32, u64)>>>) -> i32 {
    let slot: Arc<OnceLock<extern "C" fn(i32) -> i32>> = Arc::new(OnceLock::new());
    let me = slot.clone();
    let log = me_out.clone();
    let cb = Callback::<extern "C" fn(i32) -> i32>::new(move |d| {
        let id = gort::current_id().map_or(0, |i| i.as_u64());
        log.lock().unwrap().push((d, id));
        let h = gort::go(move || d * 2);
        if h.join().unwrap() != d * 2 {
            return -5_000_000;
        }
        gort::yield_now();
        if d == 0 {
            1000
        } else {
            // SAFETY: `me` is this callback's own pointer, alive during the call.
            unsafe { nest(d - 1, *me.get().unwrap()) }
        }
    })
    .unwrap();
    slot.set(cb.as_fn()).unwrap();
    // SAFETY: as above.
    let r = unsafe { nest(10, cb.as_fn()) };
    drop(cb);
    r
}

fn check_nest(r: i32, log: &[(i32, u64)], caller: Option<u64>, what: &str) {
    assert_eq!(
        r, 1011,
        "{what}: result (-1000000: a C frame was corrupted)"
    );
    let depths: Vec<i32> = log.iter().map(|&(d, _)| d).collect();
    assert_eq!(depths, (0..=10).rev().collect::<Vec<_>>(), "{what}: levels");
    let ids: HashSet<u64> = log.iter().map(|&(_, id)| id).collect();
    assert!(
        !ids.contains(&0),
        "{what}: a level ran outside a goroutine: {log:?}"
    );
    assert_eq!(
        ids.len(),
        1,
        "{what}: nested levels ran on different goroutines: {log:?}"
    );
    if let Some(c) = caller {
        assert!(
            ids.contains(&c),
            "{what}: ran on {ids:?}, not the calling goroutine {c}"
        );
    }
}

#[test]
fn nesting_ten_deep_from_a_goroutine() {
    let _w = Watchdog::new("nesting_ten_deep_from_a_goroutine", TEST_LIMIT);
    let (r, log, caller) = gort::run(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let r = nest_ten(&log);
        let log = log.lock().unwrap().clone();
        (r, log, gort::current_id().unwrap().as_u64())
    });
    check_nest(r, &log, Some(caller), "from a goroutine");
}

#[test]
fn nesting_ten_deep_from_a_c_thread() {
    let _w = Watchdog::new("nesting_ten_deep_from_a_c_thread", TEST_LIMIT);
    let log = Arc::new(Mutex::new(Vec::new()));
    let r = on_c_thread(|| nest_ten(&log));
    check_nest(r, &log.lock().unwrap(), None, "from a C thread");
}

#[test]
fn nesting_ten_deep_from_a_plain_thread() {
    let _w = Watchdog::new("nesting_ten_deep_from_a_plain_thread", TEST_LIMIT);
    let log = Arc::new(Mutex::new(Vec::new()));
    let r = std::thread::spawn({
        let log = log.clone();
        move || nest_ten(&log)
    })
    .join()
    .unwrap();
    check_nest(r, &log.lock().unwrap(), None, "from a plain thread");
}

/// Many goroutines nesting at once.
#[test]
fn nesting_from_many_goroutines_at_once() {
    let _w = Watchdog::new("nesting_from_many_goroutines_at_once", TEST_LIMIT);
    let outcomes = gort::run(|| {
        let hs: Vec<_> = (0..16)
            .map(|_| {
                gort::go(|| {
                    let log = Arc::new(Mutex::new(Vec::new()));
                    let r = nest_ten(&log);
                    let log = log.lock().unwrap().clone();
                    (r, log, gort::current_id().unwrap().as_u64())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (n, (r, log, caller)) in outcomes.into_iter().enumerate() {
        check_nest(r, &log, Some(caller), &format!("goroutine {n}"));
    }
}

/// `current_id()` inside the closure: `Some`, and the caller's id when a
/// goroutine calls (through C or directly through the pointer); `Some` from a
/// plain thread and a C thread, which are not goroutines before or after.
#[test]
fn current_id_inside_the_closure() {
    let _w = Watchdog::new("current_id_inside_the_closure", TEST_LIMIT);
    let cb = Callback::<extern "C" fn(i32) -> u64>::new(|_| {
        gort::current_id().map_or(0, |i| i.as_u64())
    })
    .unwrap();
    let f = cb.as_fn();
    // The same closure in the shape of a C helper (`call_id_u64`).
    let via_c = Callback::<extern "C" fn(u64) -> u64>::new(|_| {
        gort::current_id().map_or(0, |i| i.as_u64())
    })
    .unwrap();
    let g = via_c.as_fn();

    // Goroutines, many at once.
    let rows = gort::run(move || {
        let hs: Vec<_> = (0..100)
            .map(|_| {
                gort::go(move || {
                    let me = gort::current_id().unwrap().as_u64();
                    let direct = f(0);
                    gort::yield_now();
                    // SAFETY: matches the C prototype.
                    let through_c = unsafe { call_id_u64(g, 0) };
                    let after = gort::current_id().unwrap().as_u64();
                    (me, direct, through_c, after)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (me, direct, through_c, after) in rows {
        assert_eq!(direct, me, "called directly from goroutine {me}");
        assert_eq!(through_c, me, "called through C from goroutine {me}");
        assert_eq!(after, me, "goroutine {me} changed id across the call");
    }

    // A plain std thread: a goroutine inside the callback only.
    let (before, inside, inside_c, after) = std::thread::spawn(move || {
        let before = gort::current_id();
        let inside = f(0);
        // SAFETY: as above.
        let inside_c = unsafe { call_id_u64(g, 0) };
        (before, inside, inside_c, gort::current_id())
    })
    .join()
    .unwrap();
    assert!(
        before.is_none() && after.is_none(),
        "plain thread became a goroutine"
    );
    assert_ne!(
        inside, 0,
        "no goroutine inside the callback on a plain thread"
    );
    assert_ne!(
        inside_c, 0,
        "no goroutine inside the callback on a plain thread (via C)"
    );

    // A C thread, likewise.
    let (before, inside, inside_c, after) = on_c_thread(|| {
        let before = gort::current_id();
        let inside = f(0);
        // SAFETY: as above.
        let inside_c = unsafe { call_id_u64(g, 0) };
        (before, inside, inside_c, gort::current_id())
    });
    assert!(
        before.is_none() && after.is_none(),
        "C thread became a goroutine"
    );
    assert_ne!(inside, 0, "no goroutine inside the callback on a C thread");
    assert_ne!(
        inside_c, 0,
        "no goroutine inside the callback on a C thread (via C)"
    );

    // The test thread itself (a plain thread), repeatedly.
    for _ in 0..100 {
        assert_ne!(f(0), 0);
        assert!(gort::current_id().is_none());
    }
}

/// Many plain std threads calling at once, each closure blocking on a
/// channel round trip with a goroutine.
#[test]
fn plain_threads_at_once() {
    let _w = Watchdog::new("plain_threads_at_once", TEST_LIMIT);
    let cb = Callback::<extern "C" fn(u32) -> u32>::new(|x| {
        let (tx, rx) = gort::chan::<u32>(0);
        gort::go(move || tx.send(x + 1).unwrap());
        rx.recv_timeout(RECV_LIMIT).unwrap_or(0)
    })
    .unwrap();
    let f = cb.as_fn();
    let hs: Vec<_> = (0..8u32)
        .map(|t| {
            std::thread::spawn(move || (0..200u32).map(|i| f(t * 1000 + i) as u64).sum::<u64>())
        })
        .collect();
    for (t, h) in hs.into_iter().enumerate() {
        let want: u64 = (0..200u64).map(|i| t as u64 * 1000 + i + 1).sum();
        assert_eq!(h.join().unwrap(), want, "thread {t}");
    }
}
