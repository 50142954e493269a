//! Windows: a vectored exception handler for goroutine stack overflows, and
//! Ctrl-Break for the goroutine dump (SIGQUIT's role on Unix).
//!
//! Windows has no signal stack: the exception is dispatched on the stack that
//! faulted, here inside the goroutine's guard region, whose `PAGE_GUARD` pages
//! leave room for it (`stack/windows.rs`). What is raised depends on how far
//! the stack ran and on the system: the first touch of a guard page is
//! `STATUS_GUARD_PAGE_VIOLATION`, or `STATUS_STACK_OVERFLOW` where the system
//! treats it as the end of the stack the TEB describes (Wine does: the switch
//! points the TEB at the goroutine stack), and the never-committed page below
//! is an access violation. All three count when the faulting address (or, for
//! a code without one, RSP) lies in the guard region of the goroutine running
//! on this thread; anything else is passed on unchanged (`CONTINUE_SEARCH`):
//! std's own handler, a debugger, or the default crash.

use crate::runtime::m::getm;
use crate::runtime::{os, stack};
use core::sync::atomic::{AtomicBool, Ordering};
use windows_sys::Win32::Foundation::{
    EXCEPTION_ACCESS_VIOLATION, EXCEPTION_GUARD_PAGE, EXCEPTION_STACK_OVERFLOW,
};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, SetConsoleCtrlHandler};
use windows_sys::Win32::System::Diagnostics::Debug::{
    AddVectoredExceptionHandler, EXCEPTION_POINTERS,
};

const EXCEPTION_CONTINUE_SEARCH: i32 = 0;

/// Installs the overflow handler (first in the chain) and, unless
/// `GORT_SIGQUIT=0`, the Ctrl-Break handler. Called once, at runtime start.
pub(crate) fn install() {
    // SAFETY: both handlers are `extern "system"` functions of the right
    // types that live as long as the program.
    unsafe {
        AddVectoredExceptionHandler(1, Some(overflow_handler));
        if !std::env::var("GORT_SIGQUIT").is_ok_and(|v| v.trim() == "0") {
            SetConsoleCtrlHandler(Some(ctrl_handler), 1);
        }
    }
}

/// Ctrl-Break: dump every goroutine and exit (done by sysmon, as for SIGQUIT).
/// Ctrl-C is left to the default handler or the program's.
unsafe extern "system" fn ctrl_handler(kind: u32) -> windows_sys::core::BOOL {
    if kind == CTRL_BREAK_EVENT {
        crate::runtime::sysmon::quit_from_signal();
        return 1;
    }
    0
}

/// Set by the first overflow report: a second fault while reporting (the
/// report itself running out of room) must not report again.
static REPORTING: AtomicBool = AtomicBool::new(false);

unsafe extern "system" fn overflow_handler(info: *mut EXCEPTION_POINTERS) -> i32 {
    // SAFETY: Windows passes valid exception pointers for the exception being
    // dispatched on this thread.
    let (code, addr, sp) = unsafe {
        let rec = &*(*info).ExceptionRecord;
        let ctx = &*(*info).ContextRecord;
        // Access violations and guard-page hits carry the address in
        // their second parameter.
        let addr = if rec.NumberParameters >= 2 {
            rec.ExceptionInformation[1]
        } else {
            ctx.Rsp as usize
        };
        (rec.ExceptionCode, addr, ctx.Rsp as usize)
    };
    if !matches!(
        code,
        EXCEPTION_GUARD_PAGE | EXCEPTION_STACK_OVERFLOW | EXCEPTION_ACCESS_VIOLATION
    ) {
        return EXCEPTION_CONTINUE_SEARCH;
    }
    let m = getm();
    if m.is_null() {
        return EXCEPTION_CONTINUE_SEARCH;
    }
    // SAFETY: this thread's own M; its current G's descriptor is live while it
    // runs. Plain loads only.
    unsafe {
        let gp = (*m).curg;
        if gp.is_null() {
            return EXCEPTION_CONTINUE_SEARCH;
        }
        let s = (*gp).stack;
        let guard_lo = s.lo.wrapping_sub(stack::guard_size());
        let in_guard = |a: usize| !s.is_none() && a < s.lo && a >= guard_lo;
        // A stack overflow status without an address: judged by RSP.
        if !(in_guard(addr) || (code == EXCEPTION_STACK_OVERFLOW && in_guard(sp))) {
            return EXCEPTION_CONTINUE_SEARCH;
        }
        if !REPORTING.swap(true, Ordering::SeqCst) {
            let mut buf = [0u8; 128];
            let n = super::format_overflow(&mut buf, (*gp).id, s.size());
            os::write_stderr(&buf[..n]);
        }
        os::abort()
    }
}
