//! A goroutine that C called back into stays on C's thread until it returns
//! to C: the C frames below it, their thread-local state and the locks they
//! hold belong to that thread. Checked under pressure (yields and parks
//! inside callbacks, spinners forcing preemption, a short time slice), for
//! callbacks on goroutines, nested callbacks and callbacks on a plain
//! thread's extra M, in child processes with `GORT_PROCS` set.

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Cmp = extern "C" fn(*const c_void, *const c_void) -> i32;

static WRONG: AtomicU64 = AtomicU64::new(0);
/// Per variant: goroutine, nested (outer, inner), plain thread.
static WRONG_BY: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static CMPS: AtomicU64 = AtomicU64::new(0);

fn stdout_value(out: &std::process::Output, key: &str) -> Option<u64> {
    let s = String::from_utf8_lossy(&out.stdout);
    let pat = format!("{key}=");
    let i = s.find(&pat)? + pat.len();
    s[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Checks that the calling thread is `caller`'s, the thread that called
/// qsort: the first comparison of each sort records it (`caller` is 0 when
/// a sort starts; the goroutine may move between sorts, in Rust code).
fn check_thread(caller: &AtomicU64, variant: usize) {
    let t = os_tid();
    if let Err(c) = caller.compare_exchange(0, t, Ordering::Relaxed, Ordering::Relaxed)
        && c != t
    {
        WRONG.fetch_add(1, Ordering::Relaxed);
        WRONG_BY[variant].fetch_add(1, Ordering::Relaxed);
    }
}

/// A comparator of `u64`s that counts a wrong thread (see `check_thread`)
/// and yields every `yield_every`th call.
fn checking_cmp(caller: Arc<AtomicU64>, yield_every: u64, variant: usize) -> Callback<Cmp> {
    Callback::<Cmp>::new(move |a, b| {
        let n = CMPS.fetch_add(1, Ordering::Relaxed);
        check_thread(&caller, variant);
        if n.is_multiple_of(yield_every) {
            gort::yield_now();
        }
        check_thread(&caller, variant);
        // SAFETY: qsort passes pointers to two elements of a u64 array.
        unsafe { (*(a as *const u64)).cmp(&*(b as *const u64)) as i32 }
    })
    .expect("Callback::new")
}

/// Sorts 2000 values with `cmp` until `deadline`, starting each sort's
/// thread check afresh.
fn sort_until(deadline: Instant, cmp: &Callback<Cmp>, caller: &AtomicU64, seed: u64) {
    let mut round = 0;
    while Instant::now() < deadline {
        let mut v = pseudo_random(seed + round, 2000);
        caller.store(0, Ordering::Relaxed);
        let f: unsafe extern "C" fn(*const c_void, *const c_void) -> i32 = cmp.as_fn();
        // SAFETY: a valid u64 array and a comparator for u64.
        unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, Some(f)) };
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "not sorted");
        round += 1;
    }
}

fn secs() -> u64 {
    std::env::var("CB_THREAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
fn callbacks_return_to_c_on_the_thread_c_called_them_on() {
    if child_mode().as_deref() == Some("qsort") {
        let deadline = Instant::now() + Duration::from_secs(secs());
        // Plain threads: callbacks on their extra Ms.
        let plain: Vec<_> = (0..2u64)
            .map(|k| {
                std::thread::spawn(move || {
                    let caller = Arc::new(AtomicU64::new(0));
                    let cmp = checking_cmp(caller.clone(), 500, 3);
                    sort_until(deadline, &cmp, &caller, 1000 + k);
                })
            })
            .collect();
        gort::run(move || {
            let stop = Arc::new(AtomicBool::new(false));
            // Spinners: the sorters' time slices end with others waiting.
            let spinners: Vec<_> = (0..4)
                .map(|_| {
                    let stop = stop.clone();
                    gort::go(move || {
                        let mut x = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                        }
                    })
                })
                .collect();
            let mut sorters: Vec<_> = (0..8u64)
                .map(|k| {
                    gort::go(move || {
                        let caller = Arc::new(AtomicU64::new(0));
                        let cmp = checking_cmp(caller.clone(), 500, 0);
                        sort_until(deadline, &cmp, &caller, k * 7);
                    })
                })
                .collect();
            // Nested: the comparator calls C, which calls a second callback.
            sorters.extend((0..4u64).map(|k| {
                gort::go(move || {
                    let caller = Arc::new(AtomicU64::new(0));
                    let inner = Arc::new(checking_cmp(caller.clone(), 300, 2));
                    let c2 = caller.clone();
                    let inner2 = inner.clone();
                    let outer = Callback::<Cmp>::new(move |a, b| {
                        check_thread(&c2, 1);
                        let t = os_tid();
                        // SAFETY: forwards qsort's two element pointers.
                        let r = unsafe { call_cmp(inner2.as_fn(), a, b) };
                        if os_tid() != t {
                            WRONG.fetch_add(1, Ordering::Relaxed);
                        }
                        r
                    })
                    .expect("Callback::new");
                    sort_until(deadline, &outer, &caller, 500 + k);
                    drop(inner);
                })
            }));
            for s in sorters {
                s.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            for s in spinners {
                s.join().unwrap();
            }
        });
        for p in plain {
            p.join().unwrap();
        }
        let by: Vec<u64> = WRONG_BY.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        println!(
            "wrong={} cmps={} by_variant={by:?}",
            WRONG.load(Ordering::Relaxed),
            CMPS.load(Ordering::Relaxed)
        );
        return;
    }
    let limit = Duration::from_secs(secs() + 120);
    for procs in ["2", "8"] {
        let out = run_child_env(
            "callbacks_return_to_c_on_the_thread_c_called_them_on",
            "qsort",
            &[("GORT_PROCS", procs), ("GORT_TIMESLICE_US", "20")],
            limit,
        );
        assert!(
            out.status.success(),
            "procs {procs}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout_value(&out, "wrong"),
            Some(0),
            "procs {procs}: comparisons on another thread than qsort's: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(stdout_value(&out, "cmps").unwrap_or(0) > 100_000);
    }
}

/// C holds a recursive mutex owned by the calling thread across the call
/// (`locked_call`), as SQLite holds its connection mutex across a
/// collation callback; the callback parks, yields and is preempted. If it
/// returned on another thread, that thread could not unlock the mutex (and
/// the next lock would wait forever).
#[test]
fn a_thread_owned_lock_held_across_a_callback() {
    if child_mode().as_deref() == Some("locked") {
        static BAD: AtomicU64 = AtomicU64::new(0);
        let work = |slot: i32| {
            let cb = Callback::<extern "C" fn(i64) -> i64>::new(|x| {
                gort::sleep(Duration::from_micros(50));
                gort::yield_now();
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(150) {
                    std::hint::spin_loop();
                }
                x + 1
            })
            .expect("Callback::new");
            for i in 0..20i64 {
                // SAFETY: a valid callback for the call's duration.
                let r = unsafe { locked_call(slot, cb.as_fn(), i) };
                if r != i + 1 {
                    BAD.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        let plain: Vec<_> = (0..2)
            .map(|k| std::thread::spawn(move || work(60 + k)))
            .collect();
        gort::run(move || {
            let hs: Vec<_> = (0..16).map(|k| gort::go(move || work(k))).collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        for p in plain {
            p.join().unwrap();
        }
        println!("bad={}", BAD.load(Ordering::Relaxed));
        return;
    }
    for procs in ["1", "2", "8"] {
        for run in 0..50 {
            let out = run_child_env(
                "a_thread_owned_lock_held_across_a_callback",
                "locked",
                &[("GORT_PROCS", procs), ("GORT_TIMESLICE_US", "50")],
                Duration::from_secs(60),
            );
            assert!(
                out.status.success(),
                "procs {procs}, run {run}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                stdout_value(&out, "bad"),
                Some(0),
                "procs {procs}, run {run}: a callback returned to C on another thread"
            );
        }
    }
}
