//! The operating-system layer: the handful of primitives the scheduler needs from
//! the kernel, one file per OS behind a single `cfg` each.
//!
//! Everything above this module speaks only these names:
//! - `futex_wait(word, expected, timeout_ns)` / `futex_wake(word, n)`: sleep on a
//!   32-bit word until it changes or a wake arrives (spurious wake-ups allowed;
//!   every caller re-checks its condition in a loop);
//! - `nanotime()`: a monotonic clock in nanoseconds, never 0;
//! - `page_size()`, `write_stderr()` (async-signal-safe), `abort()`;
//! - `thread_setup()` / `thread_teardown()`: per-thread set-up of a runtime
//!   thread (signal stack, timer slack) and its undoing when an M exits;
//!   `altstack_setup()`: only the signal stack, for a foreign thread that is
//!   lent an M (undone by `thread_teardown` too);
//! - `current_tid()`, `signal_thread(tid, sig)`: preemption signals to one thread
//!   (Unix; on Windows `ThreadHandle` and `AlignedContext` serve preemption,
//!   which suspends the thread instead); `thread_blocked(tid)`: is it asleep
//!   in the kernel (Linux; `preempt/windows.rs` judges it on Windows);
//! - `loaded_object(addr)`: the loaded object containing `addr` (load
//!   address, code range, file); `text_range(addr)`: just its code range;
//!   `Functions::of_object(addr)`: that object's functions from its symbol
//!   table (`symtab.rs`, ELF; `coff.rs`, PE/COFF): one found by name, the
//!   Rust ones (what a mangled name tells: `rust_symbols.rs`).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;
#[cfg(any(target_os = "linux", windows))]
mod file_bytes;
#[cfg(any(target_os = "linux", windows))]
mod rust_symbols;
#[cfg(target_os = "linux")]
mod symtab;
#[cfg(target_os = "linux")]
pub(crate) use symtab::Functions;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
#[cfg(windows)]
mod coff;
#[cfg(windows)]
mod windows_futex;
#[cfg(windows)]
pub(crate) use coff::{Functions, text_range};
