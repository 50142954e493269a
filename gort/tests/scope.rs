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
