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
//! on this thread; anything else is passed on (`CONTINUE_SEARCH`): std's
//! own handler, a debugger, or the default crash.
//!
//! Before passing it on, a fault that will end the process gets Go's report
//! (`signal/mod.rs`), "unexpected exception": one whose PC is in the
//! executable's own code (Rust, and C linked in statically, which mingw's
//! gcc cannot give `__try` handlers) on a runtime thread. That code never
//! handles a hardware exception, and no frame that could lies above it: the
//! dispatcher walks a goroutine's stack up to its base only (not into the
//! thread's own stack), and on a thread's own stack finds the program's
//! frames and the thread's start. System DLLs, which do probe memory under
//! `__try`, are outside the executable's code. The last-chance hooks cannot give the report instead: Wine calls
//! neither the unhandled-exception filter (which lives in the thread's
//! start frame, beyond a goroutine stack's base) nor vectored continue
//! handlers for an exception nobody handled (tried).

use crate::runtime::m::getm;
use crate::runtime::{os, stack};
use core::sync::atomic::{AtomicBool, Ordering};
use windows_sys::Win32::Foundation::{
    EXCEPTION_ACCESS_VIOLATION, EXCEPTION_ARRAY_BOUNDS_EXCEEDED, EXCEPTION_DATATYPE_MISALIGNMENT,
    EXCEPTION_GUARD_PAGE, EXCEPTION_ILLEGAL_INSTRUCTION, EXCEPTION_IN_PAGE_ERROR,
    EXCEPTION_INT_DIVIDE_BY_ZERO, EXCEPTION_PRIV_INSTRUCTION, EXCEPTION_STACK_OVERFLOW, NTSTATUS,
};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, SetConsoleCtrlHandler};
use windows_sys::Win32::System::Diagnostics::Debug::{
    AddVectoredExceptionHandler, EXCEPTION_POINTERS,
};

const EXCEPTION_CONTINUE_SEARCH: i32 = 0;

/// Installs the fault handler (first in the chain) and, unless
/// `GORT_SIGQUIT=0`, the Ctrl-Break handler. Called once, at runtime start.
pub(crate) fn install() {
    // SAFETY: both handlers are `extern "system"` functions of the right
    // types that live as long as the program.
    unsafe {
        AddVectoredExceptionHandler(1, Some(fault_handler));
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

unsafe extern "system" fn fault_handler(info: *mut EXCEPTION_POINTERS) -> i32 {
    // SAFETY: Windows passes valid exception pointers for the exception being
    // dispatched on this thread.
    let (code, addr, pc, sp) = unsafe {
        let rec = &*(*info).ExceptionRecord;
        let ctx = &*(*info).ContextRecord;
        // Access violations and guard-page hits carry the address in
        // their second parameter.
        let addr = if rec.NumberParameters >= 2 {
            rec.ExceptionInformation[1]
        } else {
            ctx.Rsp as usize
        };
        (rec.ExceptionCode, addr, ctx.Rip as usize, ctx.Rsp as usize)
    };
    let Some(what) = fault_name(code) else {
        return EXCEPTION_CONTINUE_SEARCH;
    };
    let m = getm();
    if m.is_null() {
        return EXCEPTION_CONTINUE_SEARCH;
    }
    // SAFETY: this thread's own M; its current G's descriptor is live while it
    // runs. Plain loads only.
    unsafe {
        let gp = (*m).curg;
        if !gp.is_null() {
            let s = (*gp).stack;
            let guard_lo = s.lo.wrapping_sub(stack::guard_size());
            let in_guard = |a: usize| !s.is_none() && a < s.lo && a >= guard_lo;
            // A stack overflow status without an address: judged by RSP.
            let overflow = matches!(
                code,
                EXCEPTION_GUARD_PAGE | EXCEPTION_STACK_OVERFLOW | EXCEPTION_ACCESS_VIOLATION
            ) && (in_guard(addr)
                || (code == EXCEPTION_STACK_OVERFLOW && in_guard(sp)));
            if overflow {
                if !REPORTING.swap(true, Ordering::SeqCst) {
                    let mut buf = [0u8; 128];
                    let n = super::format_overflow(&mut buf, (*gp).id, s.size());
                    os::write_stderr(&buf[..n]);
                }
                os::abort()
            }
        }
        let (lo, hi) = crate::runtime::preempt::text_range();
        if code != EXCEPTION_GUARD_PAGE
            && (lo..hi).contains(&pc)
            && !REPORTING.swap(true, Ordering::SeqCst)
        {
            report_fatal(code, what, addr, pc, sp, m);
        }
    }
    EXCEPTION_CONTINUE_SEARCH
}

/// The exceptions the handler looks at: what a fault in the program's own
/// code raises, with the name the report gives it. Others (C++ and Rust
/// panics, breakpoints, floating-point traps a program enabled, ...) are
/// never ours.
fn fault_name(code: NTSTATUS) -> Option<&'static [u8]> {
    Some(match code {
        EXCEPTION_ACCESS_VIOLATION => b"access violation",
        EXCEPTION_GUARD_PAGE => b"guard page",
        EXCEPTION_STACK_OVERFLOW => b"stack overflow",
        EXCEPTION_IN_PAGE_ERROR => b"in-page error",
        EXCEPTION_ILLEGAL_INSTRUCTION => b"illegal instruction",
        EXCEPTION_PRIV_INSTRUCTION => b"privileged instruction",
        EXCEPTION_INT_DIVIDE_BY_ZERO => b"integer divide by zero",
        EXCEPTION_DATATYPE_MISALIGNMENT => b"datatype misalignment",
        EXCEPTION_ARRAY_BOUNDS_EXCEEDED => b"array bounds exceeded",
        _ => return None,
    })
}

/// Go's report for a fault that will end the process (see the module
/// comment): the exception, its address, where it was; then the thread.
///
/// # Safety
/// From the exception handler, on the faulting thread; `m` is its M.
unsafe fn report_fatal(
    code: NTSTATUS,
    what: &[u8],
    addr: usize,
    pc: usize,
    sp: usize,
    m: *mut crate::runtime::m::M,
) {
    let mut buf = [0u8; 512];
    let mut w = super::Writer::new(&mut buf);
    w.put(b"gort: unexpected exception ");
    w.hex(u64::from(code as u32));
    w.put(b" (");
    w.put(what);
    w.put(b") addr=");
    w.hex(addr as u64);
    super::put_where(&mut w, pc, sp);
    // SAFETY: per the contract.
    unsafe { super::put_thread(&mut w, m, sp) };
    os::write_stderr(w.text());
}
