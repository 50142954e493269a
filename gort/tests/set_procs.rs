//! `procs` / `set_procs` at run time, both ways, under load.
//! (Own test binary: it changes `procs` for the whole process.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[test]
fn set_procs_grows_and_shrinks_under_load() {
    let initial = gort::procs();
    assert!(initial >= 1);
    assert_eq!(gort::set_procs(0), initial, "0 only queries");
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..64u64)
        .map(|i| {
            let total = total.clone();
            gort::go(move || {
                for j in 0..2000u64 {
                    total.fetch_add(i * j, Ordering::Relaxed);
                    if j % 50 == 0 {
                        gort::yield_now();
                    }
                    if j % 500 == 0 {
                        gort::sleep(Duration::from_micros(100));
                    }
                }
            })
        })
        .collect();
    for n in [1usize, 8, 2, 1, 4, 3, 1, 8] {
        let prev = gort::set_procs(n);
        assert!(prev >= 1);
        assert_eq!(gort::procs(), n);
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().unwrap();
    }
    let expect: u64 = (0..64u64)
        .map(|i| (0..2000u64).map(|j| i * j).sum::<u64>())
        .sum();
    assert_eq!(total.load(Ordering::Relaxed), expect);

    // With one P, goroutines still all complete (and timers still fire).
    gort::set_procs(1);
    let n = gort::run(|| {
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                gort::go(move || {
                    gort::sleep(Duration::from_micros(50 * (i % 7)));
                    i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(n, 499_500);
    gort::set_procs(initial);
    assert_eq!(gort::procs(), initial);
}
