//! Fault injection and extreme inputs: the OS refusing threads, timers at
//! `Duration::MAX` and deadlines in the past, channel ends and handles
//! dropped while a `select!` waits on them. (Stack exhaustion:
//! `tests/exhaustion.rs`; a full callback table: `ffi-tests/tests/exhaustion.rs`.)

mod common;
use common::{child_mode, run_child_ok};
use gort::context::{Context, ContextError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// With the OS refusing every thread after the first M, the program goes on
/// on that one (4 processors asked for): every goroutine runs, `blocking`
/// calls and timers included, and one warning says why.
#[test]
fn refused_threads_degrade_instead_of_aborting() {
    if child_mode().as_deref() == Some("no-threads") {
        let sum = gort::run(|| {
            let (tx, rx) = gort::chan::<u64>(8);
            let hs: Vec<_> = (0..2000u64)
                .map(|i| {
                    let tx = tx.clone();
                    gort::go(move || {
                        if i % 100 == 0 {
                            gort::blocking(|| std::thread::sleep(Duration::from_millis(2)));
                            gort::sleep(Duration::from_millis(1));
                        }
                        tx.send(i).unwrap();
                    })
                })
                .collect();
            drop(tx);
            let sum: u64 = rx.iter().sum();
            for h in hs {
                h.join().unwrap();
            }
            sum
        });
        assert_eq!(sum, 1999 * 2000 / 2);
        println!("procs={}", gort::procs());
        return;
    }
    let out = run_child_ok(
        "refused_threads_degrade_instead_of_aborting",
        "no-threads",
        &[("GORT_TEST_FAIL_NEWM", "1"), ("GORT_PROCS", "4")],
        Duration::from_secs(120),
        "refused threads",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gort: cannot create an OS thread"),
        "no warning in: {err}"
    );
    assert_eq!(
        err.matches("cannot create an OS thread").count(),
        1,
        "{err}"
    );
}

#[gort::test]
fn sleep_and_timers_at_duration_max() {
    // A sleeper that never wakes stays parked and costs nothing.
    let forever = gort::go(|| gort::sleep(Duration::MAX));
    gort::sleep(Duration::from_millis(5));
    assert!(!forever.is_finished());
    drop(forever); // detached: it sleeps on, harmlessly

    // `after(MAX)` in a select loses to a ready channel.
    let (tx, rx) = gort::chan::<u32>(1);
    tx.send(1).unwrap();
    gort::select! {
        recv(rx) -> v => assert_eq!(v, Ok(1)),
        after(Duration::MAX) => unreachable!(),
    }
    // A receive with a timeout of MAX gets a value sent later.
    let tx2 = tx.clone();
    gort::go(move || {
        gort::sleep(Duration::from_millis(5));
        tx2.send(2).unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(2));
    assert!(tx.send_timeout(3, Duration::MAX).is_ok());
    assert_eq!(rx.recv().unwrap(), 3);
    // Zero: no wait at all.
    assert!(rx.recv_timeout(Duration::ZERO).is_err());

    let t = gort::time::Timer::new(Duration::MAX);
    assert!(t.stop(), "a timer at MAX is pending until stopped");
    assert!(!t.stop());
    assert!(!t.reset(Duration::ZERO), "reset of a stopped timer");
    assert!(t.channel().recv_timeout(Duration::from_secs(10)).is_ok());
    let k = gort::time::Ticker::new(Duration::MAX);
    assert!(k.channel().try_recv().is_err());
    k.stop();
}

#[test]
fn timeouts_at_duration_max_from_a_plain_thread() {
    let (tx, rx) = gort::chan::<u32>(0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(9).unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(9));
    t.join().unwrap();
}

#[gort::test]
fn contexts_with_extreme_deadlines() {
    let bg = Context::background();
    // A deadline in the past: done at once, with DeadlineExceeded.
    let (past, _c) = bg.with_deadline(Instant::now() - Duration::from_secs(1));
    assert_eq!(
        past.done().recv_timeout(Duration::from_secs(10)),
        Err(gort::RecvTimeoutError::Closed)
    );
    assert_eq!(past.err(), Some(ContextError::DeadlineExceeded));
    // A timeout of MAX (no representable deadline): pending until cancelled.
    let (far, cancel) = bg.with_timeout(Duration::MAX);
    assert!(far.done().try_recv().is_err());
    assert_eq!(far.err(), None);
    cancel.cancel();
    assert_eq!(far.err(), Some(ContextError::Canceled));
}

#[gort::test]
fn socket_timeouts_at_duration_max_and_deadlines_in_the_past() {
    use std::io::{Read, Write};
    let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = gort::go(move || {
        let (mut c, _) = l.accept().unwrap();
        gort::sleep(Duration::from_millis(5));
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        let _ = c.read(&mut b); // until the client goes
    });
    let mut c = gort::net::TcpStream::connect_timeout(&addr, Duration::MAX).unwrap();
    c.set_read_timeout(Some(Duration::MAX)).unwrap();
    c.set_write_timeout(Some(Duration::MAX)).unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    // A deadline already past: the next read times out at once.
    c.set_read_deadline(Some(Instant::now() - Duration::from_secs(1)));
    let e = c.read(&mut b).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    drop(c);
    server.join().unwrap();
}

/// Counts drops: a value in a losing `send` arm must be dropped exactly
/// once, whatever ended the wait.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A goroutine waits in a `select!` on a receive, a send and nothing else;
/// another ends it at a varying moment by dropping the last `Sender` of the
/// receive arm (closing it), by dropping a `Callback` that holds that
/// sender, or by taking the value of the send arm. Thousands of rounds at
/// every timing: no hang, no lost or doubled value, every `Counted` dropped
/// once (the detached waiters' too, once they end).
#[gort::test]
fn dropping_ends_and_handles_at_every_point_of_a_select() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rounds = 3000u64;
    let mut made = 0usize;
    for round in 0..rounds {
        let (in_tx, in_rx) = gort::chan::<u64>(0);
        let (out_tx, out_rx) = gort::chan::<Counted>(0);
        let d = drops.clone();
        let waiter = gort::go(move || {
            gort::select! {
                recv(in_rx) -> v => {
                    assert!(v.is_err(), "nobody sends on in: only its close ends it");
                    0
                },
                send(out_tx, Counted(d)) -> r => {
                    r.unwrap();
                    1
                },
            }
        });
        made += 1;
        // Let the waiter get to a varying point: not started, registering,
        // parked.
        for _ in 0..round % 7 {
            gort::yield_now();
        }
        let won_send = match round % 3 {
            // Close the receive arm by dropping its only sender.
            0 => {
                drop(in_tx);
                let w = waiter.join().unwrap();
                drop(out_rx.try_recv()); // a send that won: its value comes here
                w
            }
            // The sender lives in a callback's closure; dropping the
            // callback drops it.
            1 => {
                let cb = gort::ffi::Callback::<extern "C" fn() -> u32>::new(move || {
                    let _keep = &in_tx;
                    7
                })
                .unwrap();
                assert_eq!((cb.as_fn())(), 7);
                drop(cb);
                let w = waiter.join().unwrap();
                drop(out_rx.try_recv());
                w
            }
            // Take the send arm's value; the receive arm's sender is then
            // dropped with the join handle already gone (detached).
            _ => {
                let v = out_rx.recv().unwrap();
                drop(v);
                drop(waiter);
                drop(in_tx);
                1
            }
        };
        let _ = won_send;
    }
    // Every Counted made (one per round) dropped exactly once; the detached
    // waiters may still be finishing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while drops.load(Ordering::SeqCst) < made && Instant::now() < deadline {
        gort::sleep(Duration::from_millis(1));
    }
    gort::sleep(Duration::from_millis(20));
    assert_eq!(drops.load(Ordering::SeqCst), made);
}
