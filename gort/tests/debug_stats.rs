//! `gort::debug::stats()` reflects what the scheduler is doing.

use std::time::Duration;

#[test]
fn stats_count_goroutines_switches_and_timers() {
    let before = gort::debug::stats();
    assert!(before.procs >= 1);
    gort::run(|| {
        let hs: Vec<_> = (0..100)
            .map(|_| gort::go(|| gort::sleep(Duration::from_millis(300))))
            .collect();
        // Wait until all 100 sleep (their timers are registered).
        let mut s = gort::debug::stats();
        while s.timers < 100 {
            gort::sleep(Duration::from_millis(1));
            s = gort::debug::stats();
        }
        assert!(s.goroutines >= 101);
        // A P held by an M that is between goroutines still counts as running.
        assert!(s.parked + s.procs >= 100, "{s:?}");
        assert!(s.stack_bytes >= 100 * 16 * 1024);
        assert!(s.threads >= 1);
        for h in hs {
            h.join().unwrap();
        }
    });
    let after = gort::debug::stats();
    assert!(after.context_switches >= before.context_switches + 200);
}
