//! `pingpong N`: latency of a channel round trip between two goroutines.
//!
//! Goroutine A (the workload goroutine itself) and goroutine B share two
//! channels c1 and c2. N times, A sends `i` on c1, B receives it and sends it
//! back on c2, A receives it and checks that it got `i` back (a mismatch
//! panics: non-zero exit). `ns_per_op` = wall time / N, i.e. ns per round
//! trip (two channel handoffs, two parks and two wake-ups when A and B take
//! turns). Then A closes c1 (drops its sender), B's receive loop ends, and A
//! joins B.
//!
//! - gort:  `gort::chan::<u64>(0)` (unbuffered rendezvous) twice; B is
//!   `gort::go`, looping over `rx1.iter()`.
//! - Go:    `make(chan uint64)` (unbuffered) twice; B is `go func()`,
//!   `for v := range c1`.
//! - tokio: `tokio::sync::mpsc::channel(1)` twice: tokio has no rendezvous
//!   channel, capacity 1 is the closest (the smallest bounded one). In this
//!   pattern a channel never holds more than one value, so a send never
//!   waits; on a rendezvous channel a send hands the value straight to a
//!   receiver that is already waiting, and parks until one comes only when
//!   the sender runs ahead, which a capacity-1 channel spares. B is a
//!   `tokio::spawn`ed task, `while let Some(v) = rx1.recv().await`.
//! - may:   `may::sync::mpsc::channel()` twice: may's channels are unbounded
//!   (no bounded or rendezvous channel exists), which in this pattern behaves
//!   like tokio's capacity-1 channel (never more than one value queued). B is
//!   `may::go!`, looping over `rx1.iter()`.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::time::{Duration, Instant};

fn report(n: u64, wall: Duration) -> Report {
    Report::new(Workload::PingPong, n, common::ns_per_op(wall, n)).with("wall_ms", common::ms(wall))
}

/// A's check on what came back: the value it sent.
fn check(sent: u64, got: u64) {
    if sent != got {
        panic!("pingpong: sent {sent}, got {got} back");
    }
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let (tx1, rx1) = gort::chan::<u64>(0);
        let (tx2, rx2) = gort::chan::<u64>(0);
        let t0 = Instant::now();
        let b = gort::go(move || {
            for v in rx1.iter() {
                tx2.send(v).expect("pingpong: c2 closed");
            }
        });
        for i in 0..n {
            tx1.send(i).expect("pingpong: c1 closed");
            check(i, rx2.recv().expect("pingpong: c2 closed"));
        }
        let wall = t0.elapsed();
        drop(tx1);
        b.join().expect("pingpong: B panicked");
        report(n, wall)
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    common::tokio_run(async move {
        let (tx1, mut rx1) = tokio::sync::mpsc::channel::<u64>(1);
        let (tx2, mut rx2) = tokio::sync::mpsc::channel::<u64>(1);
        let t0 = Instant::now();
        let b = tokio::spawn(async move {
            while let Some(v) = rx1.recv().await {
                tx2.send(v).await.expect("pingpong: c2 closed");
            }
        });
        for i in 0..n {
            tx1.send(i).await.expect("pingpong: c1 closed");
            check(i, rx2.recv().await.expect("pingpong: c2 closed"));
        }
        let wall = t0.elapsed();
        drop(tx1);
        b.await.expect("pingpong: B panicked");
        report(n, wall)
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    common::may_run(move || {
        let (tx1, rx1) = may::sync::mpsc::channel::<u64>();
        let (tx2, rx2) = may::sync::mpsc::channel::<u64>();
        let t0 = Instant::now();
        let b = may::go!(move || {
            for v in rx1.iter() {
                tx2.send(v).expect("pingpong: c2 closed");
            }
        });
        for i in 0..n {
            tx1.send(i).expect("pingpong: c1 closed");
            check(i, rx2.recv().expect("pingpong: c2 closed"));
        }
        let wall = t0.elapsed();
        drop(tx1);
        b.join().expect("pingpong: B panicked");
        report(n, wall)
    })
}
