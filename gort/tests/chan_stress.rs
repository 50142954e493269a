//! Channel stress: many producers and consumers, every capacity class, with
//! 1, 2 and 8 processors; timeouts racing with hand-offs; select-based
//! producers and consumers. Every check is exact (sums, counts, and a per-value
//! "seen" table), never a speed.
//!
//! `set_procs` is process-wide and the tests of one binary share the runtime,
//! so every test here takes `SERIAL` and sets the processor count itself,
//! restoring the initial one when done.

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gort::{RecvTimeoutError, SendTimeoutError, chan};

const PROCS: [usize; 3] = [1, 2, 8];
const EVENTUALLY: Duration = Duration::from_secs(10);

static SERIAL: Mutex<()> = Mutex::new(());

/// Restores the processor count (and releases `SERIAL`) even if a check fails.
struct ProcsGuard {
    initial: usize,
    _serial: MutexGuard<'static, ()>,
}

impl Drop for ProcsGuard {
    fn drop(&mut self) {
        gort::set_procs(self.initial);
    }
}

/// Runs `f(procs)` for procs = 1, 2, 8, serialised with the other tests here.
fn for_each_procs(mut f: impl FnMut(usize)) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _guard = ProcsGuard {
        initial: gort::procs(),
        _serial: serial,
    };
    for p in PROCS {
        gort::set_procs(p);
        assert_eq!(gort::procs(), p);
        f(p);
    }
}

/// One flag per value: set once; a second set is a duplicate.
struct Seen(Vec<AtomicU8>);

impl Seen {
    fn new(n: usize) -> Arc<Seen> {
        Arc::new(Seen((0..n).map(|_| AtomicU8::new(0)).collect()))
    }
    fn mark(&self, v: u64, what: &str) {
        let prev = self.0[v as usize].fetch_add(1, Ordering::SeqCst);
        assert_eq!(prev, 0, "{what}: value {v} seen twice");
    }
    fn get(&self, v: usize) -> u8 {
        self.0[v].load(Ordering::SeqCst)
    }
    fn all_once(&self, what: &str) {
        for (v, s) in self.0.iter().enumerate() {
            assert_eq!(s.load(Ordering::SeqCst), 1, "{what}: value {v}");
        }
    }
}

/// xorshift64 for tiny pseudo-random timeouts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn tiny(&mut self) -> Duration {
        const CHOICES: [u64; 6] = [0, 1, 5, 20, 50, 200];
        Duration::from_micros(CHOICES[(self.next() % 6) as usize])
    }
}

// ------------------------------------------------------------ 8 x 8 x caps

#[test]
fn eight_producers_eight_consumers_exact() {
    const PRODUCERS: u64 = 8;
    const CONSUMERS: usize = 8;
    const PER: u64 = 40_000;
    const TOTAL: u64 = PRODUCERS * PER;
    for_each_procs(|procs| {
        for cap in [0usize, 1, 64] {
            let what = format!("procs {procs} cap {cap}");
            let seen = Seen::new(TOTAL as usize);
            let (sum, count) = gort::run({
                let (seen, what) = (seen.clone(), what.clone());
                move || {
                    let (tx, rx) = chan::<u64>(cap);
                    let producers: Vec<_> = (0..PRODUCERS)
                        .map(|p| {
                            let tx = tx.clone();
                            gort::go(move || {
                                for v in p * PER..(p + 1) * PER {
                                    tx.send(v).unwrap();
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    let consumers: Vec<_> = (0..CONSUMERS)
                        .map(|_| {
                            let (rx, seen, what) = (rx.clone(), seen.clone(), what.clone());
                            gort::go(move || {
                                let (mut sum, mut n) = (0u64, 0u64);
                                while let Ok(v) = rx.recv() {
                                    seen.mark(v, &what);
                                    sum += v;
                                    n += 1;
                                }
                                (sum, n)
                            })
                        })
                        .collect();
                    for p in producers {
                        p.join().unwrap();
                    }
                    consumers
                        .into_iter()
                        .map(|c| c.join().unwrap())
                        .fold((0, 0), |(s, n), (s2, n2)| (s + s2, n + n2))
                }
            });
            assert_eq!(count, TOTAL, "{what}: count");
            assert_eq!(sum, TOTAL * (TOTAL - 1) / 2, "{what}: sum");
            seen.all_once(&what);
        }
    });
}

#[test]
fn threads_and_goroutines_mixed_exact() {
    const PER: u64 = 4000;
    const TOTAL: u64 = 8 * PER;
    for_each_procs(|procs| {
        for cap in [0usize, 1, 64] {
            let what = format!("procs {procs} cap {cap}");
            let seen = Seen::new(TOTAL as usize);
            let (tx, rx) = chan::<u64>(cap);
            // Four producers of each kind, four consumers of each kind.
            let mut producers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
            for p in 0..8u64 {
                let tx = tx.clone();
                let body = move || {
                    for v in p * PER..(p + 1) * PER {
                        tx.send(v).unwrap();
                    }
                };
                if p.is_multiple_of(2) {
                    let h = gort::go(body);
                    producers.push(Box::new(move || h.join().unwrap()));
                } else {
                    let h = std::thread::spawn(body);
                    producers.push(Box::new(move || h.join().unwrap()));
                }
            }
            drop(tx);
            let mut consumers: Vec<Box<dyn FnOnce() -> (u64, u64) + Send>> = Vec::new();
            for c in 0..8 {
                let (rx, seen, what) = (rx.clone(), seen.clone(), what.clone());
                let body = move || {
                    let (mut sum, mut n) = (0u64, 0u64);
                    for v in rx.iter() {
                        seen.mark(v, &what);
                        sum += v;
                        n += 1;
                    }
                    (sum, n)
                };
                if c % 2 == 0 {
                    let h = gort::go(body);
                    consumers.push(Box::new(move || h.join().unwrap()));
                } else {
                    let h = std::thread::spawn(body);
                    consumers.push(Box::new(move || h.join().unwrap()));
                }
            }
            drop(rx);
            for p in producers {
                p();
            }
            let (sum, count) = consumers
                .into_iter()
                .map(|c| c())
                .fold((0, 0), |(s, n), (s2, n2)| (s + s2, n + n2));
            assert_eq!(count, TOTAL, "{what}: count");
            assert_eq!(sum, TOTAL * (TOTAL - 1) / 2, "{what}: sum");
            seen.all_once(&what);
        }
    });
}

// ------------------------------------------------- timeouts racing hand-offs

#[test]
fn timeouts_racing_sends_and_receives() {
    // Senders use send_timeout and receivers recv_timeout, both with tiny
    // timeouts, so timeouts fire while hand-offs are under way. A value whose
    // send returned Ok is received exactly once; one whose send returned
    // Timeout(v) came back to its sender and is never received.
    const SENDERS: u64 = 4;
    const PER: u64 = 20_000;
    const TOTAL: u64 = SENDERS * PER;
    for_each_procs(|procs| {
        for cap in [0usize, 1, 4] {
            let what = format!("procs {procs} cap {cap}");
            let received = Seen::new(TOTAL as usize);
            let sent_ok = Seen::new(TOTAL as usize);
            let returned = Seen::new(TOTAL as usize);
            let recv_sum = Arc::new(AtomicU64::new(0));
            let (ok_sum, back_sum) = gort::run({
                let (received, sent_ok, returned) =
                    (received.clone(), sent_ok.clone(), returned.clone());
                let (recv_sum, what) = (recv_sum.clone(), what.clone());
                move || {
                    let (tx, rx) = chan::<u64>(cap);
                    let senders: Vec<_> = (0..SENDERS)
                        .map(|s| {
                            let (tx, sent_ok, returned, what) =
                                (tx.clone(), sent_ok.clone(), returned.clone(), what.clone());
                            gort::go(move || {
                                let mut rng = Rng(0x1234_5678 + s);
                                let (mut ok, mut back) = (0u64, 0u64);
                                for v in s * PER..(s + 1) * PER {
                                    match tx.send_timeout(v, rng.tiny()) {
                                        Ok(()) => {
                                            sent_ok.mark(v, &what);
                                            ok += v;
                                        }
                                        Err(SendTimeoutError::Timeout(b)) => {
                                            assert_eq!(b, v, "{what}: another value came back");
                                            returned.mark(v, &what);
                                            back += v;
                                        }
                                        Err(SendTimeoutError::Closed(_)) => {
                                            panic!("{what}: closed while senders remain")
                                        }
                                    }
                                }
                                (ok, back)
                            })
                        })
                        .collect();
                    drop(tx);
                    let receivers: Vec<_> = (0..4u64)
                        .map(|r| {
                            let (rx, received, recv_sum, what) =
                                (rx.clone(), received.clone(), recv_sum.clone(), what.clone());
                            gort::go(move || {
                                let mut rng = Rng(0x9abc_def0 + r);
                                loop {
                                    match rx.recv_timeout(rng.tiny()) {
                                        Ok(v) => {
                                            received.mark(v, &what);
                                            recv_sum.fetch_add(v, Ordering::SeqCst);
                                        }
                                        Err(RecvTimeoutError::Timeout) => {}
                                        Err(RecvTimeoutError::Closed) => break,
                                    }
                                }
                            })
                        })
                        .collect();
                    let sums = senders
                        .into_iter()
                        .map(|s| s.join().unwrap())
                        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
                    for r in receivers {
                        r.join().unwrap();
                    }
                    sums
                }
            });
            assert_eq!(ok_sum + back_sum, TOTAL * (TOTAL - 1) / 2, "{what}");
            assert_eq!(
                recv_sum.load(Ordering::SeqCst),
                ok_sum,
                "{what}: received sum differs from the sum of successful sends"
            );
            let (mut n_ok, mut n_back) = (0, 0);
            for v in 0..TOTAL as usize {
                let (r, o, b) = (received.get(v), sent_ok.get(v), returned.get(v));
                assert_eq!(o + b, 1, "{what}: value {v}: send Ok {o}, returned {b}");
                assert_eq!(
                    r, o,
                    "{what}: value {v}: received {r} times, send returned Ok {o} times"
                );
                n_ok += o as usize;
                n_back += b as usize;
            }
            assert_eq!(n_ok + n_back, TOTAL as usize);
        }
    });
}

#[test]
fn timeouts_racing_close() {
    // Blocked send_timeout/recv_timeout calls racing with close: every value
    // is received or handed back (Timeout or Closed), never both.
    const SENDERS: u64 = 4;
    const PER: u64 = 1000;
    const TOTAL: u64 = SENDERS * PER;
    for_each_procs(|procs| {
        for cap in [0usize, 2] {
            let what = format!("procs {procs} cap {cap}");
            let received = Seen::new(TOTAL as usize);
            let returned = Seen::new(TOTAL as usize);
            gort::run({
                let (received, returned, what) = (received.clone(), returned.clone(), what.clone());
                move || {
                    let (tx, rx) = chan::<u64>(cap);
                    let senders: Vec<_> = (0..SENDERS)
                        .map(|s| {
                            let (tx, returned, what) = (tx.clone(), returned.clone(), what.clone());
                            gort::go(move || {
                                let mut rng = Rng(77 + s);
                                for v in s * PER..(s + 1) * PER {
                                    match tx.send_timeout(v, rng.tiny()) {
                                        Ok(()) => {}
                                        Err(
                                            SendTimeoutError::Timeout(b)
                                            | SendTimeoutError::Closed(b),
                                        ) => {
                                            assert_eq!(b, v);
                                            returned.mark(v, &what);
                                        }
                                    }
                                }
                            })
                        })
                        .collect();
                    let receivers: Vec<_> = (0..3u64)
                        .map(|r| {
                            let (rx, received, what) = (rx.clone(), received.clone(), what.clone());
                            gort::go(move || {
                                let mut rng = Rng(99 + r);
                                loop {
                                    match rx.recv_timeout(rng.tiny()) {
                                        Ok(v) => received.mark(v, &what),
                                        Err(RecvTimeoutError::Timeout) => {}
                                        Err(RecvTimeoutError::Closed) => break,
                                    }
                                }
                            })
                        })
                        .collect();
                    gort::sleep(Duration::from_millis(3));
                    assert!(tx.close());
                    for s in senders {
                        s.join().unwrap();
                    }
                    for r in receivers {
                        r.join().unwrap();
                    }
                }
            });
            for v in 0..TOTAL as usize {
                let (r, b) = (received.get(v), returned.get(v));
                assert_eq!(r + b, 1, "{what}: value {v}: received {r}, handed back {b}");
            }
        }
    });
}

// ------------------------------------------------------------- with select!

#[test]
fn select_producers_and_consumers_exact() {
    // Producers select a send over two channels (with an `after` that makes
    // them retry); consumers select a receive over both (with an `after` for
    // idle rounds). Each value must arrive exactly once.
    const PRODUCERS: u64 = 6;
    const PER: u64 = 10_000;
    const TOTAL: u64 = PRODUCERS * PER;
    for_each_procs(|procs| {
        for (cap_a, cap_b) in [(0usize, 0usize), (0, 1), (64, 3)] {
            let what = format!("procs {procs} caps {cap_a}/{cap_b}");
            let seen = Seen::new(TOTAL as usize);
            let (sum, count, _per_chan) = gort::run({
                let (seen, what) = (seen.clone(), what.clone());
                move || {
                    let (ta, ra) = chan::<u64>(cap_a);
                    let (tb, rb) = chan::<u64>(cap_b);
                    let producers: Vec<_> = (0..PRODUCERS)
                        .map(|p| {
                            let (ta, tb) = (ta.clone(), tb.clone());
                            gort::go(move || {
                                for v in p * PER..(p + 1) * PER {
                                    let start = std::time::Instant::now();
                                    loop {
                                        let mut done = false;
                                        gort::select! {
                                            send(ta, v) -> r => { r.unwrap(); done = true; },
                                            send(tb, v) -> r => { r.unwrap(); done = true; },
                                            after(Duration::from_micros(50)) => {},
                                        }
                                        if done {
                                            break;
                                        }
                                        assert!(start.elapsed() < EVENTUALLY, "producer stuck");
                                    }
                                }
                            })
                        })
                        .collect();
                    drop((ta, tb));
                    let consumers: Vec<_> = (0..6)
                        .map(|_| {
                            let (ra, rb, seen, what) =
                                (ra.clone(), rb.clone(), seen.clone(), what.clone());
                            gort::go(move || {
                                let (mut sum, mut n, mut from) = (0u64, 0u64, [0u64; 2]);
                                let mut closed = [false; 2];
                                while !(closed[0] && closed[1]) {
                                    let mut got = None;
                                    gort::select! {
                                        recv(ra) -> v => match v { Ok(v) => got = Some((0, v)), Err(_) => closed[0] = true },
                                        recv(rb) -> v => match v { Ok(v) => got = Some((1, v)), Err(_) => closed[1] = true },
                                        after(Duration::from_micros(100)) => {},
                                    }
                                    if let Some((i, v)) = got {
                                        seen.mark(v, &what);
                                        sum += v;
                                        n += 1;
                                        from[i] += 1;
                                    }
                                }
                                (sum, n, from)
                            })
                        })
                        .collect();
                    for p in producers {
                        p.join().unwrap();
                    }
                    consumers
                        .into_iter()
                        .map(|c| c.join().unwrap())
                        .fold((0, 0, [0, 0]), |(s, n, f), (s2, n2, f2)| {
                            (s + s2, n + n2, [f[0] + f2[0], f[1] + f2[1]])
                        })
                }
            });
            assert_eq!(count, TOTAL, "{what}: count");
            assert_eq!(sum, TOTAL * (TOTAL - 1) / 2, "{what}: sum");
            seen.all_once(&what);
        }
    });
}

#[test]
fn ping_pong_unbuffered_many_pairs() {
    // Pairs of goroutines bounce a counter over unbuffered channels: every
    // hand-off is a rendezvous, so the final values are exact.
    const PAIRS: usize = 64;
    const ROUNDS: u64 = 500;
    for_each_procs(|procs| {
        let total = Arc::new(AtomicUsize::new(0));
        gort::run({
            let total = total.clone();
            move || {
                let hs: Vec<_> = (0..PAIRS)
                    .map(|_| {
                        let (ta, ra) = chan::<u64>(0);
                        let (tb, rb) = chan::<u64>(0);
                        let total = total.clone();
                        let pong = gort::go(move || {
                            for v in ra.iter() {
                                tb.send(v + 1).unwrap();
                            }
                        });
                        gort::go(move || {
                            let mut v = 0;
                            for _ in 0..ROUNDS {
                                ta.send(v).unwrap();
                                v = rb.recv().unwrap() + 1;
                            }
                            drop(ta);
                            pong.join().unwrap();
                            total.fetch_add(v as usize, Ordering::SeqCst);
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            }
        });
        assert_eq!(
            total.load(Ordering::SeqCst),
            PAIRS * 2 * ROUNDS as usize,
            "procs {procs}"
        );
    });
}
