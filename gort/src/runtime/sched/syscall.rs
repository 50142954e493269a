//! Blocking hand-off: `blocking(f)` (Go's entersyscall/exitsyscall).
//!
//! A goroutine about to block its OS thread detaches from its P without giving it
//! away: the P goes to status Syscall, and the M remembers it in `oldp`. If the call
//! is short, the M takes the P straight back with one CAS (Syscall → Running) and
//! nothing else happens. If sysmon sees the P still in the same syscall one tick
//! later (~20 µs), it wins the CAS instead (Syscall → Idle) and hands the P to
//! another M (`handoffp`), so the P's other goroutines keep running even with
//! `procs() == 1`. The returning M then looks for an idle P; failing that, its
//! goroutine goes on the global queue and the M sleeps.

use super::{SCHED, acquirep, dropg, execute, globrunqput, gomaxprocs, idle, procs, schedule};
use crate::runtime::g::{G, Status, setgstatus};
use crate::runtime::m::NoPreempt;
use crate::runtime::p::{P, PStatus};
use crate::runtime::{fatal, preempt, sysmon};
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// The current goroutine is about to block its thread. Returns false (and does
/// nothing) if the caller is not a goroutine holding a P.
pub(crate) fn entersyscall() -> bool {
    let hold = NoPreempt::new();
    let m = hold.m();
    // SAFETY: the current thread's own M.
    unsafe {
        if m.is_null() || (*m).curg.is_null() || (*m).p.is_null() || (*m).in_syscall {
            return false;
        }
        if (*m).locks != u32::from(preempt::ENABLED) {
            fatal("entersyscall: holding runtime locks");
        }
        // This thread is about to block: goroutines preempted on it may not wait
        // for it (see `preempt`).
        preempt::release_affine(m);
        let pp = (*m).p;
        let gp = (*m).curg;
        (*pp).syscalltick.fetch_add(1, Ordering::Relaxed);
        setgstatus(gp, Status::Running, Status::Syscall);
        (*m).in_syscall = true;
        (*m).oldp = pp;
        (*m).p = null_mut();
        (*pp).m = null_mut();
        (*pp).set_status(PStatus::Syscall);
    }
    sysmon::wake_for_syscall();
    true
}

/// The blocking call returned: get a P back, or park until one is free.
pub(crate) fn exitsyscall() {
    let hold = NoPreempt::new();
    let m = hold.m();
    // SAFETY: the current M, whose goroutine is in Syscall.
    unsafe {
        let gp = (*m).curg;
        let oldp = (*m).oldp;
        (*m).oldp = null_mut();
        (*m).in_syscall = false;
        // Fast path: our P is still ours. (An extra M entering its first
        // callback had none: see `cgocallback`.)
        if !oldp.is_null()
            && (*oldp).id < gomaxprocs()
            && (*oldp).cas_status(PStatus::Syscall, PStatus::Running)
        {
            (*oldp).m = null_mut();
            acquirep(m, oldp);
            (*oldp).syscalltick.fetch_add(1, Ordering::Relaxed);
            setgstatus(gp, Status::Syscall, Status::Running);
            return;
        }
        if !oldp.is_null()
            && (*oldp).id >= gomaxprocs()
            && (*oldp).cas_status(PStatus::Syscall, PStatus::Idle)
        {
            // set_procs shrank below it while we were away: retire it, unless
            // it grew back since (checked under the lock, see
            // `procs::retire_current_p`): then it is ours to keep.
            SCHED.lock.lock();
            if (*oldp).id >= gomaxprocs() {
                procs::retire_locked(oldp);
                SCHED.lock.unlock();
            } else {
                SCHED.lock.unlock();
                (*oldp).m = null_mut();
                acquirep(m, oldp);
                (*oldp).syscalltick.fetch_add(1, Ordering::Relaxed);
                setgstatus(gp, Status::Syscall, Status::Running);
                return;
            }
        }
        // Any idle P?
        SCHED.lock.lock();
        let pp = idle::pidleget();
        SCHED.lock.unlock();
        if !pp.is_null() {
            acquirep(m, pp);
            setgstatus(gp, Status::Syscall, Status::Running);
            return;
        }
        // None: queue the goroutine and let this M sleep (on g0). No P is held
        // from here, so no preemption can land before `mcall` takes its hold.
        drop(hold);
        super::park::mcall(exitsyscall0);
    }
}

/// Takes `pp` from the M that left it in `blocking` and finds it a new owner
/// (sysmon's retake; also a foreign thread's extra M giving up the P it kept
/// when the thread exits). Returns false if the M took it back first.
///
/// # Safety
/// `pp` is a live P.
pub(crate) unsafe fn retake_syscall_p(pp: *mut P) -> bool {
    // SAFETY: per the contract; winning the CAS makes the P ours.
    unsafe {
        if !(*pp).cas_status(PStatus::Syscall, PStatus::Idle) {
            return false;
        }
        (*pp).syscalltick.fetch_add(1, Ordering::Relaxed);
        // Out of range is decided under the lock (see
        // `procs::retire_current_p`).
        SCHED.lock.lock();
        let retire = (*pp).id >= gomaxprocs();
        if retire {
            procs::retire_locked(pp);
        }
        SCHED.lock.unlock();
        if !retire {
            idle::handoffp(pp);
        }
        true
    }
}

unsafe extern "C" fn exitsyscall0(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`, which has no P.
    unsafe {
        let m = (*gp).m;
        setgstatus(gp, Status::Syscall, Status::Runnable);
        dropg(m, gp);
        SCHED.lock.lock();
        let pp = idle::pidleget();
        if pp.is_null() {
            globrunqput(gp);
        }
        SCHED.lock.unlock();
        if !pp.is_null() {
            acquirep(m, pp);
            execute(m, gp, false);
        }
        if (*m).lockedg == gp {
            // Locked: wait for whichever M picks `gp` off the global queue to
            // hand us its P (see `locked`).
            super::locked::stoplockedm(m);
            execute(m, gp, false);
        }
        idle::stopm(m);
        schedule(m)
    }
}
