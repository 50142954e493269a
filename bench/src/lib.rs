//! Benchmark harness comparing gort with Go, tokio and may.
//!
//! Every workload lives in its own module and holds the Rust implementations
//! (`run_gort`, `run_tokio`, `run_may`, each behind the cargo feature of the
//! same name); the Go versions are in `bench/go/main.go`. The three binaries
//! (`gort-bench`, `tokio-bench`, `may-bench`) are thin front ends over
//! [`common::main`], which parses `<workload> [N]` and prints one line:
//!
//! ```text
//! name=<workload> n=<N> ns_per_op=<x> key=value ...
//! ```
//!
//! A workload a runtime has no equivalent of (`qsort` for tokio and may)
//! makes that binary exit with [`common::EXIT_NOT_APPLICABLE`] instead; so
//! does `kv` in every binary: it is a server benchmark that bench/run.py
//! drives itself (redis-benchmark against gort's examples/kv.rs, a Go server
//! and redis-server), not a workload of these binaries.
//!
//! `bench/run.sh` runs all implementations alternately and writes
//! `bench/RESULTS.md`.

pub mod chanthroughput;
pub mod common;
pub mod echo;
#[cfg(feature = "gort")]
mod foreign;
pub mod idle;
pub mod mutex;
pub mod parked;
pub mod parkedchan;
pub mod pingpong;
pub mod preempt;
pub mod qsort;
pub mod spawn;
pub mod spawnjoin;
pub mod timers;
pub mod yielding;
