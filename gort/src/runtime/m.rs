//! M: an OS thread that runs goroutines, and the per-thread runtime state.
//!
//! Every runtime thread has an M; its own native stack serves as g0, the stack the
//! scheduler runs on between goroutines (`mcall` and `systemstack` switch to it).
//! Ms are created on demand by `startm`; idle ones sleep on their `park` note in
//! the `midle` list. An M exits only when a goroutine wired to it by
//! `lock_os_thread` ends without unlocking (`sched::locked`); its descriptor is
//! then kept for the next `newm` (other threads may still hold a stale pointer
//! to it, so it is never freed).
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
use core::cell::UnsafeCell;
use core::ptr::null_mut;
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
    /// This thread's kernel id (0 until it starts and after it exits), for
    /// preemption signals and to ask whether it is blocked.
    pub tid: AtomicI32,
    /// The goroutine wired to this M by `lock_os_thread`, or null.
    pub lockedg: *mut super::g::G,
    /// Link in the list of exited Ms' descriptors.
    deadlink: *mut M,
    /// The task block of the goroutine exiting on this M, freed on g0 by
    /// `goexit0` (where no preemption needs holding off).
    pub deadtask: Option<super::taskalloc::TaskBlock>,
    /// Inside a stack switch, or on g0 (the switch hold, see
    /// `sched::park::mcall`): true from the M's start, cleared only as a
    /// goroutine is resumed, set again by `mcall`.
    pub switching: AtomicBool,
    /// A preemption call has been injected and has not parked yet.
    pub preempting: AtomicBool,
    /// That preemption stopped the goroutine in the callback text (see
    /// `in_callback_text`): `park::preempt_m` wires it first.
    pub preempt_wire: bool,
    /// Goroutines preempted asynchronously on this M, which only this M resumes
    /// (see `preempt`); `naffine` is their number, readable without the lock.
    pub affine_lock: Lock,
    pub affine: UnsafeCell<Affine>,
    pub naffine: AtomicU32,
    /// On an extra M (one lent to a thread the runtime did not create, so
    /// that foreign code can call back into goroutine code: see
    /// `sched::cgocallback`), the goroutine its callbacks run on; null on
    /// the runtime's own Ms.
    pub extrag: *mut super::g::G,
    /// The g0 stack's bounds, for ASan (`sanitizer`; empty otherwise).
    #[cfg_attr(not(gort_asan), allow(dead_code))]
    pub asan_g0: super::sanitizer::G0,
    /// The function an `mcall` runs on g0, for ASan's shim (`park::mcall_held`).
    #[cfg(gort_asan)]
    pub asan_mcall: Option<unsafe extern "C" fn(*mut super::g::G) -> !>,
}

/// The current thread's M, or null on a thread the runtime did not create.
///
/// Read-only uses only, on a goroutine: an asynchronous preemption right after
/// the call may end with the goroutine released to another thread (see
/// `preempt`, **Migration**), still holding this M. Code that changes M or P
/// state gets the M from `acquirem` (or `acquire_switch`), which raise their
/// hold in the same step.
#[inline(never)]
pub(crate) fn getm() -> *mut M {
    super::tls::get()
}

/// `getm`, inlined: only for code in the no-preemption text (see `acquirem`),
/// which has no switch point for LLVM to carry the TLS address across.
#[inline(always)]
pub(crate) fn getm_in_nopreempt_text() -> *mut M {
    super::tls::get()
}

/// The current thread's M (or null) with `m.locks` raised (Go's `acquirem`):
/// the M is looked up and held in one step that no preemption can split, so
/// the caller can never go on with another thread's M.
///
/// It lives in the no-preemption text (`in_nopreempt_text`): a signal landing
/// between its load and its increment is refused, since preempted there and
/// resumed on another thread (a release) the goroutine would raise, and then
/// use, the old thread's M. Only leaf code may go in that section: a callee
/// outside it would be preemptible.
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_nopreempt"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortn_m"))]
pub(crate) fn acquirem() -> *mut M {
    let m = getm_in_nopreempt_text();
    if !m.is_null() {
        // SAFETY: the current thread's own M.
        unsafe { (*m).locks += 1 };
    }
    m
}

/// The current M with its switch hold taken (`m.switching`, see
/// `sched::park::mcall`), in one step as in `acquirem`. Goroutines only.
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_nopreempt"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortn_m"))]
pub(crate) fn acquire_switch() -> *mut M {
    let m = getm_in_nopreempt_text();
    if super::preempt::ENABLED {
        // SAFETY: the current thread's own M (callers are goroutines).
        unsafe { (*m).switching.store(true, Ordering::Relaxed) };
    }
    m
}

/// Is `pc` inside `acquirem`, `acquire_switch`, `sched::count_goroutines`,
/// `sched::cgocallback::enter_fast` or (on Linux) the register shims of
/// `ffi::abi`: the no-preemption text, bounded per object format by
/// `text::nopreempt_text`?
pub(crate) fn in_nopreempt_text(pc: usize) -> bool {
    let (lo, hi) = super::text::nopreempt_text();
    lo <= pc && pc < hi
}

/// Is `pc` in the callback text (see `runtime::text`), which holds only
/// code that runs between a foreign caller's call into a callback and the
/// return to it (`ffi`'s stub table, shims and thunks, `cgocallback`'s
/// slow path and its unwiring)? A goroutine stopped there is inside a
/// callback whatever its mark says (the thunk clears the mark a few
/// instructions before it returns to C), so the preemption wires it to its
/// thread (`M.preempt_wire`); a voluntary switch drops that wiring once
/// nothing holds it (`locked::at_switch`).
pub(crate) fn in_callback_text(pc: usize) -> bool {
    let (lo, hi) = super::text::callback_text();
    lo <= pc && pc < hi
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

pub(crate) fn setm(m: *mut M) {
    super::tls::set(m);
}

#[inline]
pub(crate) fn locks_inc() {
    acquirem();
    // The preemption signal handler reads `locks` on this thread: the store
    // must not sink below the code it protects.
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
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
///
/// One pointer, so that it (and `Pinned`) travels in registers; lowering is a
/// single read-modify-write of `locks` (one `dec` on x86-64), which the signal
/// handler can only see before or after.
pub(crate) struct NoPreempt {
    m: *mut M,
}

impl NoPreempt {
    /// Looks the M up and raises it in one step (`acquirem`).
    #[inline(always)]
    pub(crate) fn new() -> NoPreempt {
        let m = held_m();
        // The signal handler reads `locks` on this thread: the code the hold
        // protects must not rise above the increment.
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        NoPreempt { m }
    }

    /// The current M (null on a plain thread), held.
    #[inline(always)]
    pub(crate) fn m(&self) -> *mut M {
        self.m
    }
}

impl Drop for NoPreempt {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: the M we raised, which is still this thread's (no switch),
        // and every hold taken since has been dropped.
        unsafe { unhold(self.m) };
    }
}

/// `acquirem`, for `NoPreempt` and `Pinned`: a plain `getm` in the
/// measurement build without preemption (`preempt::ENABLED`), whose holds cost
/// nothing.
#[inline(always)]
fn held_m() -> *mut M {
    if super::preempt::ENABLED {
        acquirem()
    } else {
        getm()
    }
}

/// Raises the hold on `m` again, for code that knows its M without looking
/// it up: a goroutine wired to its thread (`lock_os_thread` or the
/// runtime's own wiring), whose M cannot change under it.
///
/// # Safety
/// `m` is the current thread's M, or null.
#[inline(always)]
pub(crate) unsafe fn rehold(m: *mut M) {
    if super::preempt::ENABLED && !m.is_null() {
        // SAFETY: per the contract.
        unsafe { (*m).locks += 1 };
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }
}

/// Lowers what `held_m` (or `rehold`) raised.
///
/// # Safety
/// `m` is the current thread's M (no switch since `acquirem`), or null.
#[inline(always)]
pub(crate) unsafe fn unhold(m: *mut M) {
    if super::preempt::ENABLED && !m.is_null() {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: per the contract; holds nest strictly (RAII, never across a
        // switch), so the count is positive here.
        unsafe { (*m).locks -= 1 };
    }
}

/// The current M and the P its goroutine may use, with preemption held off
/// until dropped: for runtime code on a goroutine's stack that works on
/// P-owned state (task cache, free Gs, run queue), so that several steps share
/// one lookup and one hold. `p` is null when there is no P to use (a plain
/// thread, or a goroutine inside `blocking`); `m` is null on a plain thread.
/// Two pointers, passed in registers.
pub(crate) struct Pinned {
    pub m: *mut M,
    pub p: *mut P,
}

impl Pinned {
    #[inline(always)]
    pub(crate) fn new() -> Pinned {
        let m = held_m();
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: the current thread's own M (if any), held.
        let p = unsafe {
            if m.is_null() || (*m).in_syscall {
                null_mut()
            } else {
                (*m).p
            }
        };
        Pinned { m, p }
    }
}

impl Drop for Pinned {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `new` raised `m` on this thread, and no switch since. A P
        // comes from an M (`new`): saying so lets the compiler drop the null
        // test on paths that have already tested `p`.
        unsafe {
            if !self.p.is_null() {
                core::hint::assert_unchecked(!self.m.is_null());
            }
            unhold(self.m)
        };
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

/// Descriptors of exited Ms, reused by `newm`.
struct DeadMs {
    lock: Lock,
    head: UnsafeCell<*mut M>,
}

// SAFETY: `head` and the links are only touched with `lock` held.
unsafe impl Sync for DeadMs {}

static DEAD_MS: DeadMs = DeadMs {
    lock: Lock::new(),
    head: UnsafeCell::new(null_mut()),
};

/// Creates a new M that will start by acquiring `pp` (spinning if `spinning`).
/// If the OS refuses the thread, nothing was started and `pp` is still the
/// caller's (`idle::startm` deals with it).
pub(crate) fn newm(pp: *mut P, spinning: bool) -> std::io::Result<()> {
    if test_refuses_thread() {
        return Err(std::io::Error::other(
            "refused by GORT_TEST_FAIL_NEWM (fault injection)",
        ));
    }
    let id = MCOUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let m = alloc_m(id, pp, spinning);
    struct SendM(*mut M);
    // SAFETY: the new M is handed to exactly one thread, which owns it from now on.
    unsafe impl Send for SendM {}
    let sm = SendM(m);
    NTHREADS.fetch_add(1, Ordering::Relaxed);
    let r = std::thread::Builder::new()
        .name(format!("gort-m{id}"))
        .spawn(move || {
            let sm = sm;
            mstart(sm.0)
        });
    if let Err(e) = r {
        NTHREADS.fetch_sub(1, Ordering::Relaxed);
        // No thread ever saw the descriptor: back to the dead list, as an
        // exited M's (it is on g0 state, `switching` set, queues empty).
        // SAFETY: ours alone.
        unsafe { (*m).nextp = null_mut() };
        DEAD_MS.lock.lock();
        // SAFETY: lock held.
        unsafe {
            (*m).deadlink = *DEAD_MS.head.get();
            *DEAD_MS.head.get() = m;
        }
        DEAD_MS.lock.unlock();
        return Err(e);
    }
    Ok(())
}

/// Fault injection for tests: `GORT_TEST_FAIL_NEWM=n` lets the first `n`
/// thread creations succeed and refuses every later one, as an OS out of
/// threads (`EAGAIN`) would.
fn test_refuses_thread() -> bool {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| {
        std::env::var("GORT_TEST_FAIL_NEWM")
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return false;
    };
    CREATED.fetch_add(1, Ordering::Relaxed) >= limit
}

/// A descriptor for a new M: an exited M's, or a fresh one.
fn alloc_m(id: u64, pp: *mut P, spinning: bool) -> *mut M {
    DEAD_MS.lock.lock();
    // SAFETY: lock held.
    let m = unsafe {
        let m = *DEAD_MS.head.get();
        if !m.is_null() {
            *DEAD_MS.head.get() = (*m).deadlink;
        }
        m
    };
    DEAD_MS.lock.unlock();
    if m.is_null() {
        return Box::into_raw(Box::new(M {
            id,
            g0_sp: 0,
            curg: null_mut(),
            p: null_mut(),
            nextp: pp,
            oldp: null_mut(),
            spinning,
            in_syscall: false,
            locks: 0,
            park: Note::new(),
            schedlink: null_mut(),
            waitunlockf: None,
            waitlock: null_mut(),
            fastrand: seed(id),
            tid: AtomicI32::new(0),
            lockedg: null_mut(),
            deadlink: null_mut(),
            deadtask: None,
            switching: AtomicBool::new(true),
            preempting: AtomicBool::new(false),
            preempt_wire: false,
            affine_lock: Lock::new(),
            affine: UnsafeCell::new(Affine {
                head: null_mut(),
                tail: null_mut(),
            }),
            naffine: AtomicU32::new(0),
            extrag: null_mut(),
            asan_g0: super::sanitizer::G0::new(),
            #[cfg(gort_asan)]
            asan_mcall: None,
        }));
    }
    // SAFETY: an exited M is ours alone, except for racy reads of its atomics
    // (sysmon may still hold the pointer from a P it ran): so field by field,
    // never a whole-struct write. Its queues, note and flags were left empty,
    // clear and unset when it exited (`mexit`); `switching` stayed set, as on
    // any M on g0.
    unsafe {
        (*m).id = id;
        (*m).nextp = pp;
        (*m).spinning = spinning;
        (*m).fastrand = seed(id);
        (*m).deadlink = null_mut();
    }
    m
}

/// A descriptor for an extra M (see `M.extrag`): no thread is started; the
/// caller binds it to the foreign thread it runs on. It starts as every M
/// does: on g0 (`switching` set), without a P.
pub(crate) fn new_extra_m() -> *mut M {
    let id = MCOUNT.fetch_add(1, Ordering::Relaxed) + 1;
    alloc_m(id, null_mut(), false)
}

fn seed(id: u64) -> u64 {
    0x9E37_79B9_7F4A_7C15 ^ id.wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

fn mstart(m: *mut M) {
    setm(m);
    // SAFETY: this thread's own M.
    unsafe { super::sanitizer::init_g0(m) };
    // SAFETY: this thread's own M.
    unsafe { (*m).tid.store(os::current_tid(), Ordering::Relaxed) };
    let altstack = os::thread_setup();
    // SAFETY: `m` is this thread's M; `g0_sp` is written here, before any use.
    // Returns only through `mexit`.
    unsafe { arch::mstart_on_g0(&mut (*m).g0_sp, mstart1, m) };
    // The M has exited (see `mexit`): it holds no P and runs nothing.
    setm(null_mut());
    os::thread_teardown(altstack);
    DEAD_MS.lock.lock();
    // SAFETY: lock held; from here this thread no longer touches `m`.
    unsafe {
        (*m).deadlink = *DEAD_MS.head.get();
        *DEAD_MS.head.get() = m;
    }
    DEAD_MS.lock.unlock();
}

/// Ends the current M's thread (on g0; it has given away its P and G): no
/// preemption signal will find it, and its descriptor goes back to `newm`.
///
/// # Safety
/// `m` is the current M, on g0, without a P, a current G or spinning.
pub(crate) unsafe fn mexit(m: *mut M) -> ! {
    // SAFETY: per the contract.
    unsafe {
        if !(*m).p.is_null()
            || !(*m).curg.is_null()
            || (*m).spinning
            || (*m).locks != 0
            || (*m).naffine.load(Ordering::Relaxed) != 0
        {
            fatal(&format!("mexit: M{} in a bad state", (*m).id));
        }
        (*m).lockedg = null_mut();
        (*m).tid.store(0, Ordering::Relaxed);
        (*m).park.clear();
        NTHREADS.fetch_sub(1, Ordering::Relaxed);
        super::sanitizer::before_longjmp();
        arch::mexit((*m).g0_sp)
    }
}

unsafe extern "C" fn mstart1(m: *mut M) -> ! {
    // SAFETY: `m` is this thread's M, running on its fresh g0 stack.
    unsafe {
        let pp = (*m).nextp;
        (*m).nextp = null_mut();
        sched::acquirep(m, pp);
        sched::schedule(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The preemption signal refuses PCs in the no-preemption text: it must
    /// hold exactly the look-up-and-hold functions (the linker bounds it).
    #[cfg(any(target_os = "linux", windows))]
    #[test]
    #[cfg_attr(
        gort_asan,
        ignore = "ASan's instrumentation makes the leaf functions bigger than the 1 KiB bound"
    )]
    fn the_no_preemption_text_holds_the_acquire_functions() {
        let count = super::super::sched::count_goroutines as fn(i64) as usize;
        let cb = super::super::sched::cgocallback::enter_fast
            as fn() -> (*mut super::super::g::G, bool) as usize;
        for a in [
            acquirem as fn() -> *mut M as usize,
            acquire_switch as fn() -> *mut M as usize,
            count,
            cb,
        ] {
            assert!(in_nopreempt_text(a), "{a:#x}");
            assert!(in_nopreempt_text(a + 1), "{a:#x} + 1");
        }
        for (i, a) in crate::ffi::fast_entries().into_iter().enumerate() {
            assert!(in_nopreempt_text(a), "ffi entry {i}: {a:#x}");
        }
        assert!(!in_nopreempt_text(getm as fn() -> *mut M as usize));
        assert!(!in_nopreempt_text(
            getg as fn() -> *mut super::super::g::G as usize
        ));
        // Four leaf functions and the callback shims: a few dozen bytes
        // each, not a stray blob of code.
        let (lo, hi) = super::super::text::nopreempt_text();
        let len = hi - lo;
        assert!(len > 0 && len < 1024, "{len} bytes");
    }
}
