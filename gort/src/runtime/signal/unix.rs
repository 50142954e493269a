//! SIGSEGV/SIGBUS handler for guard-page hits (see `signal/mod.rs`).

use crate::runtime::m::getm;
use crate::runtime::{os, stack};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

/// Handlers that were installed before ours, to chain to. Written once in
/// `install` (before our handler can run), read-only afterwards.
struct Previous {
    segv: UnsafeCell<MaybeUninit<libc::sigaction>>,
    bus: UnsafeCell<MaybeUninit<libc::sigaction>>,
    urg: UnsafeCell<MaybeUninit<libc::sigaction>>,
    quit: UnsafeCell<MaybeUninit<libc::sigaction>>,
}

// SAFETY: written once before the handler is installed, only read afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous {
    segv: UnsafeCell::new(MaybeUninit::zeroed()),
    bus: UnsafeCell::new(MaybeUninit::zeroed()),
    urg: UnsafeCell::new(MaybeUninit::zeroed()),
    quit: UnsafeCell::new(MaybeUninit::zeroed()),
};

/// Installs the handlers: SIGSEGV and SIGBUS (guard pages), SIGURG
/// (preemption), SIGQUIT (goroutine dump, unless `GORT_SIGQUIT=0`). Called once, at runtime start.
pub(crate) fn install() {
    // SAFETY: sigaction with valid pointers; PREVIOUS is written before the new
    // handler is visible (the old action is returned by the same call that installs
    // ours, and a signal on another thread in between would find zeroes = SIG_DFL).
    unsafe {
        for (sig, slot, f) in [
            (libc::SIGSEGV, &PREVIOUS.segv, handler as *const () as usize),
            (libc::SIGBUS, &PREVIOUS.bus, handler as *const () as usize),
            (
                libc::SIGURG,
                &PREVIOUS.urg,
                urg_handler as *const () as usize,
            ),
            (
                libc::SIGQUIT,
                &PREVIOUS.quit,
                quit_handler as *const () as usize,
            ),
        ] {
            if sig == libc::SIGQUIT && std::env::var("GORT_SIGQUIT").is_ok_and(|v| v.trim() == "0")
            {
                continue;
            }
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = f;
            // SA_RESTART: a preemption signal must not make a blocking syscall
            // in user code fail with EINTR.
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, (*slot.get()).as_mut_ptr());
        }
        // A write to a socket or pipe whose peer is gone is an `EPIPE` error
        // for the caller (`ErrorKind::BrokenPipe`), as in Go, not the end of
        // the process: SIGPIPE is ignored unless someone already handles it
        // (Rust's own `main` ignores it too; a C host may not).
        let mut old: libc::sigaction = core::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, core::ptr::null(), &mut old);
        if old.sa_sigaction == libc::SIG_DFL {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
}

/// SIGQUIT: dump every goroutine and exit (done by sysmon, see there).
extern "C" fn quit_handler(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    crate::runtime::sysmon::quit_from_signal();
}

/// SIGURG: a preemption request from sysmon (Go's choice of signal: it is
/// rarely used by programs, and ignored by default). On a thread that is not an
/// M it is someone else's: chain to the previous handler.
extern "C" fn urg_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel's context for this signal.
    if unsafe { crate::runtime::preempt::on_signal(ctx) } {
        return;
    }
    // SAFETY: PREVIOUS was filled in by `install`.
    let prev = unsafe { (*PREVIOUS.urg.get()).assume_init_ref() };
    // SIGURG's default action is to ignore it: nothing to do for SIG_DFL.
    // SAFETY: the kernel's arguments for this signal.
    unsafe { call_handler(prev, sig, info, ctx) };
}

/// Calls a previously installed handler that is a function (not SIG_DFL or
/// SIG_IGN, which do nothing here), in the form it was installed with.
///
/// # Safety
/// Called from a signal handler with the kernel's arguments.
unsafe fn call_handler(
    prev: &libc::sigaction,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        return;
    }
    // SAFETY: `h` is a handler someone installed with these flags.
    unsafe {
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                core::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = core::mem::transmute(h);
            f(sig);
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV/SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    let m = getm();
    if !m.is_null() {
        // SAFETY: this thread's own M; its current G's descriptor is live while it
        // runs. Only plain loads, no locks.
        unsafe {
            let gp = (*m).curg;
            if !gp.is_null() {
                let s = (*gp).stack;
                let guard = stack::guard_size();
                if !s.is_none() && addr < s.lo && addr >= s.lo - guard {
                    let mut buf = [0u8; 128];
                    let n = super::format_overflow(&mut buf, (*gp).id, s.size());
                    os::write_stderr(&buf[..n]);
                    os::abort();
                }
            }
        }
    }
    // Not ours: chain to the previous handler.
    // SAFETY: PREVIOUS was filled in by `install`.
    unsafe {
        let prev = if sig == libc::SIGBUS {
            (*PREVIOUS.bus.get()).assume_init_ref()
        } else {
            (*PREVIOUS.segv.get()).assume_init_ref()
        };
        let h = prev.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            // Restore the default action and return: the faulting instruction runs
            // again and the process dies of the signal, as it would have without us.
            report_fatal(sig, info, ctx, m);
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, core::ptr::null_mut());
        } else {
            call_handler(prev, sig, info, ctx);
            // std's handler, for a fault that is not a thread's guard page,
            // restores the default action and returns: the fault will end the
            // process when the instruction runs again. (A handler that dealt
            // with the fault leaves its own action in place.)
            let mut cur: libc::sigaction = core::mem::zeroed();
            libc::sigaction(sig, core::ptr::null(), &mut cur);
            if cur.sa_sigaction == libc::SIG_DFL {
                report_fatal(sig, info, ctx, m);
            }
        }
    }
}

/// Go's "unexpected signal" report (see `signal/mod.rs`), for a fault that
/// is about to end the process: one line for the fault, one for the thread.
///
/// # Safety
/// From the fault handler, with the kernel's arguments; `m` is this
/// thread's M or null. Plain loads and one `write` only.
unsafe fn report_fatal(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
    m: *mut crate::runtime::m::M,
) {
    let mut buf = [0u8; 512];
    let mut w = super::Writer::new(&mut buf);
    // SAFETY: per the contract.
    unsafe {
        let (pc, sp) = crate::runtime::preempt::ctx_pc_sp(ctx);
        w.put(b"gort: unexpected signal ");
        w.put(if sig == libc::SIGBUS {
            b"SIGBUS"
        } else {
            b"SIGSEGV"
        });
        w.put(b" code=");
        // Negative for a signal sent by a process (SI_USER, SI_TKILL).
        let code = (*info).si_code;
        if code < 0 {
            w.put(b"-");
        }
        w.num(u64::from(code.unsigned_abs()));
        w.put(b" addr=");
        w.hex((*info).si_addr() as u64);
        super::put_where(&mut w, pc, sp);
        super::put_thread(&mut w, m, sp);
    }
    os::write_stderr(w.text());
}
