//! `run` from many OS threads at once, repeatedly.

use std::sync::Arc;
use std::sync::Barrier;

#[test]
fn run_from_8_threads_at_once() {
    let barrier = Arc::new(Barrier::new(8));
    let ts: Vec<_> = (0..8u64)
        .map(|t| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                let mut acc = 0;
                for round in 0..50u64 {
                    acc += gort::run(move || {
                        let hs: Vec<_> = (0..20u64)
                            .map(|i| {
                                gort::go(move || {
                                    gort::yield_now();
                                    t * 1000 + round + i
                                })
                            })
                            .collect();
                        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                    });
                }
                acc
            })
        })
        .collect();
    for (t, th) in ts.into_iter().enumerate() {
        let t = t as u64;
        let expect: u64 = (0..50u64)
            .map(|r| (0..20u64).map(|i| t * 1000 + r + i).sum::<u64>())
            .sum();
        assert_eq!(th.join().unwrap(), expect);
    }
}

#[test]
fn nested_run_inside_goroutine() {
    let v = gort::run(|| gort::run(|| gort::run(|| 5) + 1) + 1);
    assert_eq!(v, 7);
}
