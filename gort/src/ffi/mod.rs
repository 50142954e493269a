//! Foreign callbacks: C-callable function pointers that run Rust closures as
//! goroutine code.
//!
//! ```
//! use gort::ffi::Callback;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//!
//! unsafe extern "C" {
//!     // From the C library.
//!     fn qsort(
//!         base: *mut core::ffi::c_void,
//!         n: usize,
//!         size: usize,
//!         cmp: extern "C" fn(*const u64, *const u64) -> i32,
//!     );
//! }
//!
//! let calls = Arc::new(AtomicU64::new(0));
//! let counter = calls.clone();
//! // A comparator that captures state: no plain `extern "C" fn` can.
//! let cmp = Callback::<extern "C" fn(*const u64, *const u64) -> i32>::new(move |a, b| {
//!     counter.fetch_add(1, Ordering::Relaxed);
//!     // SAFETY: qsort passes pointers to two elements of the array.
//!     unsafe { (*b).cmp(&*a) as i32 } // descending
//! })
//! .unwrap();
//!
//! let mut v: Vec<u64> = (0..1000).collect();
//! // SAFETY: `v` holds `v.len()` elements of 8 bytes; `cmp` outlives the call.
//! unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, cmp.as_fn()) };
//! assert!(v.windows(2).all(|w| w[0] >= w[1]));
//! assert!(calls.load(Ordering::Relaxed) > 0);
//! ```
//!
//! # Entry points
//!
//! A `Callback`'s function pointer is one of [`CAPACITY`] entry stubs built
//! into the binary: no code is generated or written at run time (so W^X
//! policies and executable-memory restrictions do not matter; Go moved
//! `syscall.NewCallback` to the same design). A stub records its slot and
//! jumps to an entry chosen for the callback's signature, which hands the
//! arguments, exactly as the ABI placed them, to code compiled for that
//! signature; what the host ABI makes callee-saved is preserved — on x86-64
//! System V RBX, RBP, R12–R15 and the MXCSR and x87 control words, with DF
//! clear; on Windows (Win64) also RDI, RSI and all of XMM6–XMM15. On Linux,
//! on a goroutine, the entry finds the goroutine and marks it itself,
//! so a callback that does not block costs a few nanoseconds more than a
//! plain `extern "C" fn` (a `qsort` comparator: ~1.2×, see the README). The
//! table is shared by every signature; [`in_use`] of its [`capacity`] slots
//! are taken. `new` returns [`CallbackError`] when none is free, and a
//! dropped `Callback`'s slot is reused (after every other free slot).
//!
//! Arguments and results may be integers of every width (narrow ones are
//! sign- or zero-extended as their type says), `bool`, `usize`/`isize`,
//! `f32`, `f64`, raw pointers and `Option<extern fn>`; up to 16 arguments, in
//! registers or on the stack as the ABI places them. `R = ()` for no result.
//!
//! # Where the closure runs
//!
//! Always as goroutine code, whatever thread calls the pointer, so it may
//! block on channels, sleep, lock [`gort::sync`](crate::sync) types, spawn,
//! and call C that calls back again (to any depth):
//! - called by C that a **goroutine** called: on that goroutine, wired to its
//!   thread until the closure returns (the C frames below must return on
//!   their own thread). The goroutine's stack must have 16 KiB left, else
//!   the process aborts with a message naming the goroutine;
//! - called by C that a goroutine called inside [`blocking`](crate::blocking):
//!   the same, after taking a processor back (`blocking` resumes after);
//! - called on a **thread the runtime did not create** (a thread C started,
//!   a `std` thread, the main thread before the runtime started): the thread
//!   is given a runtime identity (an "extra M" with its own goroutine) at its
//!   first callback, kept until the thread exits and then reused by later
//!   threads; each call runs on that goroutine, and if the closure parks, the
//!   thread sleeps until it can go on.
//!
//! **The rule:** a goroutine never changes thread between C's call into a
//! callback and the return to C, whatever the closure does (park, yield,
//! be preempted, call C that calls back again): the C frames below it, their
//! thread-local state and errno, and the locks they hold (SQLite's
//! connection mutex across a collation callback) belong to the thread C
//! called on (Go locks the goroutine to its thread for a callback in the
//! same way). Debug builds check it at every return to C. Relatedly, only
//! the program's own Rust functions are ever preempted (never the code of a
//! C library linked into the executable, nor the PLT stubs through which C
//! calls libc), so a goroutine inside C code stays on its thread too.
//!
//! # Panics
//!
//! A panic must not unwind into C. One that leaves the closure is reported
//! as `goroutine N panicked in callback: <message>` and the process aborts
//! (Rust's rule for `extern "C"` functions that panic).
//!
//! # Contract
//!
//! The function pointer is valid while its `Callback` lives. Calling it
//! after the drop aborts with a message for as long as the slot has not been
//! reused; after that it runs the new owner's closure, as any dangling
//! pointer would. Dropping a `Callback` while a call to it is in progress
//! is the same violation, and not detected.

mod abi;
mod callback;
mod table;
mod types;

#[cfg(all(test, any(target_os = "linux", windows)))]
pub(crate) use abi::fast_entries;
pub use callback::{Callback, CallbackError};
pub use table::CAPACITY;
pub use types::{Arg, Ret};

/// Number of entry points in the table: how many [`Callback`]s may be alive
/// at once ([`CAPACITY`]).
pub fn capacity() -> usize {
    CAPACITY
}

/// Number of [`Callback`]s alive now.
pub fn in_use() -> usize {
    table::in_use()
}
