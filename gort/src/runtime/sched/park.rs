//! Parking and readying goroutines: the wait/ready contract (written down here and
//! only here).
//!
//! **`gopark(unlockf, lock, reason)`** — called by a goroutine that has registered
//! itself on some wait structure *while holding the structure's lock*. It switches
//! to g0 (`mcall`), which saves the goroutine's registers, marks it Waiting, and
//! only then calls `unlockf(gp, lock)`. So by the time any waker can find the G
//! (which requires that lock), the G is fully parked: a `goready` can never race
//! with the G still running on its stack. If `unlockf` returns false the park is
//! cancelled and the G resumes at once.
//!
//! **`goready(gp)`** — called exactly once per park by whoever dequeued `gp` from
//! the wait structure (under its lock or after). Moves it Waiting → Runnable and
//! puts it in the current P's `runnext` (it runs next, inheriting the time slice:
//! the waker usually blocks soon after), or on the global queue if the caller has
//! no P (a plain thread, or a goroutine inside `blocking`), then `wakep`s.
//!
//! Parking after unlocking would lose wake-ups; "retry every few ms" is not a fix.

use super::{SCHED, execute, globrunqput, runqput, schedule, wakep};
use crate::runtime::arch;
use crate::runtime::g::{G, Status, WaitReason, casgstatus, setgstatus};
use crate::runtime::m::{M, getm};
#[cfg(gort_asan)]
use crate::runtime::sanitizer;
use crate::runtime::taskalloc::{TaskBlock, free_task_on};
use crate::runtime::{chaos, fatal, gfree};
use core::ptr::null_mut;

/// True if the caller is a goroutine that may park (it holds a P and is not inside
/// `blocking`). Outside, blocking operations block the OS thread instead.
#[inline]
pub(crate) fn can_park() -> bool {
    let m = getm();
    // SAFETY: the current thread's own M.
    !m.is_null() && unsafe { !(*m).curg.is_null() && !(*m).p.is_null() && !(*m).in_syscall }
}

/// Switches the current goroutine out to run `f(gp)` on g0.
///
/// The switch hold: `m.switching` is set from before the switch until the
/// goroutine runs Rust code again, so a preemption signal can never land in the
/// switch itself (see `preempt`). A flag, not a count in `m.locks`: holds never
/// nest, and plain stores keep the updates per switch off one store-to-load
/// dependency chain (as a counter they cost a yield ~5 ns). It is set here and
/// simply stays set while the M is on g0 (nothing there is preempted), through
/// `schedule` and `execute`, until the goroutine that runs next ends it: `gogo`
/// clears it as it jumps, or `goroutine_main` first thing. Two stores per
/// switch; an M starts with it set.
#[inline(always)]
pub(super) fn mcall(f: unsafe extern "C" fn(*mut G) -> !) {
    let m = take_switch_hold();
    mcall_held(m, f, Switch::Voluntary);
}

/// Why a goroutine switches out, for the wiring's bookkeeping
/// (`locked::at_switch`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Switch {
    /// It called into the runtime (park, yield, exit): at a point of its own
    /// code, never in the middle of a callback's entry or exit.
    Voluntary,
    /// An asynchronous preemption: at any instruction, maybe in the
    /// trampoline's own epilogue on top of a callback's last instructions.
    Preempted,
    /// It ends (`goexit`): a voluntary switch it never comes back from.
    Exit,
}

/// Takes the switch hold early, for a caller that prepares the switch in M
/// state first (`gopark`'s unlock function): a preemption between preparing
/// and switching would let another goroutine on this M overwrite it.
#[inline(always)]
fn take_switch_hold() -> *mut M {
    // Looked up and held in one step (see `acquirem`).
    let m = crate::runtime::m::acquire_switch();
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    m
}

/// `mcall` with the switch hold already taken on `m` by `take_switch_hold`.
#[inline(always)]
fn mcall_held(m: *mut M, f: unsafe extern "C" fn(*mut G) -> !, why: Switch) {
    // SAFETY: called on a goroutine (callers check `can_park`); g0's stack top is
    // free while a goroutine runs on this M.
    unsafe {
        let gp = (*m).curg;
        // Wired, or running a foreign callback (`cgocallback`: it must come
        // back to this thread, where the C frames below it belong, and is
        // wired here, at its first switch, instead of at every call): the
        // wiring's bookkeeping (`locked::at_switch`). One 16-bit test of
        // `locked` and `lockint` together, so that the usual goroutine
        // pays what the callback test alone cost.
        if wiring_word(gp) != 0 {
            super::locked::at_switch(m, gp, why == Switch::Preempted);
        }
        // Resumed (maybe on another M): that M's `execute` set the hold and
        // `gogo` cleared it. Nothing follows the call, so it is a tail call and
        // the resumed goroutine returns straight to our caller.
        #[cfg(not(gort_asan))]
        arch::mcall(&mut (*gp).sched, (*m).g0_sp, f, gp);
        // ASan is told of both switches (`sanitizer`); g0's side goes
        // through a shim that announces the arrival, then runs `f`.
        #[cfg(gort_asan)]
        {
            (*m).asan_mcall = Some(f);
            let why = if why == Switch::Exit {
                sanitizer::Leaving::Exit
            } else {
                sanitizer::Leaving::Resumable
            };
            sanitizer::leave_goroutine(gp, m, why);
            arch::mcall(&mut (*gp).sched, (*m).g0_sp, asan_mcall_shim, gp);
            sanitizer::enter_goroutine(gp);
        }
    }
}

/// `mcall`'s g0 side under ASan: confirm the switch, then the real function.
#[cfg(gort_asan)]
unsafe extern "C" fn asan_mcall_shim(gp: *mut G) -> ! {
    sanitizer::enter_g0();
    // SAFETY: `gp` was running on its M until the switch; the M stored `f`.
    unsafe {
        let f = (*(*gp).m).asan_mcall.take().expect("mcall: no function");
        f(gp)
    }
}

/// `gp.locked` and `gp.lockint` read as one word: nonzero if the goroutine
/// is wired or marked by a callback (adjacent bytes: asserted in `g.rs`).
///
/// # Safety
/// `gp` is the running goroutine (only it writes those bytes).
#[inline(always)]
unsafe fn wiring_word(gp: *mut G) -> u16 {
    // SAFETY: per the contract; two initialised bytes, 2-aligned.
    unsafe {
        gp.cast::<u8>()
            .add(core::mem::offset_of!(G, locked))
            .cast::<u16>()
            .read()
    }
}

/// Parks the current goroutine; see the contract at the top of this file.
pub(crate) fn gopark(
    unlockf: Option<unsafe fn(*mut G, *mut ()) -> bool>,
    lock: *mut (),
    reason: WaitReason,
) {
    // From here to the switch: the unlock function is stored in the M, so no
    // other goroutine may run on this M before `park_m` consumes it.
    let m = take_switch_hold();
    // SAFETY: the current M, on a goroutine.
    unsafe {
        let gp = (*m).curg;
        if gp.is_null() || (*m).p.is_null() {
            fatal("gopark: not on a goroutine that may park");
        }
        (*m).waitunlockf = unlockf;
        (*m).waitlock = lock;
        (*gp).waitreason = reason;
        (*gp).waitsince = crate::runtime::sysmon::coarse_nanotime();
    }
    mcall_held(m, park_m, Switch::Voluntary);
}

/// Detaches `gp` from `m` after it has been switched out (Go's `dropg`): from
/// here on `m` runs on g0 and `gp` belongs to whatever its new status says.
///
/// # Safety
/// On g0 of `m`, which was running `gp`.
#[inline]
pub(crate) unsafe fn dropg(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        (*m).curg = null_mut();
        (*gp).m = null_mut();
    }
}

unsafe extern "C" fn park_m(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`.
    unsafe {
        let m = (*gp).m;
        setgstatus(gp, Status::Running, Status::Waiting);
        dropg(m, gp);
        chaos::point(chaos::Point::Park);
        if let Some(f) = (*m).waitunlockf.take() {
            let lock = core::mem::replace(&mut (*m).waitlock, null_mut());
            if !f(gp, lock) {
                setgstatus(gp, Status::Waiting, Status::Runnable);
                execute(m, gp, true);
            }
        }
        if (*m).locks != 0 {
            fatal("park_m: goroutine parked holding a runtime lock");
        }
        schedule(m)
    }
}

/// Makes a parked goroutine runnable; see the contract at the top of this file.
pub(crate) fn goready(gp: *mut G) {
    ready(gp, true);
    wakep();
}

/// `goready` without `wakep` and without using `runnext`, for callers readying
/// many Gs in order (timers), which call `wakep` once at the end.
pub(crate) fn goready_batch(gp: *mut G) {
    ready(gp, false);
}

fn ready(gp: *mut G, next: bool) {
    chaos::point(chaos::Point::Ready);
    let hold = crate::runtime::m::NoPreempt::new();
    casgstatus(gp, Status::Waiting, Status::Runnable);
    let m = hold.m();
    // SAFETY: the current thread's M (if any); `gp` is now ours to queue.
    unsafe {
        if !m.is_null() && !(*m).p.is_null() && !(*m).in_syscall {
            let _ = runqput((*m).p, gp, next);
        } else {
            SCHED.lock.lock();
            globrunqput(gp);
            SCHED.lock.unlock();
        }
    }
}

/// Yields the processor: the current goroutine goes to the back of its P's queue.
pub(crate) fn gosched() {
    mcall(gosched_m);
}

/// Yields the processor and goes to the back of the global queue, behind every
/// goroutine already waiting there (spawn back-pressure, see `newproc`).
pub(crate) fn gosched_global() {
    mcall(gosched_global_m);
}

/// The common start of the `mcall` targets that leave `gp` runnable (yield,
/// global yield, preemption): Running → Runnable, detach.
/// Returns the M, which the caller goes on scheduling with.
///
/// # Safety
/// On g0 of the M that was running `gp`, first thing in an `mcall` target.
unsafe fn switched_out_runnable(gp: *mut G) -> *mut M {
    // SAFETY: per the contract.
    unsafe {
        let m: *mut M = (*gp).m;
        setgstatus(gp, Status::Running, Status::Runnable);
        dropg(m, gp);
        m
    }
}

unsafe extern "C" fn gosched_global_m(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`.
    unsafe {
        let m = switched_out_runnable(gp);
        SCHED.lock.lock();
        globrunqput(gp);
        SCHED.lock.unlock();
        schedule(m)
    }
}

/// Parks the current goroutine, asynchronously preempted, on its M's own queue
/// (called from the preemption trampoline on the goroutine's stack). Returns
/// when the M runs it again.
pub(crate) fn preempt_park() {
    let m = take_switch_hold();
    mcall_held(m, preempt_m, Switch::Preempted);
}

unsafe extern "C" fn preempt_m(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`.
    unsafe {
        let m = switched_out_runnable(gp);
        crate::runtime::p::bump_u64(&(*(*m).p).counters.preemptions);
        (*m).preempting
            .store(false, core::sync::atomic::Ordering::Relaxed);
        if core::mem::take(&mut (*m).preempt_wire) && !(*gp).locked {
            // Stopped in the callback text (see `m::in_callback_text`):
            // inside a callback, whose C frames must return on this thread.
            super::locked::wire(m, gp);
        }
        if !(*gp).locked && std::thread::panicking() {
            // Stopped while panicking before its hook wired it (std raises
            // the thread's panic count first), or in a panic that started
            // without the hook (`resume_unwind`, a hook that replaced
            // gort's): this thread's count is the goroutine's, so it stays
            // here (see `runtime::panic`). On g0 of the thread it ran on.
            (*gp).panicwired = true;
            super::locked::wire(m, gp);
        }
        if (*gp).locked {
            // It comes back to this thread anyway (`locked`); the M's own
            // queue would strand it while the M sleeps in `stoplockedm`.
            let _ = runqput((*m).p, gp, false);
        } else {
            crate::runtime::preempt::affine_put(m, gp);
        }
        schedule(m)
    }
}

unsafe extern "C" fn gosched_m(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`.
    unsafe {
        let m = switched_out_runnable(gp);
        let _ = runqput((*m).p, gp, false);
        schedule(m)
    }
}

/// Ends the current goroutine. Everything on its stack must be dead. `dead`,
/// its task's memory if it is the last user, is freed on g0: there the P's
/// cache needs no hold against preemption.
pub(crate) fn goexit(dead: Option<TaskBlock>) -> ! {
    // The block is stored in the M: hold preemption off from the store on.
    let m = take_switch_hold();
    // SAFETY: the current M.
    unsafe { (*m).deadtask = dead };
    mcall_held(m, goexit0, Switch::Exit);
    fatal("goexit returned")
}

unsafe extern "C" fn goexit0(gp: *mut G) -> ! {
    // SAFETY: on g0 of the M that was running `gp`; nothing references its stack.
    unsafe {
        let m = (*gp).m;
        setgstatus(gp, Status::Running, Status::Dead);
        dropg(m, gp);
        if let Some(b) = (*m).deadtask.take() {
            // SAFETY: on g0 (no preemption) of the M holding this P.
            free_task_on((*m).p, b.ptr.as_ptr(), b.layout);
        }
        (*gp).name = None;
        (*gp).waitreason = WaitReason::None;
        if (*m).locks != 0 {
            fatal("goexit: goroutine exited holding a runtime lock");
        }
        if (*gp).locked {
            super::locked::exit_locked(m, gp);
        }
        gfree::gfput((*m).p, gp);
        schedule(m)
    }
}
