//! M: an OS thread that runs goroutines, and the per-thread runtime state.
//!
//! Every runtime thread has an M; its own native stack serves as g0, the stack the
//! scheduler runs on between goroutines (`mcall` and `systemstack` switch to it).
//! Ms are created on demand by `startm` and never exit; idle ones sleep on their
//! `park` note in the `midle` list.
//!
//! Thread-local state is one pointer, the current M, read only through the
//! `#[inline(never)]` accessors below. A goroutine may resume on a different OS
//! thread after any switch point; an inlined TLS read would let LLVM keep the
//! *old* thread's TLS address in a register across the switch. An out-of-line
//! call re-derives it from the thread pointer every time. Never hold the result of
//! `getm()` across a switch point (park, yield, sleep, blocking).

use super::arch;
use super::lock::{Lock, Note};
use super::p::P;
use super::preempt::Affine;
use super::{fatal, os, sched};
use core::cell::{Cell, UnsafeCell};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub(crate) struct M {
    pub id: u64,
    /// Top of the g0 stack (16-aligned), set once in `mstart`.
    pub g0_sp: usize,
    /// The goroutine running on this M, or null while on g0.
    pub curg: *mut super::g::G,
    pub p: *mut P,
    /// P handed over by whoever woke this M.
    pub nextp: *mut P,
    /// P held before entering `blocking`.
    pub oldp: *mut P,
    pub spinning: bool,
    pub in_syscall: bool,
    /// Runtime locks held (and other no-preemption regions).
    pub locks: u32,
    /// Idle Ms sleep here; `startm` wakes them with `nextp` set.
    pub park: Note,
    /// Intrusive link: the idle-M list.
    pub schedlink: *mut M,
    /// `gopark`'s unlock hand-off, consumed on g0 by `park_m`.
    pub waitunlockf: Option<unsafe fn(*mut super::g::G, *mut ()) -> bool>,
    pub waitlock: *mut (),
    fastrand: u64,
    /// This thread's `pthread_t` (0 until it starts), for preemption signals.
    pub thread: AtomicU64,
    /// Its kernel thread id (0 until it starts), to ask whether it is blocked.
    pub tid: AtomicI32,
    /// Inside a stack switch (the switch hold, see `sched::park::mcall`).
    pub switching: AtomicBool,
    /// A preemption call has been injected and has not parked yet.
    pub preempting: AtomicBool,
    /// Goroutines preempted asynchronously on this M, which only this M resumes
    /// (see `preempt`); `naffine` is their number, readable without the lock.
    pub affine_lock: Lock,
    pub affine: UnsafeCell<Affine>,
    pub naffine: AtomicU32,
}

thread_local! {
    static CURRENT_M: Cell<*mut M> = const { Cell::new(core::ptr::null_mut()) };
}

/// The current thread's M, or null on a thread the runtime did not create.
#[inline(never)]
pub(crate) fn getm() -> *mut M {
    CURRENT_M.with(|c| c.get())
}

/// The goroutine running on this thread, or null (g0 or a foreign thread).
#[inline(never)]
pub(crate) fn getg() -> *mut super::g::G {
    let m = getm();
    if m.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: an M is only read by its own thread here.
    unsafe { (*m).curg }
}

fn setm(m: *mut M) {
    CURRENT_M.with(|c| c.set(m));
}

#[inline]
pub(crate) fn locks_inc() {
    let m = getm();
    if !m.is_null() {
        // SAFETY: the current thread's own M.
        unsafe { (*m).locks += 1 };
        // The preemption signal handler reads `locks` on this thread: the store
        // must not sink below the code it protects.
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }
}

#[inline]
pub(crate) fn locks_dec() {
    let m = getm();
    if !m.is_null() {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: the current thread's own M.
        unsafe {
            if (*m).locks == 0 {
                fatal("runtime lock count underflow");
            }
            (*m).locks -= 1;
        }
    }
}

/// No preemption while alive: raises `m.locks` on the current M (if any) for a
/// stretch of runtime code run on a goroutine's stack that reads or changes
/// M/P-owned state (a signal landing in the middle would let another goroutine
/// on this M see it half done). Must not be held across a switch point; the
/// switches have their own hold (`sched::park::mcall`).
pub(crate) struct NoPreempt(*mut M);

impl NoPreempt {
    #[inline]
    pub(crate) fn new() -> NoPreempt {
        NoPreempt::on(getm())
    }

    /// The same for `m`, which the caller already looked up: the current
    /// thread's M, or null.
    #[inline]
    pub(crate) fn on(m: *mut M) -> NoPreempt {
        if !m.is_null() {
            // SAFETY: the current thread's own M.
            unsafe { (*m).locks += 1 };
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
        }
        NoPreempt(m)
    }
}

impl Drop for NoPreempt {
    #[inline]
    fn drop(&mut self) {
        if !self.0.is_null() {
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            // SAFETY: the M we raised, which is still this thread's (no switch).
            unsafe { (*self.0).locks -= 1 };
        }
    }
}

static MCOUNT: AtomicU64 = AtomicU64::new(0);
/// OS threads started by the runtime (Ms; sysmon excluded).
pub(crate) static NTHREADS: AtomicUsize = AtomicUsize::new(0);

impl M {
    /// A per-M xorshift generator: stealing order and the like, not cryptography.
    pub(crate) fn fastrand(&mut self) -> u32 {
        let mut x = self.fastrand;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.fastrand = x;
        (x >> 32) as u32
    }
}

/// Creates a new M that will start by acquiring `pp` (spinning if `spinning`).
pub(crate) fn newm(pp: *mut P, spinning: bool) {
    let id = MCOUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let m = Box::into_raw(Box::new(M {
        id,
        g0_sp: 0,
        curg: core::ptr::null_mut(),
        p: core::ptr::null_mut(),
        nextp: pp,
        oldp: core::ptr::null_mut(),
        spinning,
        in_syscall: false,
        locks: 0,
        park: Note::new(),
        schedlink: core::ptr::null_mut(),
        waitunlockf: None,
        waitlock: core::ptr::null_mut(),
        fastrand: 0x9E37_79B9_7F4A_7C15 ^ id.wrapping_mul(0xBF58_476D_1CE4_E5B9),
        thread: AtomicU64::new(0),
        tid: AtomicI32::new(0),
        switching: AtomicBool::new(false),
        preempting: AtomicBool::new(false),
        affine_lock: Lock::new(),
        affine: UnsafeCell::new(Affine {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
        }),
        naffine: AtomicU32::new(0),
    }));
    struct SendM(*mut M);
    // SAFETY: the new M is handed to exactly one thread, which owns it from now on.
    unsafe impl Send for SendM {}
    let sm = SendM(m);
    let r = std::thread::Builder::new()
        .name(format!("gort-m{id}"))
        .spawn(move || {
            let sm = sm;
            mstart(sm.0)
        });
    if let Err(e) = r {
        fatal(&format!("newm: cannot create OS thread: {e}"));
    }
    NTHREADS.fetch_add(1, Ordering::Relaxed);
}

fn mstart(m: *mut M) -> ! {
    setm(m);
    // SAFETY: this thread's own M.
    unsafe {
        (*m).thread
            .store(os::current_thread() as u64, Ordering::Relaxed);
        (*m).tid.store(os::current_tid(), Ordering::Relaxed);
    }
    os::thread_setup();
    // SAFETY: `m` is this thread's M; `g0_sp` is written once here.
    unsafe { arch::mstart_on_g0(&mut (*m).g0_sp, mstart1, m) }
}

unsafe extern "C" fn mstart1(m: *mut M) -> ! {
    // SAFETY: `m` is this thread's M, running on its fresh g0 stack.
    unsafe {
        let pp = (*m).nextp;
        (*m).nextp = core::ptr::null_mut();
        sched::acquirep(m, pp);
        sched::schedule(m)
    }
}
