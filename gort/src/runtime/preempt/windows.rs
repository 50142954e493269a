//! Windows: no signals, so sysmon stops the M's thread itself
//! (`SuspendThread`), reads where it is (`GetThreadContext`), applies the
//! same rules as a Unix signal handler would on that thread
//! (`begin_injection`: the M's fields cannot change while its thread is
//! suspended), and if they allow it rewrites RIP/RSP so the goroutine calls
//! the trampoline when it resumes (`SetThreadContext`, `ResumeThread`). The
//! trampoline then runs on the goroutine's own thread, as on Unix.
//!
//! While the thread is suspended sysmon must not take any lock the thread
//! might hold: not the heap's (no allocation), not a runtime lock. Everything
//! between `SuspendThread` and `ResumeThread` is plain loads, stores and the
//! two context calls.

use super::arch;
use crate::runtime::m::M;
use crate::runtime::os::{AlignedContext, ThreadHandle};
use core::sync::atomic::Ordering;
use windows_sys::Win32::System::Diagnostics::Debug::{
    CONTEXT_CONTROL_AMD64, GetThreadContext, SetThreadContext,
};
use windows_sys::Win32::System::Threading::{ResumeThread, SuspendThread};

/// Stops the goroutine running on `m` if it safely can: see the module
/// comment.
///
/// # Safety
/// `m` is a live M (sysmon: Ms are never freed).
pub(super) unsafe fn interrupt(m: *mut M) {
    // SAFETY: per the contract.
    let tid = unsafe { (*m).tid.load(Ordering::Relaxed) };
    if tid == 0 {
        return;
    }
    // Opened per attempt: at most one per P per sysmon tick, and an M's thread
    // can end (`lock_os_thread`); a stale id that names another thread is
    // caught by the checks (its SP is not in this M's goroutine's stack).
    let Some(h) = ThreadHandle::open(tid) else {
        return;
    };
    let mut ctx = AlignedContext(
        // SAFETY: CONTEXT is plain data; zero is a valid bit pattern.
        unsafe { core::mem::zeroed() },
    );
    ctx.0.ContextFlags = CONTEXT_CONTROL_AMD64;
    // SAFETY: our handle; the context buffer is aligned and lives here. The
    // thread is resumed on every path, and nothing in between allocates or
    // locks. GetThreadContext also waits for the suspension to take effect
    // (SuspendThread is asynchronous).
    unsafe {
        if SuspendThread(h.raw()) == u32::MAX {
            return;
        }
        if GetThreadContext(h.raw(), &mut ctx.0) != 0
            && (*m).tid.load(Ordering::Relaxed) == tid
            && super::begin_injection(m, ctx.0.Rip as usize, ctx.0.Rsp as usize)
        {
            let (pc, sp) = arch::inject(ctx.0.Rip as usize, ctx.0.Rsp as usize);
            ctx.0.Rip = pc as u64;
            ctx.0.Rsp = sp as u64;
            if SetThreadContext(h.raw(), &ctx.0) == 0 {
                // Not redirected after all: the thread goes on as it was
                // (the slot written below its RSP is unused stack).
                (*m).preempting.store(false, Ordering::Relaxed);
            }
        }
        ResumeThread(h.raw());
    }
}
