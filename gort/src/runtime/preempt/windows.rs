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
use std::sync::Mutex;
use windows_sys::Win32::Foundation::HANDLE;
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
    let Some(h) = thread_handle(m, tid) else {
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
        if SuspendThread(h) == u32::MAX {
            forget_thread(m);
            return;
        }
        if GetThreadContext(h, &mut ctx.0) != 0
            && (*m).tid.load(Ordering::Relaxed) == tid
            && super::begin_injection(m, ctx.0.Rip as usize, ctx.0.Rsp as usize)
        {
            let (pc, sp) = arch::inject(ctx.0.Rip as usize, ctx.0.Rsp as usize);
            ctx.0.Rip = pc as u64;
            ctx.0.Rsp = sp as u64;
            if SetThreadContext(h, &ctx.0) == 0 {
                // Not redirected after all: the thread goes on as it was
                // (the slot written below its RSP is unused stack).
                (*m).preempting.store(false, Ordering::Relaxed);
            }
        }
        ResumeThread(h);
    }
}

/// sysmon's handles to the Ms' threads (it is their only user: `interrupt`
/// and `thread_blocked` run on sysmon), by M, with the thread id each was
/// opened for. Opening a handle per attempt cost 15 to 80 µs of the 150 to
/// 300 µs an attempt takes under Wine. An M descriptor outlives its thread
/// (`mexit`, then reuse by another thread): a changed id reopens, and a
/// handle whose thread has ended fails `SuspendThread` and is dropped (a
/// handle keeps its thread object alive, so it never names another thread).
static HANDLES: Mutex<Vec<(usize, i32, ThreadHandle)>> = Mutex::new(Vec::new());

/// sysmon's handle to `m`'s thread, `tid` (see `HANDLES`); valid until
/// `forget_thread(m)` or the next call for `m`.
fn thread_handle(m: *mut M, tid: i32) -> Option<HANDLE> {
    let mut hs = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = hs.iter().position(|e| e.0 == m as usize) {
        if hs[i].1 == tid {
            return Some(hs[i].2.raw());
        }
        hs.swap_remove(i);
    }
    let h = ThreadHandle::open(tid)?;
    let raw = h.raw();
    hs.push((m as usize, tid, h));
    Some(raw)
}

/// Closes sysmon's handle to `m`'s thread (its thread has ended).
fn forget_thread(m: *mut M) {
    let mut hs = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    hs.retain(|e| e.0 != m as usize);
}

/// Where each sampled thread was stopped by `thread_blocked` (RIP, RSP) and
/// for how many samples in a row it was found there, outside Rust code.
static STILL: Mutex<Vec<(i32, u64, u64, u32)>> = Mutex::new(Vec::new());

/// Is `m`'s thread blocked in the kernel? Windows has no cheap query of a
/// thread's scheduling state that Wine implements (thread cycle time reads
/// as 0 there; thread times stop while sysmon's own preemption attempts hold
/// the thread suspended, ~8 ms each under Wine). So sysmon stops the thread
/// and looks: a thread waiting in the kernel sits in system code (outside
/// the program's Rust functions) at one return address with one stack
/// pointer, sample after sample; a running thread is in Rust code (a spin
/// loop there keeps RSP and few RIPs: never counted) or, in a system DLL,
/// moves. Three still samples in a row (sysmon asks once per tick while the
/// thread's P has not switched for 10 ms) count as blocked. A thread
/// spinning on a lock inside system code counts too, which is the case
/// this exists for.
///
/// # Safety
/// `m` is a live M.
pub(super) unsafe fn thread_blocked(m: *mut M) -> bool {
    // SAFETY: per the contract.
    let tid = unsafe { (*m).tid.load(Ordering::Relaxed) };
    if tid == 0 {
        return false;
    }
    let Some(h) = thread_handle(m, tid) else {
        return false;
    };
    let mut ctx = AlignedContext(
        // SAFETY: CONTEXT is plain data; zero is a valid bit pattern.
        unsafe { core::mem::zeroed() },
    );
    ctx.0.ContextFlags = CONTEXT_CONTROL_AMD64;
    // SAFETY: as in `interrupt`: resumed on every path, nothing in between
    // allocates or locks.
    let (rip, rsp) = unsafe {
        if SuspendThread(h) == u32::MAX {
            forget_thread(m);
            return false;
        }
        let ok = GetThreadContext(h, &mut ctx.0) != 0;
        ResumeThread(h);
        if !ok {
            return false;
        }
        (ctx.0.Rip, ctx.0.Rsp)
    };
    let in_system = !super::in_rust_code(rip as usize);
    let mut still = STILL.lock().unwrap_or_else(|e| e.into_inner());
    let n = match still.iter_mut().find(|e| e.0 == tid) {
        Some(e) if in_system && e.1 == rip && e.2 == rsp => {
            e.3 += 1;
            e.3
        }
        Some(e) => {
            *e = (tid, rip, rsp, u32::from(in_system));
            e.3
        }
        None => {
            if still.len() >= 256 {
                still.clear();
            }
            still.push((tid, rip, rsp, u32::from(in_system)));
            u32::from(in_system)
        }
    };
    n >= 3
}
