//! `blocking` hands the P off: with one P, a goroutine blocked in a call that
//! only another goroutine can release still lets that goroutine run.
//! (Own test binary: it changes `procs` for the whole process.)

use std::sync::mpsc;
use std::time::Duration;

#[test]
fn blocking_call_released_by_another_goroutine_with_one_proc() {
    let old = gort::set_procs(1);
    let got = gort::run(|| {
        let (tx, rx) = mpsc::channel::<u32>();
        // The receiver blocks its OS thread inside `blocking`; only the sender
        // goroutine (which needs the single P) can release it.
        let receiver = gort::go(move || gort::blocking(|| rx.recv().unwrap()));
        // Make sure the receiver is inside the blocking call before the sender runs.
        gort::sleep(Duration::from_millis(20));
        let sender = gort::go(move || tx.send(99).unwrap());
        sender.join().unwrap();
        receiver.join().unwrap()
    });
    assert_eq!(got, 99);

    // Many rounds, with the order of events varied.
    for round in 0..200u32 {
        let v = gort::run(move || {
            let (tx, rx) = mpsc::channel::<u32>();
            let (tx2, rx2) = mpsc::channel::<u32>();
            let a = gort::go(move || gort::blocking(|| rx.recv().unwrap() + 1));
            let b = gort::go(move || {
                if round % 2 == 0 {
                    gort::yield_now();
                }
                tx.send(round).unwrap();
                gort::blocking(|| rx2.recv().unwrap())
            });
            let c = gort::go(move || tx2.send(7).unwrap());
            c.join().unwrap();
            a.join().unwrap() + b.join().unwrap()
        });
        assert_eq!(v, round + 1 + 7);
    }
    assert_eq!(gort::procs(), 1);
    gort::set_procs(old);
}

#[test]
fn blocking_outside_goroutine_just_calls() {
    assert_eq!(gort::blocking(|| 5), 5);
}

#[test]
fn blocking_propagates_panics_and_recovers_the_p() {
    let r = gort::run(|| {
        let r = std::panic::catch_unwind(|| gort::blocking(|| -> () { panic!("in blocking") }));
        // After unwinding out of `blocking` the goroutine holds a P again.
        gort::yield_now();
        gort::sleep(Duration::from_millis(1));
        r.is_err()
    });
    assert!(r);
}
