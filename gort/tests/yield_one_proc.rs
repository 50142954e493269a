//! `yield_now` with one processor: a goroutine that spins on a flag while
//! yielding lets the goroutine that will set the flag run on the same P.
//! Without a working yield this test hangs. (Own binary: it sets `procs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn yield_lets_other_goroutines_run_on_one_proc() {
    gort::set_procs(1);
    let spun = gort::run(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicUsize::new(0));
        let (f, s) = (flag.clone(), spins.clone());
        let spinner = gort::go(move || {
            while !f.load(Ordering::SeqCst) {
                s.fetch_add(1, Ordering::Relaxed);
                gort::yield_now();
            }
        });
        // Let the spinner start spinning first (our own yields hand it the P).
        while spins.load(Ordering::Relaxed) == 0 {
            gort::yield_now();
        }
        // Now it spins on the only P; the setter runs only if its yields let it.
        let setter = gort::go(move || flag.store(true, Ordering::SeqCst));
        setter.join().unwrap();
        spinner.join().unwrap();
        spins.load(Ordering::Relaxed)
    });
    assert!(spun > 0);

    // Round-robin: 10 goroutines yielding in turn all make progress.
    let counts = gort::run(|| {
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let c = counts.clone();
                gort::go(move || {
                    for _ in 0..1000 {
                        c[i].fetch_add(1, Ordering::Relaxed);
                        gort::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    });
    assert_eq!(counts, vec![1000; 10]);
}
