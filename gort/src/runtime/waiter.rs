//! `OneShot`: an event set once and waited for by at most one waiter, which may be
//! a goroutine (it parks) or a plain OS thread (it blocks). Used by `join` and
//! `scope`; lock-free, one atomic word:
//!
//! ```text
//!   EMPTY ──wait registers──▶ &Waiter ──set──▶ DONE   (set wakes the waiter)
//!   EMPTY ──────────────set──────────────────▶ DONE   (wait returns at once)
//! ```
//!
//! The waiter record lives on the waiter's stack. A goroutine registers it from
//! `gopark`'s unlock step (on g0, after it is parked: the `gopark` contract), so
//! `set` can ready it the moment it sees the record. A thread registers, then
//! sleeps until `set` flips its `woken` flag. `set` reads everything it needs from
//! the record *before* the store that lets the waiter go on (and free the record).

use super::g::{G, WaitReason};
use super::m::getg;
use super::{fatal, sched};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;

const EMPTY: usize = 0;
const DONE: usize = 1;

enum Waiter {
    G(*mut G),
    /// `counted`: asleep in deadlock detection's count, for `set` to undo.
    Thread {
        thread: Thread,
        woken: AtomicBool,
        counted: bool,
    },
}

pub(crate) struct OneShot {
    state: AtomicUsize,
}

impl OneShot {
    pub(crate) const fn new() -> OneShot {
        OneShot {
            state: AtomicUsize::new(EMPTY),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Publishes `w` as the waiter; false if the event is already set.
    fn register(&self, w: &Waiter) -> bool {
        match self.state.compare_exchange(
            EMPTY,
            w as *const Waiter as usize,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            Err(DONE) => false,
            Err(_) => fatal("OneShot: a second waiter"),
        }
    }

    /// Waits until `set` has been called. At most one waiter at a time.
    pub(crate) fn wait(&self, reason: WaitReason) {
        if self.is_set() {
            return;
        }
        if sched::can_park() {
            let w = Waiter::G(getg());
            let mut args = (self as *const OneShot, &w as *const Waiter);
            sched::gopark(
                Some(register_parked),
                &mut args as *mut (*const OneShot, *const Waiter) as *mut (),
                reason,
            );
            // Readied by `set` (or the park was cancelled because it was set).
        } else {
            // Counted asleep before `set` can see the record (it uncounts).
            let counted = sched::deadlock::thread_will_sleep();
            let w = Waiter::Thread {
                thread: std::thread::current(),
                woken: AtomicBool::new(false),
                counted,
            };
            if !self.register(&w) {
                if counted {
                    sched::deadlock::thread_woken();
                }
                return;
            }
            if counted {
                sched::deadlock::thread_sleeps();
            }
            let Waiter::Thread { woken, .. } = &w else {
                unreachable!()
            };
            while !woken.load(Ordering::Acquire) {
                std::thread::park();
            }
        }
    }

    /// Sets the event and wakes the waiter, if any. Idempotent.
    pub(crate) fn set(&self) {
        let old = self.state.swap(DONE, Ordering::AcqRel);
        if old == EMPTY || old == DONE {
            return;
        }
        // SAFETY: a registered waiter record stays alive until we wake it: a
        // goroutine is parked, a thread loops until `woken`.
        match unsafe { &*(old as *const Waiter) } {
            Waiter::G(gp) => sched::goready(*gp),
            Waiter::Thread {
                thread,
                woken,
                counted,
            } => {
                let thread = thread.clone();
                if *counted {
                    sched::deadlock::thread_woken();
                }
                woken.store(true, Ordering::Release);
                // The record may be gone from here on; only our clone is used.
                thread.unpark();
            }
        }
    }
}

/// `gopark` unlock step for `OneShot::wait`: runs on g0 once the goroutine is
/// parked; registering then makes it visible to `set`.
unsafe fn register_parked(_gp: *mut G, args: *mut ()) -> bool {
    // SAFETY: `args` points at the tuple on the parked goroutine's stack.
    unsafe {
        let (one, w) = *(args as *const (*const OneShot, *const Waiter));
        (*one).register(&*w)
    }
}
