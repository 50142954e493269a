//! One million goroutines alive at once (parked in `sleep`), with the default
//! `vm.max_map_count`, then all finish. Stacks come from shared arenas with
//! in-mapping guard pages, so this needs ~4 000 mappings, not 2 000 000.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn one_million_parked_goroutines() {
    const N: usize = 1_000_000;
    let started = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(AtomicBool::new(false));
    let maps_before = map_count();
    let (s, r) = (started.clone(), release.clone());
    let peak = gort::run(move || {
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (s, r) = (s.clone(), r.clone());
                gort::go(move || {
                    s.fetch_add(1, Ordering::Relaxed);
                    // Back off to a long period: a million goroutines waking every
                    // 500 ms would keep one core busy with wake-ups alone, and the
                    // spawner (which yields when its queue fills) would crawl.
                    let mut period = Duration::from_millis(50);
                    while !r.load(Ordering::Relaxed) {
                        gort::sleep(period);
                        period = (period * 2).min(Duration::from_secs(4));
                    }
                })
            })
            .collect();
        while s.load(Ordering::Relaxed) < N {
            gort::sleep(Duration::from_millis(10));
        }
        // All N are alive and parked (none can exit before `release`).
        let alive = gort::num_goroutines();
        r.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        alive
    });
    assert!(peak >= N, "only {peak} goroutines alive");
    assert_eq!(started.load(Ordering::Relaxed), N);
    let maps_after = map_count();
    assert!(
        maps_after < maps_before + 20_000,
        "stack arenas used too many mappings: {maps_before} -> {maps_after}"
    );
    let _ = release;
}
