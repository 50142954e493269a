//! `Parker`: one blocking wait of a goroutine or a plain thread that several
//! wakers may try to end — a peer on any channel a `select` waits on, `close`,
//! a timeout — of which exactly one wins. Go's `selectDone` compare-and-swap,
//! used for every wait, so that a timeout racing a send cannot lose or
//! duplicate a value.
//!
//! The protocol (wait structures hold the parker's address, e.g. in a channel's
//! sudog; they are protected by their own locks):
//!
//! 1. The waiter creates a `Parker` on its stack, registers it in one or more
//!    wait structures *with their locks held*, and calls `park(unlock, ..)`.
//! 2. A waker that finds it (holding the structure's lock) calls
//!    `claim(case)`. If that fails, someone else won: the waker forgets this
//!    parker (it may unlink it from its structure) and moves on. If it
//!    succeeds, the waker hands over whatever the wait was for (a value, "the
//!    channel is closed"), then calls `wake`. The waiter cannot leave before
//!    `wake`, so the parker and the waiter's buffers stay valid until then.
//! 3. `park` returns the winning case (or `TIMEOUT`). The waiter then unlinks
//!    itself from every structure a losing waker did not already unlink it
//!    from (under their locks).
//!
//! A goroutine parks through `gopark`, whose unlock step (on g0, after the
//! switch) arms the timeout timer and then calls `unlock`, so no waker can see
//! the goroutine before it is fully parked. A thread calls `unlock` and sleeps
//! (`std::thread::park`) until woken or its deadline passes.

use super::g::{G, WaitReason};
use super::m::{getg, getm};
use super::sched;
use super::timers::{self, RTimer, TimerFn};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::Thread;

/// Not claimed yet.
const WAITING: u32 = u32::MAX;
/// The case number of a wait ended by its deadline.
pub(crate) const TIMEOUT: u32 = u32::MAX - 1;

enum Who {
    G(*mut G),
    /// `counted`: asleep in deadlock detection's count, for the waker to undo.
    Thread {
        thread: Thread,
        woken: AtomicBool,
        counted: AtomicBool,
    },
}

pub(crate) struct Parker {
    /// `WAITING`, then the winning case.
    state: AtomicU32,
    who: Who,
    /// A goroutine's deadline timer (armed by `park` only).
    timer: UnsafeCell<RTimer>,
}

/// Releases the locks the waiter registered under. Called exactly once, with
/// the waiter already wakeable: it must read everything it needs from `data`
/// (which may live on the waiter's stack) before the last release that could
/// let a winner through and the waiter finish.
pub(crate) type UnlockFn = unsafe fn(data: *const ());

struct ParkArgs {
    parker: *const Parker,
    unlock: UnlockFn,
    data: *const (),
    /// `nanotime` deadline, or 0 for none.
    deadline: i64,
}

impl Parker {
    /// A parker for the calling goroutine, or for the calling thread if it may
    /// not park (a plain thread, or a goroutine inside `blocking`).
    pub(crate) fn new() -> Parker {
        let who = if sched::can_park() {
            Who::G(getg())
        } else {
            Who::Thread {
                thread: std::thread::current(),
                woken: AtomicBool::new(false),
                counted: AtomicBool::new(false),
            }
        };
        Parker {
            state: AtomicU32::new(WAITING),
            who,
            timer: UnsafeCell::new(RTimer::new(TimerFn::Wake(timeout_fired), 0)),
        }
    }

    /// Tries to end the wait with `case`; true for exactly one caller.
    #[inline]
    pub(crate) fn claim(&self, case: u32) -> bool {
        self.state
            .compare_exchange(WAITING, case, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Lets the waiter go, after a successful `claim` and the hand-over.
    ///
    /// # Safety
    /// The caller's `claim` on `p` succeeded and this is its only `wake`.
    /// `p` may be freed as soon as this begins, so it is a raw pointer.
    pub(crate) unsafe fn wake(p: *const Parker) {
        // SAFETY: per the contract.
        unsafe { Self::wake_with(p, sched::goready) }
    }

    /// `wake`, but a goroutine goes to the back of the run queue (not
    /// `runnext`) and no idle P is started for it: for wakers that ready
    /// many at once and then call `wakep` (the network poller).
    ///
    /// # Safety
    /// As `wake`.
    pub(crate) unsafe fn wake_batch(p: *const Parker) {
        // SAFETY: per the contract.
        unsafe { Self::wake_with(p, sched::goready_batch) }
    }

    /// # Safety
    /// As `wake`.
    #[inline(always)]
    unsafe fn wake_with(p: *const Parker, ready: fn(*mut G)) {
        super::chaos::point(super::chaos::Point::Wake);
        // SAFETY: the waiter stays put until woken; everything is read from the
        // parker before the store or call that releases it.
        unsafe {
            match &(*p).who {
                Who::G(gp) => ready(*gp),
                Who::Thread {
                    thread,
                    woken,
                    counted,
                } => {
                    let thread = thread.clone();
                    if counted.load(Ordering::Relaxed) {
                        sched::deadlock::thread_woken();
                    }
                    woken.store(true, Ordering::Release);
                    thread.unpark();
                }
            }
        }
    }

    /// Blocks until a waker claims this parker, or until `deadline`
    /// (`nanotime`, 0 for none) passes; returns the winning case or `TIMEOUT`.
    /// `unlock(data)` releases the locks under which the parker was registered
    /// (see `UnlockFn`).
    pub(crate) fn park(
        &self,
        unlock: UnlockFn,
        data: *const (),
        deadline: i64,
        reason: WaitReason,
    ) -> u32 {
        match &self.who {
            Who::G(_) => {
                if deadline != 0 {
                    // SAFETY: not queued yet; `self` stays put until `park`
                    // returns, and the timer is deleted before that.
                    unsafe {
                        *self.timer.get() =
                            RTimer::new(TimerFn::Wake(timeout_fired), self as *const _ as usize)
                    };
                }
                let mut args = ParkArgs {
                    parker: self,
                    unlock,
                    data,
                    deadline,
                };
                sched::gopark(
                    Some(park_commit),
                    &mut args as *mut ParkArgs as *mut (),
                    reason,
                );
                let won = self.state.load(Ordering::Acquire);
                if deadline != 0 && won != TIMEOUT {
                    // SAFETY: armed above; ours. Once `delete` returns, no
                    // timer code looks at it (or at us) again.
                    timers::delete(unsafe { &*self.timer.get() });
                }
                won
            }
            Who::Thread { woken, counted, .. } => {
                // A wait only a waker can end: deadlock detection counts the
                // thread asleep, before `unlock` lets a waker (which uncounts
                // it) see it. The flag is read by the waker under the
                // structures' locks, which `unlock` releases after this.
                let counted_now = deadline == 0 && sched::deadlock::thread_will_sleep();
                counted.store(counted_now, Ordering::Relaxed);
                // SAFETY: per `UnlockFn`.
                unsafe { unlock(data) };
                if counted_now {
                    sched::deadlock::thread_sleeps();
                }
                loop {
                    if woken.load(Ordering::Acquire) {
                        return self.state.load(Ordering::Acquire);
                    }
                    if deadline == 0 {
                        std::thread::park();
                        continue;
                    }
                    let now = super::os::nanotime();
                    if now >= deadline {
                        if self.claim(TIMEOUT) {
                            return TIMEOUT;
                        }
                        // A waker won just now: it sets `woken` shortly.
                        while !woken.load(Ordering::Acquire) {
                            std::thread::park();
                        }
                        return self.state.load(Ordering::Acquire);
                    }
                    std::thread::park_timeout(std::time::Duration::from_nanos(
                        (deadline - now) as u64,
                    ));
                }
            }
        }
    }
}

/// `gopark` unlock step: on g0, with the goroutine parked. Arms the deadline
/// before releasing the wait structures: a waker that wins through them may
/// run the goroutine at once, which then deletes the timer (so it must be in
/// a heap by then, or `delete` would miss it and it would fire later against a
/// dead parker). The timer may fire before `unlock` has run; the goroutine then
/// still has to take the structures' locks to unlink itself, so it waits for us.
unsafe fn park_commit(_gp: *mut G, args: *mut ()) -> bool {
    // SAFETY: `args` is on the parked goroutine's stack, read before anything
    // that could wake it; the M that parked it holds a P (`can_park`).
    unsafe {
        let a = &*(args as *const ParkArgs);
        let (parker, unlock, data, deadline) = (a.parker, a.unlock, a.data, a.deadline);
        if deadline != 0 {
            let pp = (*getm()).p;
            (*pp).timers.add(pp, &*(*parker).timer.get(), deadline);
        }
        unlock(data);
    }
    true
}

/// A goroutine's deadline passed: it wins if nothing else did.
unsafe fn timeout_fired(parker: usize) -> *mut G {
    // SAFETY: the timer is still queued (we run under its heap's lock), so its
    // parker's owner has not returned from `park` (it deletes it first).
    let p = unsafe { &*(parker as *const Parker) };
    match p.who {
        Who::G(gp) if p.claim(TIMEOUT) => gp,
        _ => core::ptr::null_mut(),
    }
}

/// A `nanotime` deadline `d` from now (saturating, never 0), for `park`.
pub(crate) fn deadline_after(d: std::time::Duration) -> i64 {
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    super::os::nanotime().saturating_add(ns).max(1)
}
