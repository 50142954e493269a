//! `gort::sync` semantics: each type's API, from goroutines and from plain
//! threads, small enough to read one test at a time. The contention tests
//! (many goroutines, procs 1/2/8) are in sync_stress.rs.

use gort::sync::{Barrier, Cond, Mutex, Once, RwLock, Semaphore, WaitGroup};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const EVENTUALLY: Duration = Duration::from_secs(10);

/// Runs `f` on a fresh thread and fails (with a goroutine dump) if it has not
/// finished within `EVENTUALLY`: a lost wake-up shows as a failure, not a hang.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(EVENTUALLY) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!(
                "{what}: not done after {EVENTUALLY:?}\n{}",
                gort::debug::dump()
            )
        }
        Err(_) => panic!("{what}: the body panicked"),
    }
}

/// Every type can be shared between goroutines; guards move like `&mut T`.
#[test]
fn send_and_sync() {
    fn shared<T: Send + Sync>() {}
    fn sendable<T: Send>() {}
    shared::<Mutex<Vec<u8>>>();
    shared::<RwLock<Vec<u8>>>();
    shared::<Cond>();
    shared::<WaitGroup>();
    shared::<Once>();
    shared::<Semaphore>();
    shared::<Barrier>();
    sendable::<gort::sync::MutexGuard<'static, Vec<u8>>>();
    shared::<gort::sync::MutexGuard<'static, Vec<u8>>>();
    shared::<gort::sync::RwLockReadGuard<'static, Vec<u8>>>();
    shared::<gort::sync::RwLockWriteGuard<'static, Vec<u8>>>();
}

#[test]
fn mutex_api() {
    let mut m = Mutex::new(vec![1]);
    m.lock().push(2);
    m.get_mut().push(3);
    {
        let g = m.lock();
        assert!(m.try_lock().is_none(), "try_lock while held");
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, .. }");
        assert_eq!(format!("{g:?}"), "[1, 2, 3]");
    }
    assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3], .. }");
    assert_eq!(*m.try_lock().expect("free"), [1, 2, 3]);
    assert_eq!(m.into_inner(), [1, 2, 3]);
    assert_eq!(*Mutex::<u8>::default().lock(), 0);
    assert_eq!(*Mutex::from(7).lock(), 7);
    static GLOBAL: Mutex<u32> = Mutex::new(1);
    *GLOBAL.lock() += 1;
    assert_eq!(*GLOBAL.lock(), 2);
}

#[test]
fn mutex_is_unlocked_by_a_panic() {
    let m = Mutex::new(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = m.lock();
        *g = 1;
        panic!("inside");
    }));
    assert!(r.is_err());
    // No poisoning: the lock is free and the write stays.
    assert_eq!(*m.lock(), 1);
}

/// A goroutine holding the lock parks (sleeps) inside it; the others park
/// on the lock meanwhile and get it in turn.
#[test]
fn mutex_held_across_a_park() {
    let total = within("held across a park", || {
        gort::run(|| {
            let m = Mutex::new(0u32);
            gort::scope(|s| {
                for _ in 0..20 {
                    s.go(|| {
                        let mut g = m.lock();
                        let v = *g;
                        gort::sleep(Duration::from_micros(200));
                        *g = v + 1;
                    });
                }
            });
            m.into_inner()
        })
    });
    assert_eq!(total, 20);
}

/// A guard can be sent to another goroutine and dropped there.
#[test]
fn mutex_guard_moves_between_goroutines() {
    within("guard moves", || {
        gort::run(|| {
            let m = Mutex::new(0);
            let g = m.lock();
            gort::scope(|s| {
                s.go(move || {
                    let mut g = g;
                    gort::yield_now();
                    *g += 1;
                });
            });
            assert_eq!(*m.lock(), 1);
        })
    });
}

/// Plain threads only, runtime or not: waiting blocks the thread.
#[test]
fn primitives_from_plain_threads() {
    within("plain threads", || {
        let m = Arc::new(Mutex::new(0u64));
        let wg = Arc::new(WaitGroup::new());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (m, wg) = (m.clone(), wg.clone());
                wg.add(1);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                    wg.done();
                })
            })
            .collect();
        wg.wait();
        assert_eq!(*m.lock(), 40_000);
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// A thread and goroutines wait on the same lock, both ways round.
#[test]
fn mutex_shared_by_a_thread_and_goroutines() {
    within("thread and goroutines", || {
        let m = Arc::new(Mutex::new(0u64));
        let held = m.lock();
        let m2 = m.clone();
        let t = std::thread::spawn(move || {
            gort::run(move || {
                let hs: Vec<_> = (0..8)
                    .map(|_| {
                        let m = m2.clone();
                        gort::go(move || *m.lock() += 1)
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            })
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(held); // goroutines parked on a lock a thread held
        t.join().unwrap();
        let m3 = m.clone();
        let g = gort::run(move || {
            gort::go(move || {
                let m = m3;
                let mut g = m.lock();
                *g += 1;
                gort::sleep(Duration::from_millis(20));
            })
        });
        *m.lock() += 1; // a thread blocked on a lock a goroutine held
        g.join().unwrap();
        assert_eq!(*m.lock(), 10);
    });
}

#[test]
fn rwlock_api() {
    let mut l = RwLock::new(String::from("a"));
    {
        let (r1, r2) = (l.read(), l.read());
        assert_eq!(*r1, *r2);
        assert!(l.try_write().is_none(), "try_write with readers in");
        assert!(l.try_read().is_some(), "try_read with readers in");
        assert_eq!(format!("{l:?}"), "RwLock { data: \"a\", .. }");
    }
    {
        let mut w = l.write();
        w.push('b');
        assert!(l.try_read().is_none(), "try_read with a writer in");
        assert!(l.try_write().is_none(), "try_write with a writer in");
        assert_eq!(format!("{l:?}"), "RwLock { data: <locked>, .. }");
        assert_eq!(format!("{w}"), "ab");
    }
    l.get_mut().push('c');
    assert_eq!(*l.try_write().expect("free"), "abc");
    assert_eq!(l.into_inner(), "abc");
    assert_eq!(*RwLock::<u8>::default().read(), 0);
}

/// Readers holding the lock at once can all meet at a barrier (they could
/// not if reads were exclusive).
#[test]
fn rwlock_readers_share() {
    within("readers share", || {
        gort::run(|| {
            let l = RwLock::new(5);
            let b = Barrier::new(8);
            gort::scope(|s| {
                for _ in 0..8 {
                    s.go(|| {
                        let g = l.read();
                        b.wait();
                        assert_eq!(*g, 5);
                    });
                }
            });
        })
    });
}

/// A waiting writer blocks new readers (writer preference): with a reader
/// in and a writer queued, `try_read` fails and a new reader waits until the
/// writer has been.
#[test]
fn rwlock_waiting_writer_blocks_new_readers() {
    within("writer preference", || {
        gort::run(|| {
            let l = Arc::new(RwLock::new(0));
            let r = l.read();
            let w = {
                let l = l.clone();
                gort::go(move || *l.write() = 1)
            };
            // Let the writer announce itself.
            while l.try_read().is_some() {
                gort::sleep(Duration::from_micros(100));
            }
            let late = {
                let l = l.clone();
                gort::go(move || *l.read())
            };
            gort::sleep(Duration::from_millis(5));
            assert!(
                !late.is_finished(),
                "a new reader got past a waiting writer"
            );
            drop(r);
            w.join().unwrap();
            assert_eq!(
                late.join().unwrap(),
                1,
                "the late reader ran before the writer"
            );
        })
    });
}

#[test]
fn cond_wakes_a_waiter() {
    within("cond", || {
        gort::run(|| {
            let st = Arc::new((Mutex::new(0), Cond::new()));
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let st = st.clone();
                    gort::go(move || {
                        let g = st.1.wait_while(st.0.lock(), |v| *v == 0);
                        *g
                    })
                })
                .collect();
            gort::sleep(Duration::from_millis(2));
            *st.0.lock() = 9;
            st.1.notify_all();
            for h in hs {
                assert_eq!(h.join().unwrap(), 9);
            }
            // Nobody waits: notifications are not saved for later.
            st.1.notify_one();
            st.1.notify_all();
            assert_eq!(format!("{:?}", st.1), "Cond { waiting: 0 }");
        })
    });
}

/// `notify_one` wakes waiters one at a time, oldest first.
#[test]
fn cond_notify_one_is_fifo() {
    within("notify_one order", || {
        gort::run(|| {
            let st = Arc::new((Mutex::new(Vec::new()), Cond::new()));
            let mut hs = Vec::new();
            for i in 0..5 {
                let st2 = st.clone();
                let g = st.0.lock();
                hs.push(gort::go(move || {
                    let g = st2.0.lock();
                    let mut g = st2.1.wait(g);
                    g.push(i);
                }));
                // Wait until it is queued: it took a ticket, so `Debug` counts it.
                drop(g);
                while format!("{:?}", st.1) != format!("Cond {{ waiting: {} }}", i + 1) {
                    gort::yield_now();
                }
            }
            for n in 1..=5 {
                st.1.notify_one();
                while st.0.lock().len() < n {
                    gort::yield_now();
                }
            }
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(*st.0.lock(), [0, 1, 2, 3, 4]);
        })
    });
}

#[test]
fn cond_from_plain_threads() {
    within("cond threads", || {
        let st = Arc::new((Mutex::new(false), Cond::new()));
        let st2 = st.clone();
        let t = std::thread::spawn(move || {
            let _g = st2.1.wait_while(st2.0.lock(), |ready| !*ready);
        });
        std::thread::sleep(Duration::from_millis(10));
        *st.0.lock() = true;
        st.1.notify_one();
        t.join().unwrap();
    });
}

#[test]
fn waitgroup_waits_for_every_done() {
    within("waitgroup", || {
        gort::run(|| {
            let wg = Arc::new(WaitGroup::new());
            let finished = Arc::new(AtomicUsize::new(0));
            wg.add(10);
            for i in 0..10 {
                let (wg, finished) = (wg.clone(), finished.clone());
                gort::go(move || {
                    gort::sleep(Duration::from_micros(100 * i));
                    finished.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            // Several waiters, one of them a plain thread.
            let w2 = {
                let (wg, finished) = (wg.clone(), finished.clone());
                gort::go(move || {
                    wg.wait();
                    finished.load(Ordering::SeqCst)
                })
            };
            let w3 = {
                let (wg, finished) = (wg.clone(), finished.clone());
                std::thread::spawn(move || {
                    wg.wait();
                    finished.load(Ordering::SeqCst)
                })
            };
            wg.wait();
            assert_eq!(finished.load(Ordering::SeqCst), 10);
            assert_eq!(w2.join().unwrap(), 10);
            assert_eq!(w3.join().unwrap(), 10);
            assert_eq!(format!("{wg:?}"), "WaitGroup { counter: 0, waiters: 0 }");
        })
    });
}

#[test]
fn waitgroup_negative_counter_panics() {
    let wg = WaitGroup::new();
    wg.add(2);
    let r = catch_unwind(AssertUnwindSafe(|| wg.add(-3)));
    let msg = r.expect_err("negative counter must panic");
    let msg = msg
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| msg.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("negative WaitGroup counter"), "{msg}");
    // Left unchanged: two more `done`s bring it to zero.
    wg.done();
    wg.done();
    wg.wait();
    assert!(catch_unwind(|| WaitGroup::new().done()).is_err());
}

#[test]
fn once_runs_once() {
    let once = Once::new();
    assert!(!once.is_completed());
    let mut n = 0;
    once.call_once(|| n += 1);
    once.call_once(|| n += 1);
    assert_eq!(n, 1);
    assert!(once.is_completed());
    assert_eq!(format!("{once:?}"), "Once { done: true, .. }");
}

/// Go's rule: a panicking function still completes the `Once`.
#[test]
fn once_panic_completes_it() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("boom"))));
    assert!(r.is_err());
    assert!(once.is_completed());
    let ran = AtomicBool::new(false);
    once.call_once(|| ran.store(true, Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
}

/// Callers that arrive while the function runs wait for it to finish.
#[test]
fn once_latecomers_wait_for_the_run() {
    within("once", || {
        gort::run(|| {
            let once = Once::new();
            let value = AtomicUsize::new(0);
            gort::scope(|s| {
                for _ in 0..16 {
                    s.go(|| {
                        once.call_once(|| {
                            gort::sleep(Duration::from_millis(5));
                            value.store(42, Ordering::Relaxed);
                        });
                        assert_eq!(value.load(Ordering::Relaxed), 42);
                    });
                }
            });
        })
    });
}

#[test]
fn semaphore_api() {
    let s = Semaphore::new(2);
    assert!(s.try_acquire());
    assert!(s.try_acquire());
    assert!(!s.try_acquire());
    assert_eq!(s.available_permits(), 0);
    s.release();
    assert_eq!(s.available_permits(), 1);
    s.acquire();
    assert_eq!(format!("{s:?}"), "Semaphore { permits: 0, .. }");
    within("semaphore wait", || {
        gort::run(|| {
            let s = Arc::new(Semaphore::new(0));
            let h = {
                let s = s.clone();
                gort::go(move || s.acquire())
            };
            gort::sleep(Duration::from_millis(2));
            assert!(!h.is_finished());
            s.release();
            h.join().unwrap();
        })
    });
}

#[test]
fn barrier_of_one_or_zero_never_waits() {
    for n in [0, 1] {
        let b = Barrier::new(n);
        assert!(b.wait().is_leader());
        assert!(b.wait().is_leader());
    }
}

#[test]
fn barrier_threads_and_goroutines() {
    within("barrier mixed", || {
        let b = Arc::new(Barrier::new(3));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.wait().is_leader());
        let leaders = gort::run(move || {
            let b3 = b.clone();
            let g = gort::go(move || b3.wait().is_leader());
            let me = b.wait().is_leader();
            me as usize + g.join().unwrap() as usize
        });
        assert_eq!(leaders + t.join().unwrap() as usize, 1);
    });
}

/// `debug::dump` names what a goroutine waits for.
#[test]
fn wait_reasons_in_dump() {
    within("dump", || {
        gort::run(|| {
            let m = Arc::new(Mutex::new(()));
            let wg = Arc::new(WaitGroup::new());
            wg.add(1);
            let held = m.lock();
            let a = {
                let m = m.clone();
                gort::go(move || drop(m.lock()))
            };
            let b = {
                let wg = wg.clone();
                gort::go(move || wg.wait())
            };
            let want = ["sync.Mutex.Lock", "sync.WaitGroup.Wait"];
            let mut dump = String::new();
            for _ in 0..1000 {
                dump = gort::debug::dump();
                if want.iter().all(|w| dump.contains(w)) {
                    break;
                }
                gort::sleep(Duration::from_millis(1));
            }
            for w in want {
                assert!(dump.contains(w), "no {w:?} in:\n{dump}");
            }
            drop(held);
            wg.done();
            a.join().unwrap();
            b.join().unwrap();
        })
    });
}
