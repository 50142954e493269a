//! Timers fire in deadline order. In a file of its own: the order in which the
//! woken goroutines *run* also depends on queueing delays, and the other timer
//! tests (10 000 sleepers on one processor) would make those delays longer than
//! the 10 ms between deadlines.

use std::sync::Arc;
use std::time::Duration;

#[test]
fn sleepers_wake_in_deadline_order() {
    // Goroutines sleeping 10, 20, ..., 100 ms record their wake order.
    let order = gort::run(|| {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (1..=10u64)
            .rev()
            .map(|i| {
                let log = log.clone();
                gort::go(move || {
                    gort::sleep(Duration::from_millis(i * 10));
                    log.lock().unwrap().push(i);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, (1..=10).collect::<Vec<u64>>());
}
