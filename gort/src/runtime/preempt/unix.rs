//! Unix: the preemption request is SIGURG, sent by sysmon to the M's thread;
//! the handler (`signal/unix.rs`) calls `on_signal` with the kernel's
//! context, on the interrupted thread.

use super::arch;
use crate::runtime::m::{M, getm};
use crate::runtime::os;
use core::sync::atomic::Ordering;

/// Asks `m`'s thread to stop its goroutine if it safely can (SIGURG).
///
/// # Safety
/// `m` is a live M (sysmon: Ms are never freed).
pub(super) unsafe fn interrupt(m: *mut M) {
    // SAFETY: per the contract; a stale tid only fails (see `signal_thread`).
    let tid = unsafe { (*m).tid.load(Ordering::Relaxed) };
    if tid != 0 {
        os::signal_thread(tid, libc::SIGURG);
    }
}

/// Is `m`'s thread blocked in the kernel (see `os::thread_blocked`)?
///
/// # Safety
/// `m` is a live M.
pub(super) unsafe fn thread_blocked(m: *mut M) -> bool {
    // SAFETY: per the contract.
    os::thread_blocked(unsafe { (*m).tid.load(Ordering::Relaxed) })
}

/// SIGURG on a runtime thread. Returns false if this thread is not an M (the
/// signal is someone else's: chain it).
///
/// # Safety
/// Called from the signal handler with the kernel's context.
pub(crate) unsafe fn on_signal(ctx: *mut libc::c_void) -> bool {
    let m = getm();
    if m.is_null() {
        return false;
    }
    // SAFETY: this thread's own M, stopped in its signal handler; the
    // kernel's context.
    unsafe {
        let (pc, sp) = ctx_pc_sp(ctx);
        if super::begin_injection(m, pc, sp) {
            let (pc, sp) = arch::inject(pc, sp);
            set_ctx_pc_sp(ctx, pc, sp);
        }
    }
    true
}

/// PC and SP of an interrupted context.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to a signal handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) unsafe fn ctx_pc_sp(ctx: *mut libc::c_void) -> (usize, usize) {
    // SAFETY: per the contract.
    unsafe {
        let uc = ctx.cast::<libc::ucontext_t>();
        let g = &(*uc).uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RSP as usize] as usize,
        )
    }
}

/// Makes the interrupted context resume at `pc` with stack pointer `sp`.
///
/// # Safety
/// As `ctx_pc_sp`; the new state is one the thread can run (`arch::inject`).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn set_ctx_pc_sp(ctx: *mut libc::c_void, pc: usize, sp: usize) {
    // SAFETY: per the contract.
    unsafe {
        let uc = ctx.cast::<libc::ucontext_t>();
        let g = &mut (*uc).uc_mcontext.gregs;
        g[libc::REG_RIP as usize] = pc as i64;
        g[libc::REG_RSP as usize] = sp as i64;
    }
}
