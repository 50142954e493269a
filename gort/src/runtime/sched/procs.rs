//! Changing the number of Ps at run time (`set_procs`, Go's `procresize`).
//!
//! Go stops the world to resize; gort does not need to, because Ps are never
//! freed and every loop over Ps reads the whole table (`allp`), Dead ones included.
//!
//! - Growing: new Ps are created (or Dead ones revived) and put on the idle list,
//!   then `wakep` starts Ms for them.
//! - Shrinking: `gomaxprocs` drops at once. A P with an id at or above it is
//!   *retired* by whoever next owns it: idle ones right here, running ones by their
//!   M at its next `schedule`, ones in `blocking` by sysmon or the returning M.
//!   Retiring moves its run queue to the global queue and its free Gs to the global
//!   free list, and marks it Dead. Its pending timers stay where they are (moving
//!   them would take timer locks, which come before the scheduler lock), and
//!   `RETIRED_TIMER0` notes the earliest: `findrunnable` runs them once due
//!   (`run_retired_timers`), as do the passes that cover all Ps anyway (the
//!   timer sleeper's, a stealing M's). Without it a P that always had local
//!   work (a goroutine yielding in a loop) would never steal, no idle M would
//!   get a P to run timers with, and a goroutine asleep on the retired P would
//!   sleep forever.

use super::{SCHED, acquirep, gfree, globrunqput, idle, releasep, wakep};
use crate::runtime::m::M;
use crate::runtime::os;
use crate::runtime::p::{P, PStatus};
use crate::runtime::sched::MAX_PROCS;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicI64, Ordering};

/// The earliest timer (`nanotime`) on a Dead P when it was retired or last
/// checked, 0 if none: a hint, early at worst (a timer deleted since), never
/// late.
static RETIRED_TIMER0: AtomicI64 = AtomicI64::new(0);

/// Lowers `RETIRED_TIMER0` to `when` (a timer on a Dead P).
fn note_retired_timer(when: i64) {
    let _ = RETIRED_TIMER0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
        (w == 0 || when < w).then_some(when)
    });
}

/// Runs the due timers of Dead Ps (readying their Gs onto the current P) if
/// `RETIRED_TIMER0` says some are due; `now` is the time if the caller read
/// it (else 0). Returns the time read, or `now`.
///
/// # Safety
/// The current M holds a P (as `findrunnable`).
#[inline]
pub(crate) unsafe fn run_retired_timers(now: i64) -> i64 {
    let w = RETIRED_TIMER0.load(Ordering::Relaxed);
    if w == 0 {
        return now;
    }
    let now = if now == 0 { os::nanotime() } else { now };
    if now < w {
        return now;
    }
    // Cleared before the scan: a P retired meanwhile lowers it again after
    // it is Dead, so either the scan sees it or the hint stays set.
    RETIRED_TIMER0.store(0, Ordering::SeqCst);
    for pp in super::allp() {
        // SAFETY: Ps are never freed; the heap has its own lock.
        unsafe {
            if (*pp).status() != PStatus::Dead {
                continue;
            }
            (*pp).timers.run(now);
            let next = (*pp).timers.timer0_when.load(Ordering::SeqCst);
            if next != 0 {
                note_retired_timer(next);
            }
        }
    }
    now
}

/// Sets the number of Ps to `n` (clamped to 1..=MAX_PROCS); returns the old number.
pub(crate) fn procresize(n: usize) -> usize {
    let n = n.clamp(1, MAX_PROCS);
    SCHED.lock.lock();
    let old = SCHED.gomaxprocs.load(Ordering::SeqCst) as usize;
    let len = SCHED.allp_len.load(Ordering::SeqCst);
    for i in len..n {
        let pp = Box::into_raw(Box::new(P::new(i)));
        // SAFETY: a fresh P, not yet visible.
        unsafe { (*pp).set_status(PStatus::Dead) };
        SCHED.allp[i].store(pp, Ordering::Release);
        SCHED.allp_len.store(i + 1, Ordering::Release);
    }
    SCHED.gomaxprocs.store(n as u32, Ordering::SeqCst);
    // SAFETY: lock held; Dead Ps are owned by nobody.
    unsafe {
        for i in 0..n {
            let pp = SCHED.allp[i].load(Ordering::Acquire);
            if (*pp).status() == PStatus::Dead {
                (*pp).m = null_mut();
                idle::pidleput(pp);
            }
        }
        if n < old {
            // Retire idle Ps that are now out of range.
            let l = SCHED.locked();
            let mut prev: *mut *mut P = &mut l.pidle;
            while !(*prev).is_null() {
                let pp = *prev;
                if (*pp).id >= n {
                    *prev = (*pp).link;
                    (*pp).link = null_mut();
                    SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
                    retire_locked(pp);
                } else {
                    prev = &mut (*pp).link;
                }
            }
        }
    }
    SCHED.lock.unlock();
    for _ in old..n {
        wakep();
    }
    old
}

/// Retires `pp`: queue to the global queue, free Gs to the global list, Dead.
///
/// # Safety
/// `SCHED.lock` held; the caller owns `pp` (no M, not on the idle list).
pub(crate) unsafe fn retire_locked(pp: *mut P) {
    // SAFETY: per the contract: owning the P makes us its queue's only producer.
    unsafe {
        while let Some((gp, _)) = (*pp).runq.get() {
            globrunqput(gp);
        }
        gfree::drain_local(pp);
        crate::runtime::taskalloc::drain(pp);
        (*pp).m = null_mut();
        (*pp).set_status(PStatus::Dead);
        let when = (*pp).timers.timer0_when.load(Ordering::SeqCst);
        if when != 0 {
            note_retired_timer(when);
        }
    }
}

/// The current M's P looked out of range: retire it and continue with
/// another P (or sleep until one is handed over).
///
/// The range is checked again under the lock (`procresize` changes it under
/// the lock): a limit that grew back since the caller looked makes the P
/// valid again, and retiring it then would lose it for good (Dead, on no
/// list, and `procresize` revives only the Dead Ps it finds as it grows).
/// The same rule holds for every retirement outside `procresize`.
///
/// # Safety
/// `m` is the current M, on g0, holding its P.
pub(crate) unsafe fn retire_current_p(m: *mut M) {
    // SAFETY: per the contract.
    unsafe {
        SCHED.lock.lock();
        if (*(*m).p).id < super::gomaxprocs() {
            SCHED.lock.unlock();
            return;
        }
        if (*m).spinning {
            (*m).spinning = false;
            SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        let pp = releasep(m);
        retire_locked(pp);
        let p2 = idle::pidleget();
        SCHED.lock.unlock();
        // Its Gs went to the global queue: make sure someone runs them.
        wakep();
        if p2.is_null() {
            idle::stopm(m);
        } else {
            acquirep(m, p2);
        }
    }
}
