//! `scope`: borrowing locals, mutation, panics.

use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn scope_borrows_locals() {
    let data = [1u64, 2, 3, 4, 5, 6, 7, 8];
    let total = AtomicUsize::new(0);
    gort::scope(|s| {
        for chunk in data.chunks(2) {
            let total = &total;
            s.go(move || {
                total.fetch_add(chunk.iter().sum::<u64>() as usize, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 36);
}

#[test]
fn scope_mutates_disjoint_locals_inside_goroutine() {
    let out = gort::run(|| {
        let mut v = vec![0u32; 64];
        gort::scope(|s| {
            for (i, x) in v.iter_mut().enumerate() {
                s.go(move || {
                    gort::yield_now();
                    *x = i as u32 * 3;
                });
            }
        });
        v
    });
    assert_eq!(out, (0..64).map(|i| i * 3).collect::<Vec<u32>>());
}

#[test]
fn scoped_join_returns_results() {
    let names = ["a", "bb", "ccc"];
    let lens: Vec<usize> = gort::scope(|s| {
        let hs: Vec<_> = names.iter().map(|n| s.go(move || n.len())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(lens, [1, 2, 3]);
}

#[test]
fn unjoined_panic_makes_scope_panic_after_all_finish() {
    let finished = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gort::scope(|s| {
            s.go(|| panic!("scoped boom"));
            for _ in 0..10 {
                s.go(|| {
                    gort::sleep(std::time::Duration::from_millis(5));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        })
    }));
    assert!(r.is_err());
    assert_eq!(finished.load(Ordering::SeqCst), 10);
}

#[test]
fn joined_panic_does_not_make_scope_panic() {
    let r = gort::scope(|s| s.go(|| -> u8 { panic!("handled") }).join().is_err());
    assert!(r);
}

/// Scoped goroutines spawn more goroutines into the scope after its body has
/// returned (while `scope` is already waiting). `scope` must wait for those too:
/// every leaf writes into a borrowed local after a sleep, and each count is
/// checked once `scope` has returned.
#[test]
fn scope_waits_for_goroutines_spawned_after_the_body_returned() {
    const FAN: usize = 6;
    gort::run(|| {
        let hits: Vec<AtomicUsize> = (0..FAN * FAN * FAN).map(|_| AtomicUsize::new(0)).collect();
        gort::scope(|s| {
            for a in 0..FAN {
                let hits = &hits;
                s.go(move || {
                    // Let the body return first, so these spawns come late.
                    gort::sleep(std::time::Duration::from_millis(5));
                    for b in 0..FAN {
                        s.go(move || {
                            gort::yield_now();
                            for c in 0..FAN {
                                s.go(move || {
                                    gort::sleep(std::time::Duration::from_millis(1));
                                    hits[(a * FAN + b) * FAN + c].fetch_add(1, Ordering::Relaxed);
                                });
                            }
                        });
                    }
                });
            }
        });
        // Nothing may still be running: every slot was hit exactly once.
        for (i, h) in hits.iter().enumerate() {
            assert_eq!(h.load(Ordering::Relaxed), 1, "slot {i}");
        }
    });
}

/// A scoped handle moved into a sibling goroutine and joined there, and handles
/// dropped before or after their goroutine finished: the scope counts each
/// goroutine once, whichever side lets go of it last.
#[test]
fn scope_counts_handles_joined_elsewhere_or_dropped() {
    let total = gort::run(|| {
        let sum = AtomicUsize::new(0);
        gort::scope(|s| {
            for i in 0..200usize {
                let sum = &sum;
                let h = s.go(move || {
                    if i % 3 == 0 {
                        gort::yield_now();
                    }
                    sum.fetch_add(i, Ordering::Relaxed);
                    i
                });
                match i % 4 {
                    0 => drop(h),
                    1 => assert_eq!(h.join().unwrap(), i),
                    _ => {
                        s.go(move || {
                            gort::yield_now();
                            assert_eq!(h.join().unwrap(), i);
                        });
                    }
                }
            }
        });
        sum.load(Ordering::Relaxed)
    });
    assert_eq!(total, (0..200).sum::<usize>());
}

/// Many scopes at once, from goroutines and from plain threads, each with
/// nested spawns; run with GORT_PROCS = 1, 2 and 8 in CI.
#[test]
fn many_concurrent_scopes_with_nested_spawns() {
    let total = std::sync::Arc::new(AtomicUsize::new(0));
    std::thread::scope(|ts| {
        for t in 0..4 {
            let total = total.clone();
            ts.spawn(move || {
                let body = move || {
                    for _ in 0..20 {
                        let local = AtomicUsize::new(0);
                        gort::scope(|s| {
                            for _ in 0..50 {
                                let local = &local;
                                s.go(move || {
                                    local.fetch_add(1, Ordering::Relaxed);
                                    s.go(move || {
                                        local.fetch_add(1, Ordering::Relaxed);
                                    });
                                });
                            }
                        });
                        assert_eq!(local.load(Ordering::Relaxed), 100);
                        total.fetch_add(100, Ordering::Relaxed);
                    }
                };
                if t % 2 == 0 { gort::run(body) } else { body() }
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 4 * 20 * 100);
}
