//! `Once`: Go's `sync.Once` — run a function exactly once.
//!
//! A `done` flag read with one acquire load on the fast path, and a mutex
//! that the first callers queue on: the one that gets it first runs the
//! function, the others wait for the mutex (parking) and then see `done`.
//! `done` is set after the function returns and before the mutex is
//! released, so every caller returns only once the function has completed,
//! and the release/acquire pair publishes what it wrote.

use super::mutex::RawMutex;
use crate::runtime::g::WaitReason;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// Runs a function exactly once, however many goroutines or threads call
/// it (Go's `sync.Once`). Callers that arrive while it runs park until it
/// has finished.
///
/// If the function panics, the panic propagates to its caller and the
/// `Once` still counts as done (Go's rule: it is not retried, and there is
/// no poisoning). A function that calls `call_once` on its own `Once`
/// deadlocks, as in Go.
///
/// ```
/// use gort::sync::Once;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static INIT: Once = Once::new();
/// static RUNS: AtomicU32 = AtomicU32::new(0);
///
/// gort::run(|| {
///     gort::scope(|s| {
///         for _ in 0..10 {
///             s.go(|| INIT.call_once(|| { RUNS.fetch_add(1, Ordering::Relaxed); }));
///         }
///     });
/// });
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    done: AtomicBool,
    m: RawMutex,
}

impl Once {
    /// A `Once` that has not run yet.
    pub const fn new() -> Once {
        Once {
            done: AtomicBool::new(false),
            m: RawMutex::new(),
        }
    }

    /// Runs `f` if no call has run (or is running) a function on this `Once`
    /// yet; otherwise waits for that run to finish and returns.
    #[inline]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if !self.done.load(Ordering::Acquire) {
            self.call_once_slow(f);
        }
    }

    #[cold]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        /// Sets `done` (if the function ran) and then unlocks, also when the
        /// function panics.
        struct Finish<'a> {
            once: &'a Once,
            ran: bool,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                if self.ran {
                    self.once.done.store(true, Ordering::Release);
                }
                // SAFETY: locked by `call_once_slow` below, released once here.
                unsafe { self.once.m.unlock() };
            }
        }
        self.m.lock_as(WaitReason::SyncOnce);
        let mut fin = Finish {
            once: self,
            ran: false,
        };
        if !self.done.load(Ordering::Relaxed) {
            fin.ran = true;
            f();
        }
    }

    /// True once a call's function has finished (or panicked).
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_completed())
            .finish_non_exhaustive()
    }
}
