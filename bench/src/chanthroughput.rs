//! `chanthroughput N`: messages per second through one contended buffered
//! channel.
//!
//! 4 producers and 4 consumers share one channel of capacity 1024. Producer
//! `p` sends the `u64`s `p*per .. (p+1)*per` with `per` = N/4 (N is rounded
//! down to a multiple of 4; `msgs` reports the exact total); each consumer
//! sums what it receives until the channel is closed and drained (closed:
//! the last sender is gone). The spawner joins everyone and checks that the
//! consumers' sums add up to `0 + 1 + ... + (msgs − 1)` (a mismatch panics:
//! non-zero exit; sums wrap at 2^64 on every side alike). `ns_per_op` = wall
//! time (first spawn → all joined) / msgs.
//!
//! - gort:  `gort::chan::<u64>(1024)`, `Sender`/`Receiver` cloned into 8
//!   `gort::go` goroutines; consumers fold over `rx.iter()`; `join` each.
//! - Go:    `make(chan uint64, 1024)`; producers under a `sync.WaitGroup`,
//!   then `close(ch)`; consumers `for v := range ch`, under another
//!   WaitGroup.
//! - tokio: `tokio::sync::mpsc::channel(1024)` (bounded, same capacity). Its
//!   receiver is single-consumer, so the 4 consumers share it through
//!   `Arc<tokio::sync::Mutex<Receiver>>` and each `recv().await`s one message
//!   under the lock (the usual tokio idiom; no batching with `recv_many`, so
//!   every message is one receive as everywhere else). Producers
//!   `send(v).await`; tasks are awaited through their `JoinHandle`s.
//! - may:   may has no bounded channel: `may::sync::mpmc::channel()`
//!   (unbounded, multi-consumer) plus a `may::sync::Semphore` of 1024 permits
//!   standing for the free slots: a producer takes a permit before each send,
//!   a consumer returns one after each receive, which gives the same
//!   back-pressure as capacity 1024. Coroutines are joined through their
//!   `JoinHandle`s.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub const PRODUCERS: u64 = 4;
pub const CONSUMERS: u64 = 4;
/// Channel capacity, as in bench/go/main.go.
pub const CAP: usize = 1024;

/// `0 + 1 + ... + (m − 1)` modulo 2^64 (the halving happens before the
/// multiplication, so it is exact even when `m (m − 1)` overflows).
pub fn expected_sum(m: u64) -> u64 {
    if m.is_multiple_of(2) {
        (m / 2).wrapping_mul(m.wrapping_sub(1))
    } else {
        m.wrapping_mul((m - 1) / 2)
    }
}

fn report(n: u64, sum: u64, wall: Duration) -> Report {
    let msgs = (n / PRODUCERS) * PRODUCERS;
    let want = expected_sum(msgs);
    if sum != want {
        panic!("chanthroughput: consumers summed {sum}, expected {want}");
    }
    Report::new(Workload::ChanThroughput, n, common::ns_per_op(wall, msgs))
        .with("wall_ms", common::ms(wall))
        .with("msgs", msgs)
        .with("producers", PRODUCERS)
        .with("consumers", CONSUMERS)
        .with("cap", CAP)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let per = n / PRODUCERS;
        let (tx, rx) = gort::chan::<u64>(CAP);
        let t0 = Instant::now();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                gort::go(move || rx.iter().fold(0u64, u64::wrapping_add))
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                gort::go(move || {
                    for v in p * per..(p + 1) * per {
                        tx.send(v).expect("chanthroughput: channel closed");
                    }
                })
            })
            .collect();
        // The channel closes when the last producer's clone is gone.
        drop((tx, rx));
        for p in producers {
            p.join().expect("chanthroughput: producer panicked");
        }
        let sum = consumers
            .into_iter()
            .map(|c| c.join().expect("chanthroughput: consumer panicked"))
            .fold(0u64, u64::wrapping_add);
        report(n, sum, t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    common::tokio_run(async move {
        let per = n / PRODUCERS;
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAP);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let t0 = Instant::now();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    // The guard lives until the end of the statement: one
                    // message per lock.
                    while let Some(v) = rx.lock().await.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for v in p * per..(p + 1) * per {
                        tx.send(v).await.expect("chanthroughput: channel closed");
                    }
                })
            })
            .collect();
        drop((tx, rx));
        for p in producers {
            p.await.expect("chanthroughput: producer panicked");
        }
        let mut sum = 0u64;
        for c in consumers {
            sum = sum.wrapping_add(c.await.expect("chanthroughput: consumer panicked"));
        }
        report(n, sum, t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    common::may_run(move || {
        let per = n / PRODUCERS;
        let (tx, rx) = may::sync::mpmc::channel::<u64>();
        // Free slots of the emulated capacity-CAP channel.
        let slots = Arc::new(may::sync::Semphore::new(CAP));
        let t0 = Instant::now();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (rx, slots) = (rx.clone(), slots.clone());
                may::go!(move || {
                    let mut sum = 0u64;
                    for v in rx.iter() {
                        slots.post();
                        sum = sum.wrapping_add(v);
                    }
                    sum
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (tx, slots) = (tx.clone(), slots.clone());
                may::go!(move || {
                    for v in p * per..(p + 1) * per {
                        slots.wait();
                        tx.send(v).expect("chanthroughput: channel closed");
                    }
                })
            })
            .collect();
        drop((tx, rx));
        for p in producers {
            p.join().expect("chanthroughput: producer panicked");
        }
        let sum = consumers
            .into_iter()
            .map(|c| c.join().expect("chanthroughput: consumer panicked"))
            .fold(0u64, u64::wrapping_add);
        report(n, sum, t0.elapsed())
    })
}
