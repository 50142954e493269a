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

#[cfg(not(all(target_arch = "x86_64", unix)))]
compile_error!("gort currently supports x86-64 Unix (System V ABI) only; other ports are planned");

mod control;
pub mod debug;
mod runtime;
mod scope;
mod spawn;

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
