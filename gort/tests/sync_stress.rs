//! `gort::sync` under contention, with 1, 2 and 8 processors: exact counts
//! and invariants checked with atomics, "eventually" bounds of 10 s (a lost
//! wake-up or a starved waiter fails the test with a goroutine dump instead
//! of hanging it), never a speed.
//!
//! `set_procs` is process-wide and the tests of one binary share the
//! runtime, so every test takes `SERIAL` and sets the processor count
//! itself, restoring the initial one when done.

use gort::sync::{Barrier, Cond, Mutex, Once, RwLock, Semaphore, WaitGroup};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PROCS: [usize; 3] = [1, 2, 8];
const EVENTUALLY: Duration = Duration::from_secs(10);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Restores the processor count (and releases `SERIAL`) even if a check fails.
struct ProcsGuard {
    initial: usize,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Drop for ProcsGuard {
    fn drop(&mut self) {
        gort::set_procs(self.initial);
    }
}

/// Runs `f(procs)` in a goroutine for procs = 1, 2, 8, serialised with the
/// other tests here; fails with a goroutine dump if a round does not finish
/// within `EVENTUALLY`.
fn for_each_procs(what: &str, f: impl Fn(usize) + Send + Sync + 'static) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _guard = ProcsGuard {
        initial: gort::procs(),
        _serial: serial,
    };
    let f = Arc::new(f);
    for p in PROCS {
        gort::set_procs(p);
        assert_eq!(gort::procs(), p);
        let (tx, rx) = std::sync::mpsc::channel();
        let f = f.clone();
        std::thread::spawn(move || {
            gort::run(move || f(p));
            let _ = tx.send(());
        });
        match rx.recv_timeout(EVENTUALLY) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
                "{what} (procs {p}): not done after {EVENTUALLY:?}\n{}",
                gort::debug::dump()
            ),
            Err(_) => panic!("{what} (procs {p}): the body panicked"),
        }
    }
}

/// 1000 goroutines × 200 increments of a plain integer under one mutex.
#[test]
fn mutex_many_goroutines_exact_total() {
    for_each_procs("mutex 1000x200", |_| {
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let m = m.clone();
                gort::go(move || {
                    for _ in 0..200 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 200_000);
    });
}

/// Plain threads and goroutines contend for one mutex; an `inside` flag
/// catches any overlap, the total catches a lost increment.
#[test]
fn mutex_threads_and_goroutines_mixed() {
    for_each_procs("mutex mixed", |_| {
        struct Shared {
            m: Mutex<u64>,
            inside: AtomicBool,
        }
        fn work(sh: &Shared, n: usize) {
            for i in 0..n {
                let mut g = sh.m.lock();
                assert!(!sh.inside.swap(true, Ordering::SeqCst), "two holders");
                *g += 1;
                if i % 64 == 0 {
                    gort::yield_now(); // hold it across a switch now and then
                }
                sh.inside.store(false, Ordering::SeqCst);
            }
        }
        let sh = Arc::new(Shared {
            m: Mutex::new(0),
            inside: AtomicBool::new(false),
        });
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let sh = sh.clone();
                std::thread::spawn(move || work(&sh, 5000))
            })
            .collect();
        let gs: Vec<_> = (0..32)
            .map(|_| {
                let sh = sh.clone();
                gort::go(move || work(&sh, 1000))
            })
            .collect();
        for g in gs {
            g.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*sh.m.lock(), 3 * 5000 + 32 * 1000);
    });
}

/// Starvation mode: one goroutine re-locks the mutex in a tight loop (it
/// would win every race in normal mode), others ask for it once; each of
/// them must get it while the hog is still looping.
#[test]
fn mutex_waiter_is_not_starved() {
    for_each_procs("mutex starvation", |_| {
        let m = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let (m, stop) = (m.clone(), stop.clone());
            gort::go(move || {
                let t0 = Instant::now();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut g = m.lock();
                    *g += 1;
                    // A little work under the lock, as a real holder does.
                    for _ in 0..20 {
                        core::hint::spin_loop();
                    }
                    drop(g);
                    rounds += 1;
                    if rounds.is_multiple_of(4096) && t0.elapsed() > EVENTUALLY {
                        return false; // the waiters never got it
                    }
                }
                true
            })
        };
        // Let the hog get going, then ask.
        gort::sleep(Duration::from_millis(2));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let m = m.clone();
                gort::go(move || {
                    *m.lock() += 1_000_000;
                })
            })
            .collect();
        for w in waiters {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(hog.join().unwrap(), "a waiter was starved by the hog");
        assert!(*m.lock() >= 3_000_000);
    });
}

/// Writers are alone: checked with a shared count of readers inside and a
/// writer flag; readers never see a half-done write. (That readers do share
/// the lock is shown in sync.rs, `rwlock_readers_share`.)
#[test]
fn rwlock_readers_parallel_writers_exclusive() {
    for_each_procs("rwlock invariants", |_| {
        struct Shared {
            l: RwLock<(u64, u64)>,
            readers: AtomicI64,
            writer: AtomicBool,
        }
        let sh = Arc::new(Shared {
            l: RwLock::new((0, 0)),
            readers: AtomicI64::new(0),
            writer: AtomicBool::new(false),
        });
        let mut hs = Vec::new();
        for i in 0..24 {
            let sh = sh.clone();
            hs.push(gort::go(move || {
                for j in 0..300 {
                    if i % 6 == 0 {
                        let mut g = sh.l.write();
                        assert!(!sh.writer.swap(true, Ordering::SeqCst), "two writers");
                        assert_eq!(sh.readers.load(Ordering::SeqCst), 0, "writer with readers");
                        g.0 += 1;
                        if j % 16 == 0 {
                            gort::yield_now();
                        }
                        g.1 += 1;
                        sh.writer.store(false, Ordering::SeqCst);
                    } else {
                        let g = sh.l.read();
                        sh.readers.fetch_add(1, Ordering::SeqCst);
                        assert!(!sh.writer.load(Ordering::SeqCst), "reader with a writer");
                        assert_eq!(g.0, g.1, "torn write seen");
                        if j % 8 == 0 {
                            gort::yield_now();
                        }
                        sh.readers.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*sh.l.read(), (4 * 300, 4 * 300));
    });
}

/// A stream of overlapping readers never lets the read count drop to zero;
/// a writer must still get in (writer preference), and readers go on after.
#[test]
fn rwlock_writer_not_starved_by_readers() {
    for_each_procs("rwlock writer starvation", |_| {
        let l = Arc::new(RwLock::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let reads_after = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (l, stop, after) = (l.clone(), stop.clone(), reads_after.clone());
                gort::go(move || {
                    let t0 = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let g = l.read();
                        gort::yield_now(); // stay in while others come in
                        if *g == 1 {
                            after.fetch_add(1, Ordering::Relaxed);
                        }
                        drop(g);
                        if t0.elapsed() > EVENTUALLY {
                            return false; // gave up: the writer never got in
                        }
                    }
                    true
                })
            })
            .collect();
        gort::sleep(Duration::from_millis(2));
        *l.write() = 1;
        while reads_after.load(Ordering::Relaxed) == 0 {
            gort::sleep(Duration::from_micros(100));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap(), "the writer was starved by readers");
        }
    });
}

/// Holders of a semaphore never exceed its permits; everyone gets in.
#[test]
fn semaphore_bound_never_exceeded() {
    for_each_procs("semaphore bound", |_| {
        const PERMITS: usize = 3;
        let sem = Arc::new(Semaphore::new(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..64)
            .map(|i| {
                let (sem, inside, max, total) =
                    (sem.clone(), inside.clone(), max.clone(), total.clone());
                gort::go(move || {
                    for j in 0..100 {
                        if (i + j) % 5 == 0 {
                            while !sem.try_acquire() {
                                gort::yield_now();
                            }
                        } else {
                            sem.acquire();
                        }
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        assert!(n <= PERMITS, "{n} holders of {PERMITS} permits");
                        if j % 4 == 0 {
                            gort::yield_now();
                        }
                        total.fetch_add(1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        sem.release();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(total.load(Ordering::Relaxed), 6400);
        assert_eq!(sem.available_permits(), PERMITS);
        assert!(max.load(Ordering::SeqCst) <= PERMITS);
    });
}

/// Several rounds through one barrier: exactly one leader per round, and
/// nobody leaves a round before everybody has arrived in it.
#[test]
fn barrier_generations() {
    for_each_procs("barrier rounds", |_| {
        const N: usize = 16;
        const ROUNDS: usize = 50;
        let b = Arc::new(Barrier::new(N));
        let arrived: Arc<Vec<AtomicUsize>> =
            Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
        let leaders: Arc<Vec<AtomicUsize>> =
            Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let (b, arrived, leaders) = (b.clone(), arrived.clone(), leaders.clone());
                gort::go(move || {
                    for r in 0..ROUNDS {
                        if (i + r) % 7 == 0 {
                            gort::yield_now(); // vary who comes last
                        }
                        arrived[r].fetch_add(1, Ordering::SeqCst);
                        let res = b.wait();
                        assert_eq!(arrived[r].load(Ordering::SeqCst), N, "left round {r} early");
                        if res.is_leader() {
                            leaders[r].fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        for (r, l) in leaders.iter().enumerate() {
            assert_eq!(l.load(Ordering::SeqCst), 1, "round {r}: leaders");
        }
    });
}

/// Producer/consumer through a one-slot mailbox guarded by a mutex and two
/// conditions, many rounds: a lost wake-up stalls it (and fails by timeout).
/// Once with `notify_one`, once with `notify_all` and several consumers.
#[test]
fn cond_no_lost_wakeups() {
    for_each_procs("cond mailbox", |_| {
        struct Mailbox {
            slot: Mutex<Option<u64>>,
            not_empty: Cond,
            not_full: Cond,
        }
        for all in [false, true] {
            let mb = Arc::new(Mailbox {
                slot: Mutex::new(None),
                not_empty: Cond::new(),
                not_full: Cond::new(),
            });
            let consumers = if all { 4 } else { 1 };
            const ITEMS: u64 = 4000;
            let sum = Arc::new(AtomicU64::new(0));
            let count = Arc::new(AtomicU64::new(0));
            let cs: Vec<_> = (0..consumers)
                .map(|_| {
                    let (mb, sum, count) = (mb.clone(), sum.clone(), count.clone());
                    gort::go(move || {
                        loop {
                            let mut g = mb.slot.lock();
                            while g.is_none() {
                                g = mb.not_empty.wait(g);
                            }
                            let v = g.take().unwrap();
                            drop(g);
                            if all {
                                mb.not_full.notify_all();
                            } else {
                                mb.not_full.notify_one();
                            }
                            if v == u64::MAX {
                                return;
                            }
                            sum.fetch_add(v, Ordering::Relaxed);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let items = (1..=ITEMS).chain((0..consumers).map(|_| u64::MAX));
            for v in items {
                let mut g = mb.slot.lock();
                while g.is_some() {
                    g = mb.not_full.wait(g);
                }
                *g = Some(v);
                drop(g);
                if all {
                    mb.not_empty.notify_all();
                } else {
                    mb.not_empty.notify_one();
                }
            }
            for c in cs {
                c.join().unwrap();
            }
            assert_eq!(count.load(Ordering::Relaxed), ITEMS);
            assert_eq!(sum.load(Ordering::Relaxed), ITEMS * (ITEMS + 1) / 2);
        }
    });
}

/// Many waiters on one condition, woken by `notify_all` in rounds: each
/// round's broadcast releases every waiter of that round.
#[test]
fn cond_broadcast_rounds() {
    for_each_procs("cond broadcast", |_| {
        const WAITERS: usize = 32;
        const ROUNDS: u64 = 100;
        let st = Arc::new((Mutex::new((0u64, 0usize)), Cond::new(), Cond::new()));
        let hs: Vec<_> = (0..WAITERS)
            .map(|_| {
                let st = st.clone();
                gort::go(move || {
                    for r in 1..=ROUNDS {
                        let mut g = st.0.lock();
                        g.1 += 1; // checked in for round r
                        if g.1 == WAITERS {
                            st.2.notify_one();
                        }
                        g = st.1.wait_while(g, |s| s.0 < r);
                        drop(g);
                    }
                })
            })
            .collect();
        for r in 1..=ROUNDS {
            let mut g = st.0.lock();
            g = st.2.wait_while(g, |s| s.1 < WAITERS);
            g.1 = 0;
            g.0 = r;
            drop(g);
            st.1.notify_all();
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// `wait` returns only after every `done`; the group is reused round after
/// round, with several waiters each round.
#[test]
fn waitgroup_rounds() {
    for_each_procs("waitgroup rounds", |_| {
        let wg = Arc::new(WaitGroup::new());
        for round in 0..30u64 {
            let finished = Arc::new(AtomicU64::new(0));
            const WORKERS: u64 = 40;
            wg.add(WORKERS as isize);
            for i in 0..WORKERS {
                let (wg, finished) = (wg.clone(), finished.clone());
                gort::go(move || {
                    if (i + round) % 3 == 0 {
                        gort::yield_now();
                    }
                    finished.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    let (wg, finished) = (wg.clone(), finished.clone());
                    gort::go(move || {
                        wg.wait();
                        finished.load(Ordering::SeqCst)
                    })
                })
                .collect();
            wg.wait();
            assert_eq!(finished.load(Ordering::SeqCst), WORKERS);
            for w in waiters {
                assert_eq!(w.join().unwrap(), WORKERS, "round {round}: woke early");
            }
        }
    });
}

/// Reuse without waiting for the previous round's waiters to wake: a
/// waiter of round k+1 must not be released by round k's wake-up.
#[test]
fn waitgroup_immediate_reuse() {
    for_each_procs("waitgroup reuse", |_| {
        let wg = Arc::new(WaitGroup::new());
        let gate = Arc::new(AtomicU64::new(0));
        let mut waiters = Vec::new();
        for round in 1..=200u64 {
            wg.add(1);
            let w = {
                let (wg, gate) = (wg.clone(), gate.clone());
                gort::go(move || {
                    wg.wait();
                    gate.load(Ordering::SeqCst)
                })
            };
            if round % 2 == 0 {
                gort::yield_now(); // sometimes let the waiter park first
            }
            gate.store(round, Ordering::SeqCst);
            wg.done();
            // Not joined yet: the next round starts while this round's
            // waiter may still be waking up.
            waiters.push((round, w));
        }
        for (round, w) in waiters {
            assert!(w.join().unwrap() >= round, "round {round}: woke early");
        }
    });
}

/// Many goroutines race to one `Once`: it runs exactly once, and every
/// caller sees its effect when `call_once` returns.
#[test]
fn once_under_contention() {
    for_each_procs("once", |_| {
        for _ in 0..20 {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let value = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..64)
                .map(|_| {
                    let (once, runs, value) = (once.clone(), runs.clone(), value.clone());
                    gort::go(move || {
                        once.call_once(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            gort::yield_now();
                            value.store(7, Ordering::Relaxed);
                        });
                        assert_eq!(value.load(Ordering::Relaxed), 7);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(runs.load(Ordering::SeqCst), 1);
        }
    });
}
