//! `Barrier`: `n` parties meet, then all go on (std's `Barrier`, parking).
//!
//! The arrival count and the queue of waiting parties change together under
//! one `WaitList` lock: the `n`-th arrival resets the count and pops every
//! queued party in the same critical section. Arrivals of the next round
//! queue only after that, so a fast party that comes straight back can
//! never take the place or the wake-up of a slow one of the round before:
//! the barrier is reusable, round after round, with no generation number.

use super::sema::{WaitList, Waiter};
use crate::runtime::g::WaitReason;
use core::fmt;

/// A point where `n` goroutines (or threads) wait for each other: each
/// `wait` parks until `n` calls have been made, then all return, one of them
/// as the leader. The barrier is then ready for the next round.
///
/// ```
/// use gort::sync::Barrier;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort::run(|| {
///     let barrier = Barrier::new(4);
///     let leaders = AtomicUsize::new(0);
///     gort::scope(|s| {
///         for _ in 0..4 {
///             s.go(|| {
///                 for _ in 0..3 {
///                     if barrier.wait().is_leader() {
///                         leaders.fetch_add(1, Ordering::Relaxed);
///                     }
///                 }
///             });
///         }
///     });
///     assert_eq!(leaders.load(Ordering::Relaxed), 3); // one per round
/// });
/// ```
pub struct Barrier {
    n: usize,
    /// Parties arrived in the current round.
    list: WaitList<usize>,
}

/// What [`Barrier::wait`] returns: whether this party was the round's leader.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// True for exactly one party per round (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for `n` parties (`0` behaves as `1`: nobody waits).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            list: WaitList::new(0),
        }
    }

    /// Parks until `n` parties have called `wait` in this round.
    pub fn wait(&self) -> BarrierWaitResult {
        // Built before taking the lock (it looks up the goroutine or thread).
        let mut w = Waiter::new();
        let wp: *mut Waiter = &mut w;
        let mut l = self.list.lock();
        let arrived = l.state();
        *arrived += 1;
        if *arrived < self.n {
            // SAFETY: `w` is our own fresh record, used only through `wp`
            // until `park` returns.
            unsafe { l.park(wp, false, WaitReason::SyncBarrierWait) };
            return BarrierWaitResult { leader: false };
        }
        *arrived = 0;
        let all = l.take_all();
        drop(l);
        // SAFETY: popped under the lock by us; nothing to hand over.
        unsafe { all.wake_all() };
        BarrierWaitResult { leader: true }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.leader)
            .finish()
    }
}
