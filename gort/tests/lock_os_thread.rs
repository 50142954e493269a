//! `lock_os_thread`: a locked goroutine runs only on its thread, and its
//! thread runs nothing else, through every kind of switch (park, yield, sleep,
//! join, spawn back-pressure, `blocking`, async preemption); calls nest; a
//! goroutine that ends locked takes its thread with it. Scenarios that need a
//! given number of processors run in child processes with `GORT_PROCS` set.

mod common;

use common::{child_mode, run_child_ok, stdout_value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The kernel id of the thread running the caller, read by a syscall each time
/// (nothing a compiler could cache across a switch).
fn tid() -> u64 {
    common::os_tid()
}

/// A mix of every switch a goroutine can make, `rounds` times, calling
/// `check` after each one.
fn churn(rounds: usize, mut check: impl FnMut()) {
    for i in 0..rounds {
        gort::sleep(Duration::from_micros(50));
        check();
        gort::yield_now();
        check();
        gort::go(move || i * 2).join().unwrap();
        check();
        gort::blocking(|| std::thread::sleep(Duration::from_micros(100)));
        check();
        // Enough spawns at once to overflow the run queue (back-pressure yield).
        let hs: Vec<_> = (0..300).map(|j| gort::go(move || j)).collect();
        check();
        assert_eq!(
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>(),
            44_850
        );
        check();
    }
}

/// Background goroutines that keep every processor switching; each records a
/// violation if it ever runs on `locked_tid` while `locked` is set.
fn background(
    n: usize,
    stop: Arc<AtomicBool>,
    locked: Arc<AtomicBool>,
    locked_tid: Arc<AtomicU64>,
    violations: Arc<AtomicUsize>,
) -> Vec<gort::JoinHandle<()>> {
    (0..n)
        .map(|k| {
            let (stop, locked, locked_tid, violations) = (
                stop.clone(),
                locked.clone(),
                locked_tid.clone(),
                violations.clone(),
            );
            gort::go(move || {
                while !stop.load(Ordering::SeqCst) {
                    // `locked` true before and after reading the thread id means
                    // it was true at that moment: this goroutine was then running
                    // on the locked thread, which must run nothing else.
                    let before = locked.load(Ordering::SeqCst);
                    let t = tid();
                    if before
                        && locked.load(Ordering::SeqCst)
                        && t == locked_tid.load(Ordering::SeqCst)
                    {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    if k % 2 == 0 {
                        gort::yield_now();
                    } else {
                        gort::sleep(Duration::from_micros(30));
                    }
                }
            })
        })
        .collect()
}

/// Runs `churn` in one goroutine (locked or not) with background load; prints
/// how many distinct threads it ran on and how many exclusivity violations the
/// background saw.
fn churn_scenario(lock: bool) {
    gort::run(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let locked = Arc::new(AtomicBool::new(false));
        let locked_tid = Arc::new(AtomicU64::new(0));
        let violations = Arc::new(AtomicUsize::new(0));
        let bg = background(
            8,
            stop.clone(),
            locked.clone(),
            locked_tid.clone(),
            violations.clone(),
        );
        let (l2, lt2) = (locked.clone(), locked_tid.clone());
        let threads = gort::go(move || {
            if lock {
                gort::lock_os_thread();
                lt2.store(tid(), Ordering::SeqCst);
                l2.store(true, Ordering::SeqCst);
            }
            let mut seen = vec![tid()];
            churn(40, || {
                let t = tid();
                if !seen.contains(&t) {
                    seen.push(t);
                }
            });
            if lock {
                l2.store(false, Ordering::SeqCst);
                gort::unlock_os_thread();
            }
            seen.len()
        })
        .join()
        .unwrap();
        stop.store(true, Ordering::SeqCst);
        for h in bg {
            h.join().unwrap();
        }
        println!(
            "threads={threads} violations={}",
            violations.load(Ordering::SeqCst)
        );
    });
}

fn churn_child(test: &str, lock: bool, procs: &str) -> (u64, u64) {
    let mode = if lock { "locked" } else { "unlocked" };
    let out = run_child_ok(
        test,
        mode,
        &[("GORT_PROCS", procs)],
        Duration::from_secs(120),
        test,
    );
    let threads = stdout_value(&out, "threads").expect("threads=");
    let violations = stdout_value(&out, "violations").expect("violations=");
    (threads, violations)
}

#[test]
fn locked_goroutine_keeps_its_thread_and_the_thread_runs_nothing_else() {
    const T: &str = "locked_goroutine_keeps_its_thread_and_the_thread_runs_nothing_else";
    match child_mode().as_deref() {
        Some("locked") => return churn_scenario(true),
        Some("unlocked") => return churn_scenario(false),
        _ => {}
    }
    // The same workload unlocked moves between threads: the locked result below
    // is the lock's doing, not the workload's.
    let (threads, _) = churn_child(T, false, "2");
    assert!(
        threads > 1,
        "unlocked goroutine never migrated: the test proves nothing"
    );
    for procs in ["1", "2", "8"] {
        let (threads, violations) = churn_child(T, true, procs);
        assert_eq!(
            threads, 1,
            "locked goroutine ran on {threads} threads (procs {procs})"
        );
        assert_eq!(
            violations, 0,
            "other goroutines ran on the locked thread (procs {procs})"
        );
    }
}

#[test]
fn locks_nest_and_unlock_outside_is_harmless() {
    // Outside any goroutine both are no-ops.
    gort::unlock_os_thread();
    gort::lock_os_thread();
    gort::unlock_os_thread();
    gort::run(|| {
        let me = gort::current_id().unwrap();
        let line = || {
            let d = gort::debug::dump();
            d.lines()
                .find(|l| l.starts_with(&format!("goroutine {me} [")))
                .unwrap()
                .to_string()
        };
        gort::unlock_os_thread(); // not locked: nothing happens
        assert!(!line().contains("locked to thread"));
        gort::lock_os_thread();
        gort::lock_os_thread();
        let t = tid();
        gort::unlock_os_thread();
        assert!(line().contains("locked to thread"), "{}", line());
        for _ in 0..50 {
            gort::sleep(Duration::from_micros(20));
            gort::blocking(|| std::thread::sleep(Duration::from_micros(50)));
            assert_eq!(tid(), t, "still locked once: must not move");
        }
        gort::unlock_os_thread();
        assert!(!line().contains("locked to thread"), "{}", line());
    });
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<ExitFlag> = const { std::cell::RefCell::new(ExitFlag(None)) };
}

/// Sets its flag when the thread it lives on exits (thread-local destructor).
struct ExitFlag(Option<Arc<AtomicBool>>);

impl Drop for ExitFlag {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            f.store(true, Ordering::SeqCst);
        }
    }
}

fn thread_alive(tid: u64) -> bool {
    common::thread_alive(tid)
}

#[test]
fn goroutine_ending_locked_takes_its_thread_with_it() {
    const T: &str = "goroutine_ending_locked_takes_its_thread_with_it";
    // In a child: threads ending would disturb the other tests of this binary.
    if child_mode().as_deref() != Some("exit") {
        for procs in ["1", "4"] {
            let out = run_child_ok(
                T,
                "exit",
                &[("GORT_PROCS", procs)],
                Duration::from_secs(120),
                T,
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("exited=20"));
        }
        return;
    }
    gort::run(|| {
        for round in 0..20 {
            let gone = Arc::new(AtomicBool::new(false));
            let g2 = gone.clone();
            let t = gort::go(move || {
                gort::lock_os_thread();
                ON_EXIT.set(ExitFlag(Some(g2)));
                gort::sleep(Duration::from_micros(100));
                tid()
            })
            .join()
            .unwrap();
            // The thread exits asynchronously; a generous bound, not a timing claim.
            let mut waited = 0;
            while thread_alive(t) && waited < 10_000 {
                gort::sleep(Duration::from_millis(1));
                waited += 1;
            }
            assert!(!thread_alive(t), "round {round}: thread {t} still alive");
            assert!(
                gone.load(Ordering::SeqCst),
                "thread-locals of the exited thread not destroyed"
            );
            // The runtime carries on (the exited M's P went to another thread).
            let s: u64 = (0..100u64)
                .map(|i| gort::go(move || i))
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(s, 4950);
        }
        println!("exited=20");
    });
}

/// Unlocked goroutines ending after unlocking keep their thread: nothing exits.
#[test]
fn goroutine_unlocking_before_it_ends_keeps_the_thread() {
    gort::run(|| {
        let t = gort::go(|| {
            gort::lock_os_thread();
            let t = tid();
            gort::unlock_os_thread();
            t
        })
        .join()
        .unwrap();
        gort::sleep(Duration::from_millis(20));
        assert!(thread_alive(t));
    });
}

/// One processor: a locked goroutine that never calls into gort is preempted
/// (so a sleeper keeps waking) and resumes on its thread every time.
fn locked_spinner() {
    gort::run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = gort::go(move || {
            gort::lock_os_thread();
            let t = tid();
            let mut moved = 0u64;
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                n = n.wrapping_add(1);
                if n.is_multiple_of(1 << 16) && tid() != t {
                    moved += 1;
                }
            }
            moved
        });
        gort::yield_now();
        let sleeper = gort::go(move || {
            for _ in 0..50 {
                gort::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::Relaxed);
        });
        sleeper.join().unwrap();
        let moved = spinner.join().unwrap();
        println!(
            "moved={moved} preemptions={}",
            gort::debug::stats().preemptions
        );
    });
}

#[test]
fn locked_spinner_is_preempted_and_resumes_on_its_thread() {
    const T: &str = "locked_spinner_is_preempted_and_resumes_on_its_thread";
    if child_mode().as_deref() == Some("spin") {
        return locked_spinner();
    }
    let out = run_child_ok(
        T,
        "spin",
        &[("GORT_PROCS", "1"), ("GORT_TIMESLICE_US", "200")],
        Duration::from_secs(60),
        "the sleeper must finish: the locked spinner is preempted",
    );
    assert_eq!(stdout_value(&out, "moved"), Some(0));
    assert!(stdout_value(&out, "preemptions").unwrap() > 0);
}

/// One processor, taken by a spinner while the locked goroutine is inside
/// `blocking`: on return there is no idle processor, so the locked goroutine
/// waits on the global queue and its thread waits for whoever picks it up.
fn blocking_without_idle_p() {
    gort::run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = gort::go(move || {
            while !s.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let locked = gort::go(move || {
            gort::lock_os_thread();
            let t = tid();
            let mut moved = 0;
            for _ in 0..20 {
                gort::blocking(|| std::thread::sleep(Duration::from_millis(2)));
                if tid() != t {
                    moved += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            moved
        });
        let moved = locked.join().unwrap();
        spinner.join().unwrap();
        println!("moved={moved}");
    });
}

#[test]
fn locked_goroutine_returning_from_blocking_without_a_free_processor() {
    const T: &str = "locked_goroutine_returning_from_blocking_without_a_free_processor";
    if child_mode().as_deref() == Some("block") {
        return blocking_without_idle_p();
    }
    let out = run_child_ok(
        T,
        "block",
        &[("GORT_PROCS", "1")],
        Duration::from_secs(60),
        T,
    );
    assert_eq!(stdout_value(&out, "moved"), Some(0));
}

/// Many locked goroutines at once, each waking the next through joins and
/// sleeps, among unlocked ones: all finish, none moves.
fn many_locked() {
    gort::run(|| {
        let hs: Vec<_> = (0..16)
            .map(|k| {
                gort::go(move || {
                    gort::lock_os_thread();
                    let t = tid();
                    let mut moved = 0u64;
                    for i in 0..100u64 {
                        let h = gort::go(move || i + k);
                        if k % 2 == 0 {
                            gort::yield_now();
                        } else {
                            gort::sleep(Duration::from_micros(10));
                        }
                        assert_eq!(h.join().unwrap(), i + k);
                        if tid() != t {
                            moved += 1;
                        }
                    }
                    gort::unlock_os_thread();
                    moved
                })
            })
            .collect();
        let moved: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        println!("moved={moved}");
    });
}

#[test]
fn many_locked_goroutines_under_load() {
    const T: &str = "many_locked_goroutines_under_load";
    if child_mode().as_deref() == Some("many") {
        return many_locked();
    }
    for procs in ["1", "2", "8"] {
        let out = run_child_ok(
            T,
            "many",
            &[("GORT_PROCS", procs)],
            Duration::from_secs(120),
            T,
        );
        assert_eq!(stdout_value(&out, "moved"), Some(0), "procs {procs}");
    }
}
