//! `spawnjoin N`: the idiom users write first — spawn N trivial goroutines,
//! keep every handle, then join them in order — as opposed to `spawn`, which
//! waits for them all at once (gort: `scope`).
//!
//! One spawner starts N goroutines; goroutine `i` returns `i`. The spawner
//! keeps the N handles in a `Vec` (all N exist at once, so `peak_rss_kb`
//! shows what a handle and a finished, not yet joined goroutine cost), then
//! joins them in spawn order and sums the results, checked against
//! N(N-1)/2. `ns_per_op` = wall (first spawn to last join) / N.
//!
//! - gort:  `gort::go(move || i)` into a `Vec<JoinHandle<u64>>`, then
//!   `h.join().unwrap()` in order.
//! - Go:    Go has no handles: `go func(){ results[i] = i; wg.Done() }()`
//!   with one `sync.WaitGroup`, then the results slice summed (the closest
//!   Go idiom: a value per goroutine, one wait for all).
//! - tokio: `tokio::spawn(async move { i })` into a `Vec<JoinHandle<u64>>`,
//!   each awaited in order.
//! - may:   `may::go!(move || i)` into a `Vec<JoinHandle<u64>>`, `join()`
//!   in order.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::time::Instant;

fn report(n: u64, sum: u64, wall: std::time::Duration) -> Report {
    assert_eq!(sum, n * n.saturating_sub(1) / 2, "spawnjoin: wrong sum");
    Report::new(Workload::SpawnJoin, n, common::ns_per_op(wall, n))
        .with("wall_ms", common::ms(wall))
        .with("peak_rss_kb", common::peak_rss_kb())
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    gort::run(move || {
        let t0 = Instant::now();
        let hs: Vec<_> = (0..n).map(|i| gort::go(move || i)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        report(n, sum, t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    common::tokio_run(async move {
        let t0 = Instant::now();
        let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        report(n, sum, t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    common::may_run(move || {
        let t0 = Instant::now();
        let hs: Vec<_> = (0..n).map(|i| may::go!(move || i)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        report(n, sum, t0.elapsed())
    })
}
