//! Idle Ps and idle Ms, and the calls that move Ms between sleeping and running:
//! `wakep` (maybe start a spinning M), `startm` (give a P to an idle or new M),
//! `stopm` (put the current M to sleep), `handoffp` (find a new owner for a P
//! whose M is stuck). The spinning protocol they implement is described at the top
//! of `sched/mod.rs`.

use super::{SCHED, acquirep, gomaxprocs, procs};
use crate::runtime::m::{self, M};
use crate::runtime::p::{P, PStatus};
use crate::runtime::{fatal, preempt, sysmon, timers};
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// Puts `pp` on the idle list (or retires it if `set_procs` shrank below it).
///
/// # Safety
/// `SCHED.lock` held; `pp` is owned by the caller and has no M.
pub(crate) unsafe fn pidleput(pp: *mut P) {
    // SAFETY: per the contract.
    unsafe {
        if (*pp).id >= gomaxprocs() {
            procs::retire_locked(pp);
            return;
        }
        if !(*pp).runq.is_empty() {
            fatal("pidleput: P has non-empty run queue");
        }
        (*pp).set_status(PStatus::Idle);
        let l = SCHED.locked();
        (*pp).link = l.pidle;
        l.pidle = pp;
    }
    SCHED.npidle.fetch_add(1, Ordering::SeqCst);
}

/// Takes a P off the idle list, or null.
///
/// # Safety
/// `SCHED.lock` held.
pub(crate) unsafe fn pidleget() -> *mut P {
    // SAFETY: per the contract.
    unsafe {
        loop {
            let l = SCHED.locked();
            let pp = l.pidle;
            if pp.is_null() {
                return null_mut();
            }
            l.pidle = (*pp).link;
            (*pp).link = null_mut();
            SCHED.npidle.fetch_sub(1, Ordering::SeqCst);
            if (*pp).id >= gomaxprocs() {
                procs::retire_locked(pp);
                continue;
            }
            return pp;
        }
    }
}

/// # Safety
/// `SCHED.lock` held; `m` is the current M, about to sleep.
unsafe fn mput(m: *mut M) {
    // SAFETY: per the contract.
    unsafe {
        let l = SCHED.locked();
        (*m).schedlink = l.midle;
        l.midle = m;
        l.nmidle += 1;
    }
}

/// # Safety
/// `SCHED.lock` held.
unsafe fn mget() -> *mut M {
    // SAFETY: per the contract.
    unsafe {
        let l = SCHED.locked();
        let m = l.midle;
        if !m.is_null() {
            l.midle = (*m).schedlink;
            (*m).schedlink = null_mut();
            l.nmidle -= 1;
            super::deadlock::m_woken();
        }
        m
    }
}

/// Maybe start a spinning M to look for work: only if a P is idle and no M is
/// spinning (one spinner at a time; it wakes the next when it finds work).
pub(crate) fn wakep() {
    if SCHED.npidle.load(Ordering::SeqCst) == 0 {
        return;
    }
    if SCHED.nmspinning.load(Ordering::SeqCst) != 0
        || SCHED
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    startm(null_mut(), true);
}

/// Gives `pp` (or an idle P if null) to an idle M, or a new one. If `spinning`,
/// the caller has already counted the new M in `nmspinning`.
pub(crate) fn startm(mut pp: *mut P, spinning: bool) {
    SCHED.lock.lock();
    if pp.is_null() {
        // SAFETY: lock held.
        pp = unsafe { pidleget() };
        if pp.is_null() {
            SCHED.lock.unlock();
            if spinning {
                // We counted a spinner that will not exist.
                if SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst) == 0 {
                    fatal("startm: negative nmspinning");
                }
            }
            return;
        }
    }
    // SAFETY: lock held.
    let nmp = unsafe { mget() };
    SCHED.lock.unlock();
    // Wake sysmon now rather than when the M binds the P (`acquirep`), which
    // for a new thread is after its creation.
    sysmon::wake_if_idle();
    if nmp.is_null() {
        if let Err(e) = m::newm(pp, spinning) {
            no_thread(pp, spinning, &e);
        }
        return;
    }
    // SAFETY: `nmp` sleeps in `stopm` and reads these only after the wake-up.
    unsafe {
        if (*nmp).spinning || !(*nmp).nextp.is_null() {
            fatal("startm: M is spinning or has a P");
        }
        (*nmp).spinning = spinning;
        (*nmp).nextp = pp;
        (*nmp).park.wakeup();
    }
}

/// The OS refused a thread for `pp`. As long as the runtime has a thread
/// at all, the program goes on with the ones it has (a server out of
/// threads degrades instead of dying): `pp`'s goroutines go to the global
/// queue, where every M looks, and `pp` back to the idle list; a later
/// `startm` tries again. With no thread at all nothing could ever run: fatal.
#[cold]
fn no_thread(pp: *mut P, spinning: bool, e: &std::io::Error) {
    use core::sync::atomic::AtomicBool;
    if m::NTHREADS.load(Ordering::SeqCst) == 0 {
        fatal(&format!("newm: cannot create OS thread: {e}"));
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        crate::runtime::os::write_stderr(
            format!(
                "gort: cannot create an OS thread ({e}); going on with the threads there are\n"
            )
            .as_bytes(),
        );
    }
    if spinning && SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst) == 0 {
        fatal("startm: negative nmspinning");
    }
    // SAFETY: the caller owns `pp` (taken off the idle list or handed over),
    // so it is its queue's only producer; lock held for the global queue and
    // the idle list.
    unsafe {
        SCHED.lock.lock();
        while let Some((gp, _)) = (*pp).runq.get() {
            super::globrunqput(gp);
        }
        // Its timers stay on it: the Ms that exist run every P's timers
        // (stealing, and the timer sleeper). Nothing here may `wakep`: that
        // would come straight back for another thread.
        pidleput(pp);
        SCHED.lock.unlock();
    }
}

/// Puts the current M (without a P) to sleep until `startm` hands it a P.
///
/// # Safety
/// `m` is the current M, on g0, without a P.
pub(crate) unsafe fn stopm(m: *mut M) {
    // SAFETY: per the contract.
    unsafe {
        if (*m).locks != 0 || !(*m).p.is_null() || (*m).spinning {
            fatal(&format!("stopm: M{} in a bad state", (*m).id));
        }
        // Goroutines preempted on this thread would wait for it in vain (it
        // may have found other work first: `locked::startlockedm`).
        preempt::release_affine(m);
        crate::runtime::chaos::point(crate::runtime::chaos::Point::Idle);
        SCHED.lock.lock();
        mput(m);
        // Maybe the last M to go idle, with everything asleep.
        let suspect = super::deadlock::suspect_locked();
        SCHED.lock.unlock();
        if let Some(s) = suspect {
            super::deadlock::confirm(s);
        }
        (*m).park.sleep();
        (*m).park.clear();
        let pp = (*m).nextp;
        (*m).nextp = null_mut();
        acquirep(m, pp);
    }
}

/// Finds a new owner for `pp`, whose M is blocked (sysmon took it) or gone.
pub(crate) fn handoffp(pp: *mut P) {
    // SAFETY: the caller owns `pp` (it won the CAS out of Syscall, or similar).
    unsafe {
        // Local or global work: start an M right away.
        if !(*pp).runq.is_empty() || SCHED.runqsize.load(Ordering::SeqCst) != 0 {
            startm(pp, false);
            return;
        }
        // No spinning or idle M/P: someone must look for work that appears later.
        if SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) == 0
            && SCHED
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            startm(pp, true);
            return;
        }
        SCHED.lock.lock();
        if SCHED.runqsize.load(Ordering::SeqCst) != 0 {
            SCHED.lock.unlock();
            startm(pp, false);
            return;
        }
        let when = (*pp).timers.timer0_when.load(Ordering::SeqCst);
        pidleput(pp);
        SCHED.lock.unlock();
        // Its timers must still fire: make sure the timer sleeper knows.
        if when != 0 {
            timers::wake_sleeper(when);
        }
    }
}
