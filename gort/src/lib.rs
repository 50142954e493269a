//! # gort — Go's concurrency model for Rust, without `async`
//!
//! Goroutines are cheap threads with their own (guard-paged, lazily committed)
//! stacks, multiplexed over a few OS threads by an M:N work-stealing scheduler
//! built the way Go's runtime is built (G/M/P, per-P run queues, `runnext`, a
//! global queue, spinning threads, `sysmon`). Code that blocks a goroutine —
//! `join`, `sleep` — parks it and the thread runs another one.
//!
//! ```
//! use std::time::Duration;
//!
//! let sum = gort::run(|| {
//!     let handles: Vec<_> = (0..1000u64)
//!         .map(|i| gort::go(move || { gort::sleep(Duration::from_millis(1)); i }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(sum, 499_500);
//! ```
//!
//! Environment variables: `GORT_PROCS` (processors, default: cores),
//! `GORT_STACK_SIZE` (default goroutine stack, bytes or `256k`/`1m`).

#![warn(missing_docs)]

#[cfg(not(all(target_arch = "x86_64", any(unix, windows))))]
compile_error!(
    "gort currently supports x86-64 Unix (System V ABI) and x86-64 Windows only; other ports are planned"
);

// `select!` expands to paths under `::gort`, which must resolve inside this
// crate too (doc tests, internal uses).
extern crate self as gort;

mod chan;
pub mod context;
mod control;
pub mod debug;
pub mod ffi;
pub mod fs;
pub mod net;
mod runtime;
mod scope;
mod spawn;
pub mod sync;
pub mod time;

pub use chan::{
    Iter, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryIter,
    TryRecvError, TrySendError, chan,
};
pub use control::{
    blocking, current_id, lock_os_thread, num_goroutines, procs, run, set_procs, sleep,
    unlock_os_thread, yield_now,
};
pub use runtime::stack::{MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use scope::{Scope, ScopedJoinHandle, scope};
pub use spawn::{Builder, GoroutineId, JoinHandle, go};

/// Runs `main`'s body as the first goroutine: `#[gort::main] fn main() { ... }`.
///
/// The function may return `()`, `std::process::ExitCode`, or `Result<T, E>` with
/// `E: Debug` (an `Err` prints `Error: ...` and exits with status 1, as in std).
///
/// ```
/// #[gort::main]
/// fn main() -> std::process::ExitCode {
///     std::process::ExitCode::from(gort::go(|| 0u8).join().unwrap())
/// }
/// ```
///
/// An `Err` from `main` is reported and the process exits with a failure status:
///
/// ```should_panic
/// #[gort::main]
/// fn main() -> Result<(), String> {
///     Err(gort::go(|| String::from("failed in a goroutine")).join().unwrap())
/// }
/// ```
///
/// ```
/// #[gort::main]
/// fn main() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = "42".parse()?;
///     assert_eq!(gort::go(move || n + 1).join().unwrap(), 43);
///     Ok(())
/// }
/// ```
pub use gort_macros::main;

/// Waits on several channel operations at once and runs the arm of the one
/// that proceeds (Go's `select`).
///
/// ```text
/// gort::select! {
///     recv(rx) -> v => { /* v: Result<T, RecvError> */ },
///     send(tx, value) -> r => { /* r: Result<(), SendError<T>> */ },
///     after(Duration::from_millis(5)) => { /* nothing was ready in time */ },
///     default => { /* nothing was ready: makes the select non-blocking */ },
/// }
/// ```
///
/// - Operands are evaluated once, in source order, before anything else;
///   channels are borrowed (`recv(rx)` and `recv(&rxs[i])` both work).
/// - Among arms that can proceed, one is chosen uniformly at random. A
///   receive from a closed channel can proceed (with `Err`), and so can a send
///   to one (`Err` with the value back).
/// - With none ready: `default` runs if present; otherwise the goroutine (or
///   thread) waits on every channel at once, and the first operation that can
///   complete wins; `after(d)` ends the wait after `d`.
/// - A send arm's value is moved into the channel only if that arm wins;
///   otherwise it is dropped when the `select!` ends.
/// - Arm bodies are blocks or expressions; `break`, `continue`, `return` and
///   `?` in them act on the enclosing code. `-> pattern` may be omitted.
/// - No heap allocation, whatever the number of arms.
///
/// ```
/// use std::time::Duration;
/// gort::run(|| {
///     let (tx, rx) = gort::chan::<u32>(1);
///     let (_done_tx, done) = gort::chan::<()>(0);
///     tx.send(7).unwrap();
///     gort::select! {
///         recv(rx) -> v => assert_eq!(v, Ok(7)),
///         recv(done) -> _ => unreachable!(),
///     }
///     gort::select! {
///         recv(rx) -> _ => unreachable!(),
///         after(Duration::from_millis(1)) => {}
///     }
/// });
/// ```
pub use gort_macros::select;

/// Runs a test's body as a goroutine (like `#[tokio::test]`): `#[gort::test]`
/// in place of `#[test]`, or `#[gort::test(procs = N)]` to run it with `N`
/// processors.
///
/// The body may block freely (channels, `join`, `sleep`, sockets); it may
/// return `()` or a `Result<(), E: Debug>` (an `Err` fails the test), and
/// `#[should_panic]` and `#[ignore]` work as on `#[test]`: a panic in the
/// body reaches the test's thread with its payload.
///
/// `procs = N` calls [`set_procs`]`(N)` first. The runtime is process-wide,
/// so tests running at the same time share it: the setting then holds for
/// them too (they still pass, with other parallelism). Give a test that
/// depends on the exact number its own test binary or `--test-threads=1`.
///
/// ```
/// #[gort::test(procs = 2)]
/// fn channels_work() {
///     let (tx, rx) = gort::chan::<u32>(0);
///     gort::go(move || tx.send(7).unwrap());
///     assert_eq!(rx.recv().unwrap(), 7);
///     assert_eq!(gort::procs(), 2);
/// }
/// ```
pub use gort_macros::test;

/// What `select!` and `#[gort::test]` expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::chan::select::{AFTER, Case, DEFAULT, RecvCase, SendCase, select};

    /// `#[gort::test]`'s body: `procs` (0: leave as is), then `f` as a
    /// goroutine, reported there (its result need not be `Send`).
    pub fn run_test<T, F>(procs: usize, f: F) -> std::process::ExitCode
    where
        T: std::process::Termination,
        F: FnOnce() -> T + Send + 'static,
    {
        if procs != 0 {
            crate::set_procs(procs);
        }
        crate::run(move || f().report())
    }

    /// `run_test` for a body returning `()`.
    pub fn run_test_unit<F: FnOnce() + Send + 'static>(procs: usize, f: F) {
        if procs != 0 {
            crate::set_procs(procs);
        }
        crate::run(f)
    }
}
