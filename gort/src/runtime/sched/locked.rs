//! Goroutines wired to an OS thread: `lock_os_thread` (Go's `LockOSThread`).
//!
//! A locked goroutine G and its M point at each other (`g.lockedm`,
//! `m.lockedg`), and from then on that M runs G and nothing else:
//! - when G switches out (parks, yields, is preempted), its M's `schedule`
//!   does not look for other work: it hands its P to another M (`handoffp`)
//!   and sleeps (`stoplockedm`);
//! - when any other M's `schedule` picks G (it became runnable and sat in some
//!   run queue like any goroutine), that M hands its own P to G's M and wakes
//!   it (`startlockedm`), then sleeps as an idle M itself. G's M wakes with
//!   the P and runs G.
//!
//! So every switch of a locked goroutine costs two thread wake-ups, as in Go:
//! locking is for code that needs the thread (thread-local state of a C
//! library, `unshare`, a GUI main loop), not for speed.
//!
//! Async preemption would park G on its M's own queue (`M.affine`), which only
//! a scheduling M reads; a locked G goes to its P's run queue instead and
//! comes back through `startlockedm` like any other switch. The preempted
//! goroutines of other Gs that wait on a locked M are released to the global
//! queue when it goes to sleep.
//!
//! A goroutine that ends while locked takes its thread with it (Go's rule
//! since 1.10: it may have changed the thread's state — signal mask, namespace,
//! thread-locals of a C library — so the thread is not reused).
//!
//! The runtime wires goroutines itself, for as long as something it tracks
//! holds them, each hold counted apart from the user's `lockcount` so that
//! an unmatched `unlock_os_thread` cannot undo it:
//! - a foreign callback running on the goroutine (`G.lockint`, see
//!   `cgocallback`): the C frames below it belong to this thread;
//! - a panic in progress (`G.panicwired`, see `runtime::panic`): std keeps
//!   the panic count per OS thread.
//!
//! Every switch of a wired goroutine passes `at_switch` (`park::mcall_held`
//! tests `locked` and `lockint` as one word, so unwired goroutines pay
//! nothing more), which ends a panic's hold once the thread's panic count is
//! back at zero and drops a wiring that nothing holds any more.

use super::idle::{handoffp, stopm};
use super::releasep;
use crate::runtime::g::G;
use crate::runtime::m::{self, M, NoPreempt};
use crate::runtime::{fatal, gfree, preempt};
use core::ptr::null_mut;

/// Runs `f(m, gp)` with the current M and its goroutine, the goroutine unable
/// to move meanwhile (no preemption); does nothing outside a goroutine.
fn on_current(f: impl FnOnce(*mut M, *mut G)) {
    let hold = NoPreempt::new();
    let m = hold.m();
    // SAFETY: the current thread's own M.
    if !m.is_null() && unsafe { !(*m).curg.is_null() } {
        // SAFETY: as above.
        f(m, unsafe { (*m).curg });
    }
}

/// Wires the calling goroutine to its current OS thread; calls nest.
/// Does nothing outside a goroutine.
pub(crate) fn lock() {
    on_current(|m, gp| {
        // SAFETY: the current M and the goroutine it runs.
        unsafe {
            (*gp).lockcount = match (*gp).lockcount.checked_add(1) {
                Some(n) => n,
                None => fatal("lock_os_thread: nesting overflow"),
            };
            wire(m, gp);
        }
    });
}

/// Undoes one `lock`; the last one unwires the goroutine, unless the runtime
/// holds it wired itself (`lock_internal`). Does nothing for a goroutine
/// that is not locked, or outside a goroutine.
pub(crate) fn unlock() {
    on_current(|m, gp| {
        // SAFETY: the current M and the goroutine it runs (a locked one cannot
        // have moved: this is its M).
        unsafe {
            if (*gp).lockcount == 0 {
                return;
            }
            (*gp).lockcount -= 1;
            unwire_if_free(m, gp);
        }
    });
}

/// The runtime's own `lock` (Go's `lockOSThread`), on `gp` running on `m`:
/// counted apart from the user's, which cannot undo it.
///
/// # Safety
/// `m` is the current M and `gp` its goroutine (`m.curg`), held in place
/// (no preemption) by the caller.
#[inline]
pub(crate) unsafe fn lock_internal(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        lockint_inc(gp);
        wire(m, gp);
    }
}

/// One more runtime wiring of `gp` (see `G.lockint`).
///
/// # Safety
/// `gp` is the running goroutine.
#[inline]
pub(crate) unsafe fn lockint_inc(gp: *mut G) {
    // SAFETY: per the contract; only the goroutine itself writes it.
    unsafe {
        (*gp).lockint = match (*gp).lockint.checked_add(1) {
            Some(n) => n,
            None => fatal("foreign callbacks nested more than 255 deep on one goroutine"),
        };
    }
}

/// Undoes one `lock_internal`.
///
/// # Safety
/// As `lock_internal`, with a `lock_internal` of `gp` outstanding.
#[inline]
pub(crate) unsafe fn unlock_internal(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        if (*gp).lockint == 0 {
            fatal("unlock_internal: goroutine not wired by the runtime");
        }
        (*gp).lockint -= 1;
        unwire_if_free(m, gp);
    }
}

/// The end of a foreign callback's lazy wiring (see `cgocallback`): `gp`,
/// the current goroutine, was wired at a switch inside the callback (or
/// by its own `lock_os_thread` calls, since undone); unwire it unless
/// something still holds it.
#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
pub(crate) fn unwire_after_callback(gp: *mut G) {
    let hold = NoPreempt::new();
    // SAFETY: `gp` is the running goroutine, wired to this M (the hold's).
    unsafe { unwire_if_free(hold.m(), gp) };
}

/// Wires the running goroutine to its thread for its panic: called first
/// thing by the panic hook (and before the runtime resumes a caught panic),
/// so that no other goroutine runs on this thread, which holds the panic's
/// count, until the panic is caught. Does nothing outside a goroutine.
pub(crate) fn wire_for_panic() {
    on_current(|m, gp| {
        // SAFETY: the current M and the goroutine it runs, held.
        unsafe {
            (*gp).panicwired = true;
            wire(m, gp);
        }
    });
}

/// A wired goroutine (or one marked by a callback) is switching out:
/// - marked by a callback and not yet wired: wire it (the lazy half of
///   `cgocallback`'s protocol);
/// - wired for a panic that has ended (this thread's panic count is zero:
///   caught by its root, by `scope` or by the user's own `catch_unwind`):
///   end that hold;
/// - then, at a voluntary switch, unwire it if nothing holds it any more
///   (also a wiring the preemption of a callback's own code added, see
///   `preempt`). Never at a preemption: one can land in the preemption
///   trampoline's epilogue, on top of a callback's last instructions
///   (after its mark is cleared, before it returns to C), where the wiring
///   an earlier preemption added is what keeps the goroutine on C's thread.
///
/// # Safety
/// On `gp`, the goroutine running on `m`, the current M, with the switch
/// hold taken (no preemption).
#[cold]
#[inline(never)]
pub(crate) unsafe fn at_switch(m: *mut M, gp: *mut G, preempted: bool) {
    // SAFETY: per the contract.
    unsafe {
        if !(*gp).locked {
            wire(m, gp);
            return;
        }
        // The count is this thread's, and only `gp` has run here since its
        // panic began (it has been wired since): it is `gp`'s panic count.
        if (*gp).panicwired && !std::thread::panicking() {
            (*gp).panicwired = false;
        }
        if !preempted {
            unwire_if_free(m, gp);
        }
    }
}

/// Wires `gp` to `m` (again: idempotent).
///
/// # Safety
/// `gp` runs on `m`, the current M.
#[inline]
pub(crate) unsafe fn wire(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        if !(*gp).locked {
            (*gp).lockedm = m;
            (*m).lockedg = gp;
            (*gp).locked = true;
        }
    }
}

/// Unwires `gp` once neither the user nor the runtime holds it wired.
///
/// # Safety
/// `gp` is wired to `m`, which is the current M.
#[inline]
unsafe fn unwire_if_free(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        if (*gp).lockcount == 0 && (*gp).lockint == 0 && !(*gp).panicwired {
            unwire(m, gp);
        }
    }
}

/// # Safety
/// `gp` is wired to `m`, which is the current M.
#[inline]
unsafe fn unwire(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        if (*gp).lockedm != m || (*m).lockedg != gp {
            fatal("unlock_os_thread: goroutine and thread disagree");
        }
        (*gp).locked = false;
        (*gp).lockedm = null_mut();
        (*gp).lockcount = 0;
        (*gp).lockint = 0;
        (*gp).panicwired = false;
        (*m).lockedg = null_mut();
    }
}

/// `m`'s locked goroutine has switched out: give the P away and sleep until
/// another M hands back a P because the goroutine is runnable again. Returns
/// with a P; the caller runs `m.lockedg`.
///
/// # Safety
/// `m` is the current M, on g0, with a locked goroutine that is not running.
pub(crate) unsafe fn stoplockedm(m: *mut M) {
    // SAFETY: per the contract.
    unsafe {
        if (*m).spinning || (*m).locks != 0 {
            fatal("stoplockedm: M in a bad state");
        }
        // Goroutines preempted on this thread would wait for it in vain.
        preempt::release_affine(m);
        if !(*m).p.is_null() {
            handoffp(releasep(m));
        }
        super::deadlock::locked_m_sleeps();
        (*m).park.sleep();
        (*m).park.clear();
        let pp = (*m).nextp;
        (*m).nextp = null_mut();
        if pp.is_null() {
            fatal("stoplockedm: woken without a P");
        }
        super::acquirep(m, pp);
    }
}

/// `m` picked the runnable `gp`, which is locked to another M: hand it our P
/// (and so `gp`), then sleep as an idle M. Returns when `startm` wakes us with
/// a P.
///
/// # Safety
/// `m` is the current M, on g0, with a P, not spinning; `gp` is Runnable,
/// owned by the caller and locked to an M sleeping in `stoplockedm`.
pub(crate) unsafe fn startlockedm(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        let lm = (*gp).lockedm;
        if lm == m || (*lm).lockedg != gp {
            fatal("startlockedm: goroutine and thread disagree");
        }
        let pp = releasep(m);
        // The locked M reads `nextp` after the wake-up.
        (*lm).nextp = pp;
        super::deadlock::locked_m_woken();
        (*lm).park.wakeup();
        stopm(m);
    }
}

/// The locked `gp` has ended on `m` without unlocking: free it, give the P
/// away and end the thread.
///
/// # Safety
/// On g0 of `m`, the current M; `gp` is Dead, was run by `m` and is locked to it.
pub(crate) unsafe fn exit_locked(m: *mut M, gp: *mut G) -> ! {
    // SAFETY: per the contract.
    unsafe {
        unwire(m, gp);
        gfree::gfput((*m).p, gp);
        preempt::release_affine(m);
        handoffp(releasep(m));
        m::mexit(m)
    }
}
