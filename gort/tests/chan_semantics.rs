//! Channels: Go's semantics with Rust's error conventions (API.md, "Channels").
//!
//! Rendezvous, capacity, FIFO order, close (wakes every blocked receiver and
//! sender), closing on the last `Sender`'s drop, the `try_`/`_timeout`
//! variants and their errors, `len`/`capacity`/`is_closed`, `iter`, use from
//! plain threads, and drop accounting (no value lost or duplicated).
//!
//! Timing: the only time assertions are lower bounds ("at least d elapsed",
//! which load can only make safer) and "eventually, within 10 s". A few tests
//! check that something has *not* happened after a pause; a correct channel can
//! never make those fail, whatever the machine's load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort::{
    Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError, chan,
};

/// Generous bound for "eventually": never a speed requirement.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// A value whose drops are counted, per id and in total.
struct Tracked {
    id: usize,
    book: Arc<Book>,
}

struct Book {
    created: AtomicUsize,
    dropped: AtomicUsize,
    per_id: Vec<AtomicUsize>,
}

impl Book {
    fn new(n: usize) -> Arc<Book> {
        Arc::new(Book {
            created: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            per_id: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        })
    }
    fn make(self: &Arc<Self>, id: usize) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id,
            book: self.clone(),
        }
    }
    fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
    /// Every value made has been dropped exactly once.
    fn assert_all_dropped_once(&self) {
        assert_eq!(self.created(), self.dropped(), "values lost (leaked)");
        for (id, n) in self.per_id.iter().enumerate() {
            let n = n.load(Ordering::SeqCst);
            assert!(n <= 1, "value {id} dropped {n} times (duplicated)");
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.book.per_id[self.id].fetch_add(1, Ordering::SeqCst);
        self.book.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------- rendezvous

#[gort::test]
fn unbuffered_send_completes_only_when_a_receiver_takes_the_value() {
    let (tx, rx) = chan::<u32>(0);
    let sent = Arc::new(AtomicBool::new(false));
    let s = sent.clone();
    let sender = gort::go(move || {
        tx.send(42).unwrap();
        s.store(true, Ordering::SeqCst);
    });
    // No receiver yet: the send cannot have completed, however long we wait.
    gort::sleep(Duration::from_millis(50));
    assert!(
        !sent.load(Ordering::SeqCst),
        "send on an unbuffered channel completed with no receiver"
    );
    assert_eq!(rx.len(), 0, "an unbuffered channel holds no values");
    assert!(matches!(rx.recv(), Ok(42)));
    sender.join().unwrap();
    assert!(sent.load(Ordering::SeqCst));
}

/// When the sender's `send(i)` returns, the receiver has taken value i: the
/// number of completed sends never exceeds the number of values taken.
fn rendezvous_invariant(spawn: impl Fn(Box<dyn FnOnce() + Send>) -> Box<dyn FnOnce() + Send>) {
    const N: usize = 2000;
    let (tx, rx) = chan::<usize>(0);
    let completed = Arc::new(AtomicUsize::new(0));
    let c = completed.clone();
    let join_sender = spawn(Box::new(move || {
        for i in 0..N {
            tx.send(i).unwrap();
            c.store(i + 1, Ordering::SeqCst);
        }
    }));
    for taken in 0..N {
        // `taken` values have been received so far.
        let done = completed.load(Ordering::SeqCst);
        assert!(
            done <= taken,
            "sender completed {done} sends but only {taken} values were received"
        );
        if taken.is_multiple_of(64) {
            // Give a wrongly buffering sender every chance to run ahead.
            gort::sleep(Duration::from_millis(1));
        }
        assert_eq!(rx.recv().unwrap(), taken);
    }
    join_sender();
}

#[gort::test]
fn unbuffered_sender_never_runs_ahead_of_receiver_goroutines() {
    rendezvous_invariant(|f| {
        let h = gort::go(f);
        Box::new(move || h.join().unwrap())
    })
}

#[test]
fn unbuffered_sender_never_runs_ahead_of_receiver_threads() {
    rendezvous_invariant(|f| {
        let h = std::thread::spawn(f);
        Box::new(move || h.join().unwrap())
    });
}

#[gort::test]
fn unbuffered_try_send_succeeds_only_with_a_waiting_receiver() {
    let (tx, rx) = chan::<u32>(0);
    assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
    let receiver = gort::go(move || rx.recv());
    // Once the receiver is blocked in recv, a non-blocking send must hand over.
    let mut v = 7;
    let start = Instant::now();
    loop {
        match tx.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => v = back,
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(
            start.elapsed() < EVENTUALLY,
            "try_send never met the blocked receiver"
        );
        gort::sleep(Duration::from_millis(1));
    }
    assert!(matches!(receiver.join().unwrap(), Ok(7)));
}

#[gort::test]
fn unbuffered_try_recv_succeeds_only_with_a_waiting_sender() {
    let (tx, rx) = chan::<u32>(0);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    let sender = gort::go(move || tx.send(9));
    let start = Instant::now();
    let got = loop {
        match rx.try_recv() {
            Ok(v) => break v,
            Err(TryRecvError::Empty) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(
            start.elapsed() < EVENTUALLY,
            "try_recv never met the blocked sender"
        );
        gort::sleep(Duration::from_millis(1));
    };
    assert_eq!(got, 9);
    sender.join().unwrap().unwrap();
}

// ------------------------------------------------------------------ capacity

#[gort::test]
fn buffered_capacity_is_respected() {
    let (tx, rx) = chan::<u32>(3);
    assert_eq!(tx.capacity(), 3);
    assert_eq!(rx.capacity(), 3);
    for i in 0..3 {
        tx.try_send(i).unwrap();
        assert_eq!(tx.len(), i as usize + 1);
    }
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    assert_eq!(rx.len(), 3);

    // A blocking send on the full channel waits for a receive.
    let sent = Arc::new(AtomicBool::new(false));
    let (s, tx2) = (sent.clone(), tx.clone());
    let sender = gort::go(move || {
        tx2.send(3).unwrap();
        s.store(true, Ordering::SeqCst);
    });
    gort::sleep(Duration::from_millis(50));
    assert!(
        !sent.load(Ordering::SeqCst),
        "send on a full channel completed without a receive"
    );
    assert_eq!(rx.len(), 3, "a full channel grew beyond its capacity");
    assert_eq!(rx.recv().unwrap(), 0);
    sender.join().unwrap();
    assert!(sent.load(Ordering::SeqCst));
    assert_eq!(rx.len(), 3);
    let rest: Vec<u32> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
    assert_eq!(rest, [1, 2, 3]);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
}

#[test]
fn capacity_one_alternates() {
    let (tx, rx) = chan::<u32>(1);
    for i in 0..100 {
        tx.try_send(i).unwrap();
        assert!(matches!(tx.try_send(1000), Err(TrySendError::Full(1000))));
        assert_eq!(rx.try_recv().unwrap(), i);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }
}

// ----------------------------------------------------------------- FIFO order

#[gort::test]
fn fifo_order_single_producer() {
    for cap in [0usize, 1, 7, 128] {
        let (tx, rx) = chan::<u64>(cap);
        let producer = gort::go(move || {
            for i in 0..5000u64 {
                tx.send(i).unwrap();
                if i.is_multiple_of(97) {
                    gort::yield_now();
                }
            }
        });
        for i in 0..5000u64 {
            assert_eq!(rx.recv().unwrap(), i, "cap {cap}: out of order");
        }
        producer.join().unwrap();
        assert!(rx.recv().is_err(), "cap {cap}: closed after the producer");
    }
}

#[gort::test]
fn fifo_order_per_producer_with_many_producers() {
    for cap in [0usize, 3, 64] {
        let (tx, rx) = chan::<(usize, u32)>(cap);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                gort::go(move || {
                    for i in 0..1000u32 {
                        tx.send((p, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u32; 4];
        for (p, i) in rx.iter() {
            assert_eq!(i, next[p], "cap {cap}: producer {p} out of order");
            next[p] += 1;
        }
        assert_eq!(next, [1000; 4]);
        for p in producers {
            p.join().unwrap();
        }
    }
}

// --------------------------------------------------------------------- close

#[gort::test]
fn close_wakes_all_blocked_receivers() {
    for cap in [0usize, 4] {
        let (tx, rx) = chan::<u32>(cap);
        let started = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<_> = (0..10)
            .map(|_| {
                let (rx, started) = (rx.clone(), started.clone());
                gort::go(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    rx.recv()
                })
            })
            .collect();
        while started.load(Ordering::SeqCst) < 10 {
            gort::sleep(Duration::from_millis(1));
        }
        gort::sleep(Duration::from_millis(20));
        assert!(receivers.iter().all(|h| !h.is_finished()));
        assert!(tx.close());
        for h in receivers {
            assert!(
                matches!(h.join().unwrap(), Err(RecvError)),
                "cap {cap}: blocked receiver got a value from a closed empty channel"
            );
        }
    }
}

#[test]
fn close_wakes_all_blocked_senders_and_returns_their_values() {
    gort::run(|| {
        for cap in [0usize, 2] {
            let (tx, rx) = chan::<u32>(cap);
            for i in 0..cap as u32 {
                tx.send(100 + i).unwrap();
            }
            let started = Arc::new(AtomicUsize::new(0));
            let senders: Vec<_> = (0..10u32)
                .map(|i| {
                    let (tx, started) = (tx.clone(), started.clone());
                    gort::go(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        (i, tx.send(i))
                    })
                })
                .collect();
            while started.load(Ordering::SeqCst) < 10 {
                gort::sleep(Duration::from_millis(1));
            }
            gort::sleep(Duration::from_millis(20));
            assert!(senders.iter().all(|h| !h.is_finished()));
            assert!(tx.close());
            for h in senders {
                let (i, r) = h.join().unwrap();
                match r {
                    Err(SendError(v)) => assert_eq!(v, i, "cap {cap}: wrong value returned"),
                    Ok(()) => panic!("cap {cap}: send {i} succeeded on a closed channel"),
                }
            }
            // The values buffered before close are still there, then Err.
            for i in 0..cap as u32 {
                assert_eq!(rx.recv().unwrap(), 100 + i);
            }
            assert!(matches!(rx.recv(), Err(RecvError)));
        }
    });
}

#[test]
fn receivers_drain_buffered_values_after_close() {
    let (tx, rx) = chan::<u32>(8);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert!(tx.close());
    assert!(rx.is_closed());
    assert!(tx.is_closed());
    assert_eq!(rx.len(), 5);
    assert_eq!(rx.recv().unwrap(), 0);
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert_eq!(rx.recv_timeout(Duration::from_millis(10)).unwrap(), 2);
    assert_eq!(rx.iter().collect::<Vec<_>>(), [3, 4]);
    assert!(matches!(rx.recv(), Err(RecvError)));
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Closed)
    ));
    // Still closed, still Err (not a panic) on every later call.
    assert!(matches!(rx.recv(), Err(RecvError)));
}

#[test]
fn send_on_closed_is_err_and_second_close_is_false() {
    for cap in [0usize, 1, 4] {
        let (tx, rx) = chan::<String>(cap);
        assert!(!tx.is_closed());
        assert!(tx.close(), "first close returns true");
        assert!(!tx.close(), "second close returns false");
        assert!(!tx.clone().close(), "a clone sees the same closed channel");
        match tx.send(String::from("x")) {
            Err(SendError(v)) => assert_eq!(v, "x"),
            Ok(()) => panic!("send on a closed channel succeeded"),
        }
        assert!(matches!(tx.try_send(String::from("y")), Err(TrySendError::Closed(v)) if v == "y"));
        assert!(matches!(
            tx.send_timeout(String::from("z"), Duration::from_millis(5)),
            Err(SendTimeoutError::Closed(v)) if v == "z"
        ));
        assert!(rx.is_closed());
        assert_eq!(rx.len(), 0);
        assert!(rx.recv().is_err());
    }
}

#[test]
fn channel_closes_when_last_sender_is_dropped() {
    let (tx, rx) = chan::<u32>(2);
    let tx2 = tx.clone();
    let tx3 = tx2.clone();
    tx.send(1).unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "closed while clones remain");
    assert_eq!(rx.recv().unwrap(), 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    drop(tx2);
    assert!(!rx.is_closed(), "closed while a clone remains");
    tx3.send(2).unwrap();
    drop(tx3);
    assert!(
        rx.is_closed(),
        "not closed after the last sender was dropped"
    );
    assert_eq!(
        rx.recv().unwrap(),
        2,
        "buffered value lost when the last sender dropped"
    );
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    assert!(matches!(rx.recv(), Err(RecvError)));
}

#[gort::test]
fn dropping_last_sender_wakes_blocked_receivers() {
    let (tx, rx) = chan::<u32>(0);
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            gort::go(move || rx.recv())
        })
        .collect();
    // A thread blocked too.
    let rx_t = rx.clone();
    let thread = std::thread::spawn(move || rx_t.recv());
    gort::sleep(Duration::from_millis(20));
    let tx2 = tx.clone();
    drop(tx);
    gort::sleep(Duration::from_millis(20));
    assert!(receivers.iter().all(|h| !h.is_finished()));
    drop(tx2);
    for h in receivers {
        assert!(matches!(h.join().unwrap(), Err(RecvError)));
    }
    assert!(matches!(thread.join().unwrap(), Err(RecvError)));
}

// ------------------------------------------------------ try_ / _timeout forms

#[test]
fn try_send_and_try_recv_errors() {
    let (tx, rx) = chan::<u8>(1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    tx.try_send(1).unwrap();
    assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    tx.try_send(3).unwrap();
    assert!(tx.close());
    // Full channel, then closed: Closed wins (the value is returned either way).
    assert!(matches!(tx.try_send(4), Err(TrySendError::Closed(4))));
    assert_eq!(rx.try_recv().unwrap(), 3);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
}

#[test]
fn send_timeout_returns_the_value_on_timeout() {
    let check = || {
        for cap in [0usize, 1] {
            let (tx, rx) = chan::<String>(cap);
            if cap == 1 {
                tx.send(String::from("filler")).unwrap();
            }
            let d = Duration::from_millis(30);
            let start = Instant::now();
            match tx.send_timeout(String::from("v"), d) {
                Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, "v"),
                other => panic!(
                    "cap {cap}: expected Timeout, got {:?}",
                    other.map_err(|e| e.to_string())
                ),
            }
            assert!(
                start.elapsed() >= d,
                "cap {cap}: send_timeout returned early"
            );
            // The value did not get into the channel.
            assert_eq!(rx.len(), cap);
            if cap == 1 {
                assert_eq!(rx.recv().unwrap(), "filler");
            }
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        }
    };
    check();
    gort::run(check);
}

#[gort::test]
fn send_timeout_succeeds_when_a_receiver_comes() {
    let (tx, rx) = chan::<u32>(0);
    let receiver = gort::go(move || {
        gort::sleep(Duration::from_millis(10));
        rx.recv()
    });
    tx.send_timeout(5, EVENTUALLY).unwrap();
    assert!(matches!(receiver.join().unwrap(), Ok(5)));
}

#[gort::test]
fn send_timeout_on_close_while_waiting_returns_closed_with_value() {
    let (tx, _rx) = chan::<u32>(0);
    let tx2 = tx.clone();
    let sender = gort::go(move || tx2.send_timeout(77, EVENTUALLY));
    gort::sleep(Duration::from_millis(20));
    assert!(tx.close());
    assert!(matches!(
        sender.join().unwrap(),
        Err(SendTimeoutError::Closed(77))
    ));
}

#[test]
fn recv_timeout_timeout_closed_and_value() {
    let check = || {
        let (tx, rx) = chan::<u32>(0);
        let d = Duration::from_millis(30);
        let start = Instant::now();
        assert!(matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout)));
        assert!(start.elapsed() >= d, "recv_timeout returned early");
        // A value sent while waiting arrives.
        let tx2 = tx.clone();
        let sender = gort::go(move || {
            gort::sleep(Duration::from_millis(10));
            tx2.send(3)
        });
        assert_eq!(rx.recv_timeout(EVENTUALLY).unwrap(), 3);
        sender.join().unwrap().unwrap();
        // Closing while waiting wakes the receiver with Closed.
        let closer = gort::go(move || {
            gort::sleep(Duration::from_millis(10));
            tx.close()
        });
        let start = Instant::now();
        assert!(matches!(
            rx.recv_timeout(EVENTUALLY),
            Err(RecvTimeoutError::Closed)
        ));
        assert!(start.elapsed() < EVENTUALLY);
        assert!(closer.join().unwrap());
    };
    check();
    gort::run(check);
}

#[test]
fn zero_timeouts_behave_like_try() {
    let (tx, rx) = chan::<u32>(1);
    assert!(matches!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    ));
    tx.send_timeout(1, Duration::ZERO).unwrap();
    assert!(matches!(
        tx.send_timeout(2, Duration::ZERO),
        Err(SendTimeoutError::Timeout(2))
    ));
    assert_eq!(rx.recv_timeout(Duration::ZERO).unwrap(), 1);
}

// -------------------------------------------------- len / capacity / closed

#[test]
fn len_capacity_is_closed() {
    let (tx, rx) = chan::<u32>(0);
    assert_eq!((tx.len(), tx.capacity()), (0, 0));
    assert_eq!((rx.len(), rx.capacity()), (0, 0));
    assert!(!tx.is_closed() && !rx.is_closed());

    let (tx, rx) = chan::<u32>(5);
    assert_eq!((tx.len(), tx.capacity(), rx.capacity()), (0, 5, 5));
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!((tx.len(), rx.len()), (2, 2));
    rx.recv().unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    let rx2 = rx.clone();
    assert_eq!((rx2.len(), rx2.capacity()), (1, 5));
    assert!(tx.close());
    assert!(tx.is_closed() && rx.is_closed() && rx2.is_closed());
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.capacity(), 5);
}

#[gort::test]
fn iter_ends_when_closed_and_drained() {
    let (tx, rx) = chan::<u32>(4);
    let producer = gort::go(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        // Dropping the last sender closes the channel.
    });
    let got: Vec<u32> = rx.iter().collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    producer.join().unwrap();

    let (tx, rx) = chan::<u32>(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(tx.close());
    assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rx.iter().count(), 0);
    drop(tx);
}

// ------------------------------------------------------------ error types

struct NoDebug(#[allow(dead_code)] u8);

fn is_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
    let d = format!("{e:?}");
    let s = format!("{e}");
    assert!(!d.is_empty());
    assert!(!s.is_empty());
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    boxed.to_string()
}

#[test]
fn error_types_are_debug_display_error_without_t_debug() {
    assert!(!is_error(SendError(NoDebug(1))).is_empty());
    assert!(!is_error(TrySendError::Full(NoDebug(1))).is_empty());
    assert!(!is_error(TrySendError::Closed(NoDebug(1))).is_empty());
    assert!(!is_error(SendTimeoutError::Timeout(NoDebug(1))).is_empty());
    assert!(!is_error(SendTimeoutError::Closed(NoDebug(1))).is_empty());
    assert!(!is_error(RecvError).is_empty());
    assert!(!is_error(TryRecvError::Empty).is_empty());
    assert!(!is_error(TryRecvError::Closed).is_empty());
    assert!(!is_error(RecvTimeoutError::Timeout).is_empty());
    assert!(!is_error(RecvTimeoutError::Closed).is_empty());
    // The variants are told apart in their messages.
    assert_ne!(
        TrySendError::Full(NoDebug(0)).to_string(),
        TrySendError::Closed(NoDebug(0)).to_string()
    );
    assert_ne!(
        TryRecvError::Empty.to_string(),
        TryRecvError::Closed.to_string()
    );
    assert_ne!(
        RecvTimeoutError::Timeout.to_string(),
        RecvTimeoutError::Closed.to_string()
    );
    assert_ne!(
        SendTimeoutError::Timeout(NoDebug(0)).to_string(),
        SendTimeoutError::Closed(NoDebug(0)).to_string()
    );
    // `?` into a boxed error works from a real failure.
    fn f() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, _rx) = chan::<NoDebug>(0);
        assert!(tx.close());
        tx.send(NoDebug(3))?;
        Ok(())
    }
    assert!(f().is_err());
    // The value comes back out of the error.
    let (tx, _rx) = chan::<NoDebug>(0);
    assert!(tx.close());
    let SendError(NoDebug(v)) = tx.send(NoDebug(5)).unwrap_err();
    assert_eq!(v, 5);
}

// ------------------------------------------------------ auto traits, threads

#[test]
fn handles_are_clone_send_sync() {
    fn assert_all<T: Clone + Send + Sync + 'static>() {}
    assert_all::<Sender<u32>>();
    assert_all::<Receiver<u32>>();
    assert_all::<Sender<String>>();
    assert_all::<Receiver<Vec<u8>>>();
    // T need only be Send: values are moved through, never shared.
    assert_all::<Sender<std::cell::Cell<u32>>>();
    assert_all::<Receiver<std::cell::Cell<u32>>>();
    // Shared by reference between goroutines.
    let (tx, rx) = chan::<u32>(16);
    let tx = Arc::new(tx);
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let tx = tx.clone();
            gort::go(move || tx.send(i).unwrap())
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let mut got: Vec<u32> = (0..4).map(|_| rx.recv().unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn plain_threads_only() {
    for cap in [0usize, 1, 16] {
        let (tx, rx) = chan::<u64>(cap);
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        tx.send(p * 1000 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    rx.iter().fold((0u64, 0usize), |(s, n), v| (s + v, n + 1))
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let (sum, n) = consumers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |(s, n), (s2, n2)| (s + s2, n + n2));
        assert_eq!(n, 1500, "cap {cap}");
        let expect: u64 = (0..3u64)
            .map(|p| (0..500).map(|i| p * 1000 + i).sum::<u64>())
            .sum();
        assert_eq!(sum, expect, "cap {cap}");
    }
}

#[test]
fn mixed_threads_and_goroutines() {
    for cap in [0usize, 2] {
        // Goroutine producers, thread consumer; then thread producer, goroutine consumer.
        let (tx, rx) = chan::<u64>(cap);
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                gort::go(move || {
                    for i in 0..250 {
                        tx.send(p * 250 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumer = std::thread::spawn(move || rx.iter().sum::<u64>());
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(
            consumer.join().unwrap(),
            (0..1000).sum::<u64>(),
            "cap {cap}"
        );

        let (tx, rx) = chan::<u64>(cap);
        let (back_tx, back_rx) = chan::<u64>(cap);
        let producer = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
                // Ping-pong: the thread also receives from a goroutine.
                assert_eq!(back_rx.recv().unwrap(), i * 2);
            }
        });
        let consumer = gort::go(move || {
            let mut sum = 0;
            for v in rx.iter() {
                sum += v;
                back_tx.send(v * 2).unwrap();
            }
            sum
        });
        producer.join().unwrap();
        assert_eq!(
            consumer.join().unwrap(),
            (0..1000).sum::<u64>(),
            "cap {cap}"
        );
    }
}

#[test]
fn blocked_goroutines_do_not_hold_their_threads() {
    // Far more goroutines blocked in recv than there are threads; a worker
    // that needs a thread still runs, so blocking parks rather than blocks.
    gort::run(|| {
        let (tx, rx) = chan::<u32>(0);
        let blocked: Vec<_> = (0..256)
            .map(|_| {
                let rx = rx.clone();
                gort::go(move || rx.recv().unwrap())
            })
            .collect();
        let n = gort::go(|| (0..1000u32).sum::<u32>()).join().unwrap();
        assert_eq!(n, 499_500);
        for i in 0..256 {
            tx.send(i).unwrap();
        }
        let mut got: Vec<u32> = blocked.into_iter().map(|h| h.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..256).collect::<Vec<_>>());
    });
}

// ------------------------------------------------------------ drop accounting

#[test]
fn buffered_values_are_dropped_when_all_handles_drop() {
    let book = Book::new(8);
    let (tx, rx) = chan::<Tracked>(8);
    for i in 0..5 {
        tx.send(book.make(i)).unwrap();
    }
    assert_eq!(book.dropped(), 0);
    let got = rx.recv().unwrap();
    assert_eq!(got.id, 0);
    drop(got);
    assert_eq!(book.dropped(), 1);
    drop(rx);
    // The Sender still holds the channel: nothing may be dropped twice, and
    // after the last handle goes every buffered value is dropped once.
    assert!(book.dropped() <= 5);
    drop(tx);
    assert_eq!(book.dropped(), 5, "values left in the buffer leaked");
    book.assert_all_dropped_once();
}

#[test]
fn buffered_values_are_dropped_when_closed_then_dropped() {
    let book = Book::new(8);
    {
        let (tx, rx) = chan::<Tracked>(4);
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        for i in 0..4 {
            tx.send(book.make(i)).unwrap();
        }
        assert!(tx.close());
        // Rejected sends hand back their value; the caller drops it.
        match tx2.try_send(book.make(4)) {
            Err(TrySendError::Closed(v)) => assert_eq!(v.id, 4),
            _ => panic!("try_send on closed"),
        }
        assert_eq!(book.dropped(), 1);
        let r = tx2.send(book.make(5));
        assert!(r.is_err());
        drop(r);
        assert_eq!(book.dropped(), 2);
        let a = rx2.recv().unwrap();
        assert_eq!(a.id, 0);
        drop((tx, rx, tx2, rx2));
        assert_eq!(book.dropped(), 5);
        drop(a);
    }
    assert_eq!(book.created(), 6);
    book.assert_all_dropped_once();
}

#[test]
fn values_never_lost_or_duplicated_with_close_midway() {
    // Producers send tracked values while a closer closes the channel midway;
    // every value made is received or handed back, never both, and dropped once.
    const PRODUCERS: usize = 4;
    const PER: usize = 2000;
    for cap in [0usize, 1, 16] {
        let book = Book::new(PRODUCERS * PER);
        let received = Arc::new(
            (0..PRODUCERS * PER)
                .map(|_| AtomicUsize::new(0))
                .collect::<Vec<_>>(),
        );
        let returned = Arc::new(
            (0..PRODUCERS * PER)
                .map(|_| AtomicUsize::new(0))
                .collect::<Vec<_>>(),
        );
        gort::run({
            let (book, received, returned) = (book.clone(), received.clone(), returned.clone());
            move || {
                let (tx, rx) = chan::<Tracked>(cap);
                let producers: Vec<_> = (0..PRODUCERS)
                    .map(|p| {
                        let (tx, book, returned) = (tx.clone(), book.clone(), returned.clone());
                        gort::go(move || {
                            for i in 0..PER {
                                let id = p * PER + i;
                                let v = book.make(id);
                                let r = if i.is_multiple_of(3) {
                                    tx.try_send(v).map_err(|e| match e {
                                        TrySendError::Full(v) | TrySendError::Closed(v) => v,
                                    })
                                } else if i % 3 == 1 {
                                    tx.send_timeout(v, Duration::from_micros(50)).map_err(|e| {
                                        match e {
                                            SendTimeoutError::Timeout(v)
                                            | SendTimeoutError::Closed(v) => v,
                                        }
                                    })
                                } else {
                                    tx.send(v).map_err(|SendError(v)| v)
                                };
                                if let Err(v) = r {
                                    assert_eq!(v.id, id, "a different value came back");
                                    returned[id].fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        })
                    })
                    .collect();
                let consumers: Vec<_> = (0..3)
                    .map(|_| {
                        let (rx, received) = (rx.clone(), received.clone());
                        gort::go(move || {
                            let mut n = 0usize;
                            while let Ok(v) = rx.recv() {
                                received[v.id].fetch_add(1, Ordering::SeqCst);
                                n += 1;
                                if n.is_multiple_of(5) {
                                    gort::yield_now();
                                }
                            }
                        })
                    })
                    .collect();
                gort::sleep(Duration::from_millis(2));
                assert!(tx.close());
                drop(tx);
                for p in producers {
                    p.join().unwrap();
                }
                for c in consumers {
                    c.join().unwrap();
                }
                drop(rx);
            }
        });
        assert_eq!(book.created(), PRODUCERS * PER);
        for id in 0..PRODUCERS * PER {
            let r = received[id].load(Ordering::SeqCst);
            let b = returned[id].load(Ordering::SeqCst);
            assert_eq!(
                r + b,
                1,
                "cap {cap}: value {id} received {r} times and handed back {b} times"
            );
        }
        book.assert_all_dropped_once();
    }
}
