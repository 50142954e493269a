//! Spawn back-pressure: a goroutine that creates goroutines faster than they
//! run yields its processor when its run queue overflows, so the number of
//! goroutines waiting to start stays bounded instead of growing with the loop
//! (each waiting goroutine holds a descriptor and a stack). Its own file: it
//! changes `set_procs`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Without back-pressure, one processor runs nothing but the spawner until it
/// is done, and all N goroutines are alive at once.
#[test]
fn spawn_loop_backlog_stays_bounded() {
    const N: usize = 100_000;
    // Run queue (256) + one spilled half (129) per processor, with slack.
    const BOUND_PER_PROC: usize = 1024;
    for procs in [1, 2] {
        gort::set_procs(procs);
        let (ran, peak) = gort::run(|| {
            let ran = AtomicUsize::new(0);
            let base = gort::num_goroutines();
            let mut peak = 0;
            gort::scope(|s| {
                for _ in 0..N {
                    let ran = &ran;
                    s.go(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    });
                    peak = peak.max(gort::num_goroutines() - base);
                }
            });
            (ran.load(Ordering::Relaxed), peak)
        });
        assert_eq!(ran, N);
        assert!(
            peak <= BOUND_PER_PROC * procs,
            "procs={procs}: {peak} goroutines alive during a spawn loop"
        );
    }
}
