//! Foreign code calling into goroutine code (Go's `cgocallback`): the runtime
//! half of `gort::ffi`.
//!
//! A callback always runs as goroutine code, whichever thread C calls it on:
//!
//! 1. **On a goroutine** (Rust called C, C calls back: the C frames are on
//!    the goroutine's stack and it holds its P): the closure runs right
//!    there, once the stack is seen to have `MIN_HEADROOM` left. This is the
//!    fast path: `qsort` with a closure comparator from a goroutine.
//! 2. **On a goroutine inside `blocking`**: it takes a P back first
//!    (`exitsyscall`, which may park it until one is free), runs the closure,
//!    and re-enters `blocking` (`entersyscall`) before returning to C.
//! 3. **On a thread the runtime did not create** (one C started, a `std`
//!    thread, the main thread before the runtime started): the thread is lent
//!    an extra M once (`extram`), whose goroutine the callbacks run on. Per
//!    call: the goroutine enters "blocking" on the thread's stack, switches
//!    to its own stack (the thread's stack below the foreign frames becomes
//!    the M's g0: `arch::cgocallback_switch`), takes a P (`exitsyscall`: the
//!    one kept from the thread's last callback unless sysmon has handed it
//!    off, else an idle one, else the thread sleeps until one is free), runs
//!    the closure and gives the P back as `blocking` does (`entersyscall`: a
//!    thread calling back in a loop keeps it; one that stays in C loses it to
//!    sysmon after ~20 µs). Between callbacks the goroutine is Dead: neither
//!    counted nor listed.
//!
//! In cases 1 and 2 the C frames below must return on the thread that called
//! them (C code keeps thread-local state, holds thread-owned locks), so the
//! goroutine is wired to its thread while the closure runs (`G.lockint`, the
//! runtime's share of `lock_os_thread`): it may park, yield or be preempted,
//! and resumes on the same thread. In case 1 the wiring is lazy: the
//! outermost such call only marks the goroutine (`lockint` 0 → 1, and back
//! to 0 when it returns; calls nested in it leave `lockint` alone), and the
//! goroutine's first switch inside the closure wires it
//! (`park::mcall_held`); a comparator never switches and so costs two byte
//! stores. On Linux x86-64 the entry shims do case 1's look-up and mark in
//! asm before any Rust code runs (`ffi::abi`, `cgocallback_marked`); the
//! rest of this file is the same protocol in Rust, for the other cases, the
//! other entries and the other platforms. The extra M's goroutine of case 3
//! is wired for life.
//!
//! The mark does not cover the whole call: the stub and the full thunk run
//! before `enter_fast` sets it, and the fast thunk's last instructions after
//! it clears it. All of that code is in the callback text
//! (`m::in_callback_text`), where a preemption wires the goroutine itself;
//! a voluntary switch drops such a wiring once nothing holds it
//! (`locked::at_switch`; a preemption never does, see there).
//! Debug builds check the result (`same_thread`).
//!
//! A panic in the closure never unwinds into C: it is reported as
//! `goroutine N panicked in callback: <msg>` and the process aborts (Rust's
//! own rule for `extern "C"` functions).

use super::{count_goroutines, entersyscall, exitsyscall, extram, locked};
use crate::runtime::g::{G, Status, setgstatus};
use crate::runtime::m::{self, M, NoPreempt};
use crate::runtime::{arch, fatal, os, panic, preempt, sanitizer};
use core::ptr::null_mut;
use core::sync::atomic::{Ordering, compiler_fence};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Stack a goroutine must have left for a callback to run on it: enough for
/// an ordinary closure and for unwinding a panic (~12 KiB) to the boundary.
pub(crate) const MIN_HEADROOM: usize = 16 * 1024;

/// Runs `f` as goroutine code on behalf of a foreign caller (see the module
/// comment), aborting the process if it panics.
#[inline(always)]
pub(crate) fn cgocallback<R>(f: impl FnOnce() -> R) -> R {
    let entry = same_thread::Entry::new();
    let (gp, outermost) = enter_fast();
    let r = if gp.is_null() {
        cgocallback_slow(f)
    } else if outermost {
        // SAFETY: `enter_fast` found `gp` running here and set its mark.
        unsafe { cgocallback_marked(gp.cast(), f) }
    } else {
        // Nested in another callback on `gp`, whose mark stands.
        guarded(f)
    };
    entry.check();
    r
}

/// The rule of the foreign boundary (`ffi`'s module documentation: a
/// goroutine never changes thread between C's call and the return to C),
/// checked in debug builds: the OS thread at a callback's entry and at its
/// exit (the system's thread id, read by `tid`; not the M, which a plain
/// thread's first callback binds on the way). Nothing in release builds.
mod same_thread {
    #[cfg(debug_assertions)]
    pub(super) struct Entry(i32);

    #[cfg(debug_assertions)]
    impl Entry {
        #[inline(always)]
        pub(super) fn new() -> Entry {
            Entry(tid())
        }

        #[inline(always)]
        pub(super) fn check(self) {
            if tid() != self.0 {
                moved()
            }
        }
    }

    /// The calling thread's id, from Rust code in the callback text: the
    /// entry's read runs before the goroutine is marked and the exit's after
    /// its mark is cleared, so a goroutine preempted in Rust code outside
    /// that text here would be neither marked nor wired, and sysmon's
    /// release of an M's preempted goroutines could resume it, C frames
    /// below, on another thread. (`os::current_tid`, not inlined in a debug
    /// build, was such code: under Wine a goroutine sorting with msvcrt's
    /// `qsort` moved threads between two comparator calls,
    /// ffi-tests/tests/callback_thread.rs.) `os::current_tid` is
    /// `#[inline(always)]`, so what is left is the system's own code.
    #[cfg(debug_assertions)]
    #[inline(never)]
    #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
    #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
    fn tid() -> i32 {
        crate::runtime::os::current_tid()
    }

    #[cfg(debug_assertions)]
    #[cold]
    #[inline(never)]
    fn moved() -> ! {
        crate::runtime::fatal(
            "gort::ffi: a callback is returning to C on another thread than the one C called it on",
        )
    }

    #[cfg(not(debug_assertions))]
    pub(super) struct Entry;

    #[cfg(not(debug_assertions))]
    impl Entry {
        #[inline(always)]
        pub(super) fn new() -> Entry {
            Entry
        }

        #[inline(always)]
        pub(super) fn check(self) {}
    }
}

/// Runs `f`, the closure of the outermost callback on goroutine `gp`, whose
/// mark is set (by `enter_fast`, or by `ffi::abi`'s register shims, which
/// do its work in asm before calling the signature's fast thunk); then
/// clears the mark, and unwires the goroutine if a switch inside the
/// callback wired it and nothing else holds it.
///
/// # Safety
/// `gp` is the running goroutine, marked by this callback's entry.
#[inline(always)]
pub(crate) unsafe fn cgocallback_marked<R>(gp: *mut (), f: impl FnOnce() -> R) -> R {
    let entry = same_thread::Entry::new();
    // The signal handler (a preemption's switch) reads `lockint`: keep the
    // closure between the two updates.
    compiler_fence(Ordering::SeqCst);
    let r = guarded(f);
    compiler_fence(Ordering::SeqCst);
    entry.check();
    let gp = gp.cast::<G>();
    // SAFETY: per the contract; every nested call has returned, and only
    // this goroutine writes its `lockint`.
    unsafe {
        (*gp).lockint = 0;
        if (*gp).locked {
            return unwire_keeping(gp, r);
        }
    }
    r
}

/// `cgocallback_marked`'s unwiring, out of line and handing the result
/// through, so that a fast thunk keeps no registers across it (and needs no
/// frame). `extern "C"`: a call that cannot unwind, which LLVM may then make
/// a tail call.
///
/// # Safety
/// `gp` is the running goroutine, its callback's mark just cleared.
#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
unsafe extern "C" fn unwire_keeping<R>(gp: *mut G, r: R) -> R {
    // SAFETY: per the contract.
    unsafe {
        if (*gp).lockcount == 0 {
            locked::unwire_after_callback(gp);
        }
    }
    r
}

/// Runs `f`, aborting the process if it panics.
#[inline(always)]
fn guarded<R>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => panicked(p),
    }
}

/// `cgocallback` off its fast path: out of line, so that the fast path's
/// frame (in every thunk) holds nothing of it.
#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
fn cgocallback_slow<R>(f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    slow(&mut || {
        if let Some(f) = f.take() {
            out = Some(f());
        }
    });
    match out {
        Some(r) => r,
        None => fatal("cgocallback: the callback did not run"),
    }
}

/// Case 1's look-up (see the module comment): the running goroutine, if
/// this thread runs one, on its own stack with `MIN_HEADROOM` to spare and
/// not inside `blocking`, marked as running a callback in its `lockint`;
/// else null, for `slow` to sort out. The flag says whether this call set
/// the mark (`lockint` was 0), and so must clear it (`cgocallback_marked`); a
/// call nested in another callback finds it set and leaves it be.
///
/// Wired lazily: `lockint` makes the first switch inside the closure wire
/// the goroutine (`park::mcall_held`); most callbacks never switch, and so
/// pay two byte stores. Stores, not an increment and a decrement: a
/// comparator's calls would chain through the counter in memory (each
/// read waiting for the previous call's write), which was most of the
/// ~5 ns a call cost in a tight loop.
///
/// In the no-preemption text, like `m::acquirem`: the look-up and the mark
/// are one step no preemption can split (stopped in between and resumed on
/// another thread, it would read the old thread's goroutine). A leaf: it
/// must call nothing that returns.
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_nopreempt"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortn_m"))]
pub(crate) fn enter_fast() -> (*mut G, bool) {
    let m = m::getm_in_nopreempt_text();
    if m.is_null() {
        return (null_mut(), false);
    }
    // SAFETY: the current thread's own M, and the goroutine it runs; no
    // preemption here (above).
    unsafe {
        let gp = (*m).curg;
        if gp.is_null() || (*m).in_syscall {
            return (null_mut(), false);
        }
        let sp = arch::current_sp();
        let s = (*gp).stack;
        if sp < s.lo.wrapping_add(MIN_HEADROOM) || sp >= s.hi {
            return (null_mut(), false);
        }
        if (*gp).lockint != 0 {
            return (gp, false);
        }
        (*gp).lockint = 1;
        (gp, true)
    }
}

/// The end of a callback counted in `gp.lockint` (`slow`'s case 1):
/// unwires the goroutine if a switch inside the callback wired it and
/// nothing else holds it.
///
/// # Safety
/// `gp` is the running goroutine, and this undoes its latest `lockint`
/// increment.
#[inline(always)]
unsafe fn leave(gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        (*gp).lockint -= 1;
        if (*gp).lockint == 0 && (*gp).locked && (*gp).lockcount == 0 {
            locked::unwire_after_callback(gp);
        }
    }
}

/// Case 1 missed by `enter_fast` (a stack without the headroom: abort), and
/// cases 2 and 3 (see the module comment).
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
fn slow(run: &mut dyn FnMut()) {
    let hold = NoPreempt::new();
    let m = hold.m();
    if m.is_null() {
        drop(hold);
        // SAFETY: a fresh extra M for this thread, between callbacks.
        return unsafe { extra_call(extram::bind(), run) };
    }
    // SAFETY: the current thread's own M, held.
    unsafe {
        let gp = (*m).curg;
        if gp.is_null() {
            if (*m).extrag.is_null() {
                fatal("gort::ffi: callback on a runtime thread outside any goroutine");
            }
            drop(hold);
            return extra_call(m, run);
        }
        check_headroom(gp);
        if !(*m).in_syscall {
            // Case 1 after all (`enter_fast` raced with a preemption).
            locked::lockint_inc(gp);
            drop(hold);
            guarded(run);
            leave(gp);
            return;
        }
        // Inside `blocking`: wire first, so that a park in `exitsyscall`
        // resumes on this thread.
        locked::lock_internal(m, gp);
        drop(hold);
        exitsyscall();
        guarded(run);
        if !entersyscall() {
            fatal("cgocallback: cannot re-enter blocking");
        }
        m::rehold(m);
        locked::unlock_internal(m, gp);
        m::unhold(m);
    }
}

/// Case 3: runs `run` on `m`'s goroutine.
///
/// # Safety
/// `m` is the current thread's extra M, between callbacks.
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
unsafe fn extra_call(m: *mut M, run: &mut dyn FnMut()) {
    // SAFETY: per the contract; the goroutine is ours until it is Dead again.
    unsafe {
        let gp = (*m).extrag;
        (*m).curg = gp;
        (*gp).m = m;
        setgstatus(gp, Status::Dead, Status::Syscall);
        let mut ctx: (*mut M, &mut dyn FnMut()) = (m, run);
        sanitizer::leave_thread_stack(m, gp);
        arch::cgocallback_switch(
            (&mut ctx as *mut (*mut M, &mut dyn FnMut())).cast(),
            on_extra_g,
            &(*gp).stack,
            &mut (*m).g0_sp,
        );
        sanitizer::enter_thread_stack(m);
        // Back on the thread's stack, "inside blocking" again.
        setgstatus(gp, Status::Syscall, Status::Dead);
        (*m).curg = null_mut();
        (*gp).m = null_mut();
    }
}

/// `extra_call`'s part on the goroutine's stack.
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
unsafe extern "C" fn on_extra_g(ctx: *mut u8) {
    // SAFETY: `ctx` is `extra_call`'s tuple, alive for the call.
    let (m, run) = unsafe { &mut *ctx.cast::<(*mut M, &mut dyn FnMut())>() };
    let m = *m;
    // SAFETY: the current M, entering its callback goroutine afresh.
    unsafe { sanitizer::enter_new_goroutine(m) };
    if preempt::ENABLED {
        // Now on a goroutine stack: end the switch hold the M has had since it
        // last left one (what `gogo` does when resuming a goroutine).
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the current M.
        unsafe { (*m).switching.store(false, Ordering::Relaxed) };
    }
    exitsyscall();
    count_goroutines(1);
    guarded(&mut **run);
    count_goroutines(-1);
    if !entersyscall() {
        fatal("cgocallback: cannot leave the callback goroutine");
    }
    if preempt::ENABLED {
        // Leaving the goroutine stack: the switch hold until the next
        // callback. The goroutine is wired, so `m` is still this thread's M.
        // SAFETY: as above.
        unsafe { (*m).switching.store(true, Ordering::Relaxed) };
        compiler_fence(Ordering::SeqCst);
    }
    // SAFETY: the current M; the asm switches back right after we return.
    unsafe { sanitizer::leave_callback(m) };
}

/// Aborts unless `gp`, the current goroutine, has `MIN_HEADROOM` of stack
/// left below the caller.
///
/// # Safety
/// `gp` is the goroutine running this code.
#[inline(always)]
unsafe fn check_headroom(gp: *mut G) {
    let sp = arch::current_sp();
    // SAFETY: per the contract.
    let lo = unsafe { (*gp).stack.lo };
    if sp < lo.wrapping_add(MIN_HEADROOM) {
        // SAFETY: as above.
        no_headroom(unsafe { (*gp).id }, sp.saturating_sub(lo));
    }
}

#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
fn no_headroom(id: u64, left: usize) -> ! {
    os::write_stderr(
        format!(
            "goroutine {id}: too little stack left for a callback from foreign code \
             ({left} bytes, need {MIN_HEADROOM}); give the goroutine a larger stack \
             (gort::Builder::stack_size, GORT_STACK_SIZE)\n"
        )
        .as_bytes(),
    );
    os::abort()
}

/// A panic reached the foreign boundary: report it and abort.
#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
fn panicked(payload: Box<dyn core::any::Any + Send>) -> ! {
    let gp = m::getg();
    // SAFETY: the running goroutine's own descriptor.
    let id = if gp.is_null() { 0 } else { unsafe { (*gp).id } };
    let msg = panic::payload_str(&*payload);
    os::write_stderr(format!("goroutine {id} panicked in callback: {msg}\n").as_bytes());
    os::write_stderr(b"fatal error: a panic may not unwind into foreign code; aborting\n");
    os::abort()
}
