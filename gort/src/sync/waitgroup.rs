//! `WaitGroup`: Go's `sync.WaitGroup` — wait for a count of tasks to finish.
//!
//! One 64-bit state word: the counter (`i32`) in the high half, the number of
//! parked waiters in the low half, so `add`/`done` are one CAS when nobody
//! waits and `wait` returns after one load when the counter is 0.
//!
//! Waiters wait on a `WaitList` (see `sema`), not on a counting semaphore as
//! in Go, so that the group can be reused right away: a waiter registers
//! (waiter count + 1, then queue) under the list's lock, and the `add` that
//! brings the counter to 0 with waiters registered does so under that same
//! lock, clearing the waiter count and popping exactly those waiters in one
//! critical section. A `wait` or `add` of the next round can therefore never
//! take a wake-up meant for this one (Go instead panics when a group is
//! reused before every `Wait` has returned).

use super::sema::{WaitList, Waiter};
use crate::runtime::g::WaitReason;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

const WAITERS_MASK: u64 = 0xffff_ffff;

#[inline]
fn counter(state: u64) -> i64 {
    (state >> 32) as i32 as i64
}

#[inline]
fn waiters(state: u64) -> u64 {
    state & WAITERS_MASK
}

/// Waits for a collection of goroutines (or threads) to finish (Go's
/// `sync.WaitGroup`).
///
/// `add(n)` before starting `n` tasks, `done()` at the end of each, and
/// `wait()` parks the goroutine (or blocks the thread) until the counter is
/// back to zero. The counter going negative panics, as in Go. A group can be
/// reused as soon as `wait` has returned (even while other waiters of the
/// previous round are still waking up).
///
/// ```
/// use gort::sync::WaitGroup;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// gort::run(|| {
///     let wg = Arc::new(WaitGroup::new());
///     let done = Arc::new(AtomicU32::new(0));
///     for _ in 0..10 {
///         wg.add(1);
///         let (wg, done) = (wg.clone(), done.clone());
///         gort::go(move || {
///             done.fetch_add(1, Ordering::Relaxed);
///             wg.done();
///         });
///     }
///     wg.wait();
///     assert_eq!(done.load(Ordering::Relaxed), 10);
/// });
/// ```
pub struct WaitGroup {
    state: AtomicU64,
    list: WaitList,
}

impl WaitGroup {
    /// A group with a counter of zero.
    pub const fn new() -> WaitGroup {
        WaitGroup {
            state: AtomicU64::new(0),
            list: WaitList::new(()),
        }
    }

    /// Adds `delta` (which may be negative) to the counter; when it reaches
    /// zero, every waiter is released.
    ///
    /// # Panics
    /// If the counter would go negative (or beyond `i32::MAX`); the counter
    /// is then left unchanged.
    ///
    /// ```should_panic
    /// gort::sync::WaitGroup::new().add(-1); // sync: negative WaitGroup counter
    /// ```
    pub fn add(&self, delta: isize) {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let v = new_counter(old, delta);
            if v == 0 && waiters(old) != 0 {
                return self.release(delta);
            }
            let new = ((v as u64) << 32) | waiters(old);
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
    }

    /// Decrements the counter by one.
    #[inline]
    pub fn done(&self) {
        self.add(-1);
    }

    /// `add(delta)` that may bring the counter to zero with waiters: done
    /// under the list's lock, so that the waiter count is stable (waiters
    /// register only under it) and exactly the registered waiters are woken.
    #[cold]
    fn release(&self, delta: isize) {
        let mut l = self.list.lock();
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let v = match checked_counter(old, delta) {
                Ok(v) => v,
                Err(msg) => {
                    drop(l);
                    panic!("{msg}");
                }
            };
            let new = if v == 0 {
                0
            } else {
                ((v as u64) << 32) | waiters(old)
            };
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if v != 0 || waiters(old) == 0 {
                        return; // another add got in first
                    }
                    let all = l.take_all();
                    drop(l);
                    // SAFETY: popped under the lock by us; nothing is handed
                    // over but the wake-up itself.
                    unsafe { all.wake_all() };
                    return;
                }
                Err(now) => old = now,
            }
        }
    }

    /// Parks the goroutine (or blocks the thread) until the counter is zero.
    ///
    /// ```
    /// let wg = gort::sync::WaitGroup::new();
    /// wg.wait(); // zero: returns at once
    /// ```
    pub fn wait(&self) {
        if counter(self.state.load(Ordering::Acquire)) == 0 {
            return;
        }
        let mut w = Waiter::new();
        let wp: *mut Waiter = &mut w;
        let l = self.list.lock();
        let mut old = self.state.load(Ordering::Acquire);
        loop {
            if counter(old) == 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                old,
                old + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        // SAFETY: `w` is our own fresh record, used only through `wp` until
        // `park` returns.
        unsafe { l.park(wp, false, WaitReason::SyncWaitGroupWait) };
    }
}

/// The counter after adding `delta` to `state`'s, or the panic message.
fn checked_counter(state: u64, delta: isize) -> Result<i64, &'static str> {
    let v = counter(state).saturating_add(delta as i64);
    if v < 0 {
        Err("sync: negative WaitGroup counter")
    } else if v > i32::MAX as i64 {
        Err("sync: WaitGroup counter overflow")
    } else {
        Ok(v)
    }
}

fn new_counter(state: u64, delta: isize) -> i64 {
    match checked_counter(state, delta) {
        Ok(v) => v,
        Err(msg) => panic!("{msg}"),
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("counter", &counter(s))
            .field("waiters", &waiters(s))
            .finish()
    }
}
