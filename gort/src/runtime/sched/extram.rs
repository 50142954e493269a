//! Extra Ms: runtime identities lent to threads the runtime did not create
//! (Go's `needm`/`dropm`), so that foreign code on them can call back into
//! goroutine code (`cgocallback`).
//!
//! A thread gets one at its first callback and keeps it until it exits: Go
//! first bound and unbound an M around every call and found that 10–30×
//! slower than binding once. A thread-local destructor gives the M back when
//! the thread ends (with the P it may still hold from its last callback), to
//! a pool that later threads take from, so a program whose C code starts and
//! ends threads forever uses as many extra Ms as it has such threads alive at
//! once.
//!
//! An extra M carries its goroutine (`M.extrag`, wired to it for life:
//! `G.lockint`), whose stack its callbacks run on. Between callbacks the M
//! looks like an M inside `blocking` with no goroutine on it: `in_syscall`,
//! no P (`oldp` may keep the last one, as `blocking` does), `curg` null, the
//! goroutine Dead.

use crate::runtime::g::G;
use crate::runtime::lock::Lock;
use crate::runtime::m::{self, M};
use crate::runtime::os::{self, AltStack};
use crate::runtime::{self as rt, fatal, gfree};
use core::cell::{Cell, UnsafeCell};
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// Extra Ms whose threads have exited, ready for the next foreign thread.
struct Pool {
    lock: Lock,
    ms: UnsafeCell<Vec<*mut M>>,
}

// SAFETY: `ms` is only touched with `lock` held.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool {
    lock: Lock::new(),
    ms: UnsafeCell::new(Vec::new()),
};

/// The current thread's extra M, released when the thread exits.
struct Binding {
    m: Cell<*mut M>,
    altstack: Cell<Option<AltStack>>,
}

impl Drop for Binding {
    fn drop(&mut self) {
        let m = self.m.replace(null_mut());
        if !m.is_null() {
            // SAFETY: this thread's extra M, between callbacks (the thread is
            // exiting: nothing of it runs any more).
            unsafe { release(m, self.altstack.take()) };
        }
    }
}

thread_local! {
    static BINDING: Binding = const {
        Binding { m: Cell::new(null_mut()), altstack: Cell::new(None) }
    };
}

/// Lends the current thread (which has no M) an extra M, kept until it exits.
/// Starts the runtime if this is the first thing to need it.
pub(super) fn bind() -> *mut M {
    rt::init();
    let m = take_or_make();
    // SAFETY: `m` is ours (from the pool or new), between callbacks.
    unsafe {
        (*m).tid.store(os::current_tid(), Ordering::Relaxed);
        // A fresh id per thread: the goroutine stands for this thread's calls.
        let gp = (*m).extrag;
        (*gp).id = super::SCHED.goidgen.fetch_add(1, Ordering::Relaxed) + 1;
    }
    // Guard-page faults and preemption signals on the goroutine's stack are
    // handled on an alternate stack (the thread's own, if it has one).
    let altstack = os::altstack_setup();
    let ok = BINDING.try_with(|b| {
        b.m.set(m);
        b.altstack.set(Some(altstack));
    });
    if ok.is_err() {
        fatal("gort::ffi: callback on a thread whose thread-locals are being destroyed");
    }
    m::setm(m);
    m
}

fn take_or_make() -> *mut M {
    POOL.lock.lock();
    // SAFETY: lock held.
    let m = unsafe { (*POOL.ms.get()).pop() };
    POOL.lock.unlock();
    if let Some(m) = m {
        return m;
    }
    let gp: *mut G = match gfree::new_extra_g() {
        Ok(gp) => gp,
        Err(e) => fatal(&format!(
            "gort::ffi: no stack for a callback goroutine: {e}"
        )),
    };
    let m = m::new_extra_m();
    // SAFETY: both new and ours. The M is "inside blocking, without a P and
    // without a goroutine" (see the module comment); the goroutine is wired
    // to it for life.
    unsafe {
        (*m).extrag = gp;
        (*m).in_syscall = true;
        (*gp).lockint = 1;
        (*gp).locked = true;
        (*gp).lockedm = m;
        (*m).lockedg = gp;
    }
    m
}

/// The thread of extra M `m` is exiting: give up the P it may still hold,
/// unbind it and pool it.
///
/// # Safety
/// `m` is the current thread's extra M, between callbacks.
unsafe fn release(m: *mut M, altstack: Option<AltStack>) {
    // SAFETY: per the contract.
    unsafe {
        if !(*m).curg.is_null() || !(*m).p.is_null() || !(*m).in_syscall {
            fatal("gort::ffi: a thread exited inside a callback");
        }
        let pp = core::mem::replace(&mut (*m).oldp, null_mut());
        if !pp.is_null() {
            // Unless sysmon took it already.
            super::retake_syscall_p(pp);
        }
        m::setm(null_mut());
        (*m).tid.store(0, Ordering::Relaxed);
        (*m).park.clear();
    }
    if let Some(st) = altstack {
        os::thread_teardown(st);
    }
    POOL.lock.lock();
    // SAFETY: lock held.
    unsafe { (*POOL.ms.get()).push(m) };
    POOL.lock.unlock();
}
