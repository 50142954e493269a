//! `Semaphore`: the runtime's counting `Sema` as a public type (Go has it
//! only internally, and in golang.org/x/sync/semaphore).
//!
//! Waiters queue in arrival order; a released permit wakes the first of
//! them, which then takes it unless a running goroutine got there first
//! (barging keeps throughput up; see `sema` for why no permit is ever lost).

use super::sema::Sema;
use crate::runtime::g::WaitReason;
use core::fmt;

/// A counting semaphore: at most `permits` holders at a time. `acquire`
/// parks the goroutine (or blocks the thread) while none is free.
///
/// Permits are not tied to whoever acquired them: `release` may be called
/// by anyone, and may raise the count above its initial value.
///
/// ```
/// use gort::sync::Semaphore;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort::run(|| {
///     let sem = Semaphore::new(2);
///     let inside = AtomicUsize::new(0);
///     gort::scope(|s| {
///         for _ in 0..8 {
///             s.go(|| {
///                 sem.acquire();
///                 assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///                 gort::yield_now();
///                 inside.fetch_sub(1, Ordering::SeqCst);
///                 sem.release();
///             });
///         }
///     });
/// });
/// ```
pub struct Semaphore {
    sema: Sema,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            sema: Sema::new(permits),
        }
    }

    /// Takes a permit, waiting until one is free.
    #[inline]
    pub fn acquire(&self) {
        self.sema.acquire(false, WaitReason::Semacquire);
    }

    /// Takes a permit if one is free right now.
    ///
    /// ```
    /// let sem = gort::sync::Semaphore::new(1);
    /// assert!(sem.try_acquire());
    /// assert!(!sem.try_acquire());
    /// sem.release();
    /// assert!(sem.try_acquire());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.sema.try_acquire()
    }

    /// Returns a permit, waking a waiter if there is one.
    #[inline]
    pub fn release(&self) {
        self.sema.release(false);
    }

    /// Free permits right now (it may change at once).
    pub fn available_permits(&self) -> usize {
        self.sema.permits()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}
