//! `Cond`: Go's `sync.Cond`, waiting on gort's `Mutex` — built on Go's
//! notify list (`notifyList` in runtime/sema.go).
//!
//! The lost wake-up to avoid: a waiter unlocks the mutex, then a notifier
//! runs (the waiter is not queued yet), then the waiter parks for ever.
//! Tickets close that gap:
//!
//! - `wait` takes a ticket (`wait` counter, fetch-add) *while still holding
//!   the mutex*, so any notify that comes after it in the mutex's order is
//!   also after the ticket; then it unlocks, queues the ticket on the list
//!   and parks (under the list's lock, released by the park).
//! - `notify_one` advances `notify` (the next ticket to wake) by one and
//!   wakes the waiter holding the old value if it is queued; if it is not
//!   queued yet, it will find its ticket below `notify` when it takes the
//!   list lock, and return at once instead of parking.
//! - `notify_all` sets `notify` to `wait` and wakes everybody queued.
//!
//! Tickets are compared with wrap-around (`less`), so the counters may wrap.
//! Fast path: a notify with no ticket outstanding (`wait == notify`) takes no
//! lock.

use super::mutex::MutexGuard;
use super::sema::{WaitList, Waiter};
use crate::runtime::g::WaitReason;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

/// A condition variable for gort's [`Mutex`](super::Mutex) (Go's
/// `sync.Cond`): `wait` atomically unlocks the mutex and parks the
/// goroutine (or blocks the thread) until notified, then locks it again.
///
/// A notification wakes only waiters that started waiting before it (none
/// is lost, none is saved for later). Spurious wake-ups do not happen, but
/// as with any condition variable, re-check the condition in a loop (or use
/// [`wait_while`](Cond::wait_while)): another goroutine may have changed it
/// before the mutex was re-acquired.
///
/// ```
/// use gort::sync::{Cond, Mutex};
///
/// gort::run(|| {
///     let ready = Mutex::new(false);
///     let cond = Cond::new();
///     gort::scope(|s| {
///         s.go(|| {
///             *ready.lock() = true;
///             cond.notify_all();
///         });
///         let mut g = ready.lock();
///         while !*g {
///             g = cond.wait(g);
///         }
///     });
/// });
/// ```
pub struct Cond {
    /// The next ticket to hand out.
    wait: AtomicU32,
    /// The next ticket to notify.
    notify: AtomicU32,
    list: WaitList,
}

/// `a < b` for tickets that may have wrapped around.
#[inline]
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Cond {
    /// A condition variable with no waiters.
    pub const fn new() -> Cond {
        Cond {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            list: WaitList::new(()),
        }
    }

    /// Unlocks `guard`'s mutex, waits for a notification, and locks the
    /// mutex again before returning its new guard.
    ///
    /// ```
    /// use gort::sync::{Cond, Mutex};
    /// use std::sync::Arc;
    ///
    /// gort::run(|| {
    ///     let state = Arc::new((Mutex::new(0), Cond::new()));
    ///     let st = state.clone();
    ///     gort::go(move || {
    ///         *st.0.lock() = 42;
    ///         st.1.notify_one();
    ///     });
    ///     let mut g = state.0.lock();
    ///     while *g != 42 {
    ///         g = state.1.wait(g);
    ///     }
    /// });
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // Built before any lock: it looks up the current goroutine or thread.
        let mut w = Waiter::new();
        // Under the mutex: any notify ordered after our caller's check of
        // the condition is ordered after this ticket.
        let t = self.wait.fetch_add(1, Ordering::SeqCst);
        let mutex = guard.mutex;
        drop(guard);
        let wp: *mut Waiter = &mut w;
        let l = self.list.lock();
        if less(t, self.notify.load(Ordering::SeqCst)) {
            // Notified between the unlock and here.
            drop(l);
        } else {
            // SAFETY: `wp` is our own fresh record, used only through `wp`
            // until `park` returns; the ticket is written before queueing.
            unsafe {
                (*wp).ticket = t;
                l.park(wp, false, WaitReason::SyncCondWait);
            }
        }
        mutex.lock_as(WaitReason::SyncMutexLock)
    }

    /// Waits (as [`wait`](Cond::wait)) for as long as `condition` returns
    /// true, checking it under the lock before each wait.
    ///
    /// ```
    /// use gort::sync::{Cond, Mutex};
    ///
    /// gort::run(|| {
    ///     let (queue, cond) = (Mutex::new(Vec::new()), Cond::new());
    ///     gort::scope(|s| {
    ///         s.go(|| {
    ///             queue.lock().push(1);
    ///             cond.notify_one();
    ///         });
    ///         let g = cond.wait_while(queue.lock(), |q| q.is_empty());
    ///         assert_eq!(*g, [1]);
    ///     });
    /// });
    /// ```
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes the longest-waiting waiter, if any.
    pub fn notify_one(&self) {
        // No ticket outstanding: nobody to wake, no lock needed.
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let mut l = self.list.lock();
        let t = self.notify.load(Ordering::Relaxed);
        if t == self.wait.load(Ordering::SeqCst) {
            return;
        }
        self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
        // Not queued yet: it sees its ticket below `notify` and does not park.
        let w = l.remove_ticket(t);
        drop(l);
        if let Some(w) = w {
            // SAFETY: unlinked under the lock by us; nothing to hand over.
            unsafe { super::sema::wake(w) };
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let mut l = self.list.lock();
        let all = l.take_all();
        self.notify
            .store(self.wait.load(Ordering::SeqCst), Ordering::SeqCst);
        drop(l);
        // SAFETY: popped under the lock by us; nothing to hand over.
        unsafe { all.wake_all() };
    }
}

impl Default for Cond {
    fn default() -> Cond {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self
            .wait
            .load(Ordering::Relaxed)
            .wrapping_sub(self.notify.load(Ordering::Relaxed));
        f.debug_struct("Cond").field("waiting", &waiting).finish()
    }
}
