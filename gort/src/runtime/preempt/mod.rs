//! Preemption: goroutines that run too long are made to yield.
//!
//! **Policy.** sysmon (which wakes at least every half a time slice while any
//! P is running) notices a P whose `schedtick` has not moved for
//! a time slice (2 ms, `GORT_TIMESLICE_US` to change: one goroutine, or a chain of goroutines handing
//! each other the slice through `runnext`, has had the P that long) *while
//! something else waits for that P*: its local queue, the global queue, its
//! M's preempted goroutines, or a due timer (on any P: a P retired by
//! `set_procs` keeps its timers until some M runs them). A lone goroutine with
//! nothing waiting is left alone: preempting it would only cost a round trip.
//! Go uses 10 ms and no "something waits" test; ours is shorter so that a
//! sleeper sharing one P with a spinner wakes within a few ms, and the test keeps
//! the cost away from programs that do not need it.
//!
//! **Request.** sysmon stores the P's `schedtick` in its `preempt_req`.
//! It only matches while the same slice runs, so a request that arrives late
//! (after the goroutine switched anyway) is void and needs no clearing.
//!
//! **Cooperative.** Runtime entries that do not switch anyway (`go`) call
//! `check_on`, which yields to the global queue when the request matches. Every
//! switch (park, yield, sleep, exit) ends the slice by itself.
//!
//! **Asynchronous** (unless `GORT_ASYNCPREEMPT=0`). sysmon also interrupts
//! the P's M, once per sysmon tick while the request stands (a refused attempt
//! is retried): on Unix it sends SIGURG, whose handler looks at the
//! interrupted context (`unix.rs`); on Windows it suspends the thread and
//! reads its context itself (`windows.rs`). Either injects a call to the
//! trampoline (`x86_64.rs`) only if it is safe to stop the goroutine at that
//! instruction (`begin_injection`):
//! - the M is running a goroutine, holds its P, is not inside `blocking`, and
//!   holds no runtime lock (`m.locks == 0`), and is not inside a stack switch
//!   (`m.switching`, set by `mcall` and kept on g0 until the resumed side ends it,
//!   so no switch code is ever interrupted);
//! - the PC is in one of the executable's own Rust functions (found in the
//!   symbol table at start-up, by their mangled names). Not in libc (a
//!   goroutine stopped inside `malloc` holding an arena lock would deadlock
//!   the next goroutine on that thread that allocates), the vDSO or another
//!   shared object; not in foreign code linked into the executable (C built
//!   with `cc`, a bundled SQLite) nor in the PLT stubs through which C calls
//!   libc. Foreign code is never stopped, as Go never stops cgo code: C keeps
//!   thread-owned state (a recursive mutex held across a callback, errno,
//!   its own thread-locals) that a goroutine released to another thread
//!   would carry there. (A whitelist: C stopped in `gettid@plt` between a
//!   callback's return and the unlock of such a mutex moved threads when
//!   only the named C functions were refused);
//! - the PC is not in std's `panic_count::increase` nor in
//!   `panicking::resume_unwind`, which inlines it (both found in the symbol
//!   table at start-up): they read the thread pointer and then write the
//!   thread's panic count; stopped in between and released to another
//!   thread, the goroutine would raise the old thread's count (and, with its
//!   "inside the hook" flag set, make the next panic there abort), while its
//!   own thread's count, the one `runtime::panic` relies on, stays zero;
//! - the PC is not in the no-preemption text (`m::acquirem`, `acquire_switch`,
//!   `sched::count_goroutines`, `sched::cgocallback::enter_fast`, the
//!   register shims of `ffi::abi`): there a
//!   goroutine has looked up its M but not yet held it; stopped there and
//!   then released to another thread (below), it would go on with the old
//!   thread's M and P;
//! - SP is inside the goroutine's stack, 8-aligned, with `headroom()` to spare;
//! - no injection for this M is already on its way.
//!
//! A goroutine stopped in the callback text (`m::in_callback_text`: the code
//! between a foreign caller's call and the return to it) is wired to its
//! thread before it parks, whatever its callback mark says: the C frames
//! below it belong to this thread.
//!
//! **Migration.** Rust code keeps thread-local addresses in registers, so a
//! goroutine stopped at an arbitrary instruction must not wake up on another
//! thread. An asynchronously preempted goroutine therefore goes on its M's own
//! queue (`M.affine`), which only that M runs: after its local and the global
//! queue (it was preempted for their sake; served first before, the spinner
//! would have kept its P and starved the global queue), and every 61st round
//! ahead of them, so that it cannot starve either. It may move at
//! its next voluntary switch as usual. If its M cannot come back to it — the M
//! enters `blocking`, or its P has not switched for `RELEASE_NS` and its thread
//! is blocked in the kernel (a goroutine waiting on a `std` lock or a blocking
//! call outside `blocking`; asked of `/proc`, so a thread that the OS merely
//! has not scheduled keeps its goroutines) — its preempted goroutines are
//! released to the global queue and may resume elsewhere. (User code's cached
//! thread-local addresses are then stale, the price of not deadlocking; the
//! runtime's never are: runtime code that changes M or P state gets its M from
//! `m::acquirem`, held in the same step, see above.)

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64 as arch;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(unix)]
pub(crate) use unix::{ctx_pc_sp, on_signal};
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

use super::g::G;
use super::m::M;
use super::os;
use super::p::{P, PStatus};
use super::sched::{self, SCHED};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// False only in a build with `--cfg gort_no_preempt`: no preemption, and none
/// of its bookkeeping on the hot paths (`NoPreempt`, the switch hold, the
/// cooperative check, sysmon's checks and its shorter ticks). It exists to
/// measure what that machinery costs (`bench/run.sh` builds the
/// `gort-nopreempt` variant); it is not a supported configuration.
pub(crate) const ENABLED: bool = !cfg!(gort_no_preempt);

/// A goroutine (or a `runnext` chain) may keep its P this long while others
/// wait, unless `GORT_TIMESLICE_US` says otherwise (tests use it to preempt
/// often).
const DEFAULT_TIME_SLICE_NS: i64 = 2_000_000;
static TIME_SLICE: core::sync::atomic::AtomicI64 =
    core::sync::atomic::AtomicI64::new(DEFAULT_TIME_SLICE_NS);

/// The time slice in nanoseconds.
pub(crate) fn time_slice_ns() -> i64 {
    TIME_SLICE.load(Ordering::Relaxed)
}
/// Preempted goroutines whose M has not switched for this long are released.
const RELEASE_NS: i64 = 10_000_000;
/// `P.preempt_req` when no slice was asked to end: a `schedtick` never
/// reaches it.
pub(crate) const NONE: u64 = u64::MAX;

static ASYNC: AtomicBool = AtomicBool::new(true);
/// The executable's code, `[lo, hi)`: what `RUST_CODE` is when the
/// executable has no symbol table.
static TEXT_LO: AtomicUsize = AtomicUsize::new(0);
static TEXT_HI: AtomicUsize = AtomicUsize::new(0);
/// The std functions that raise a thread's panic count (see
/// `PANIC_COUNT_FUNCTIONS`), `[lo, hi)` each (empty if not found).
static PANIC_COUNT_CODE: [(AtomicUsize, AtomicUsize); 2] = [
    (AtomicUsize::new(0), AtomicUsize::new(0)),
    (AtomicUsize::new(0), AtomicUsize::new(0)),
];
/// std's functions that read the thread pointer and then raise the panic
/// count: `panic_count::increase`, and `panicking::resume_unwind`, which
/// inlines `increase(false)`. Legacy and v0 mangling both spell the paths
/// this way.
const PANIC_COUNT_FUNCTIONS: [&[u8]; 2] = [b"11panic_count8increase", b"9panicking13resume_unwind"];
/// The executable's Rust functions: sorted `[lo, hi)` ranges (null until
/// `init_late` has read the symbol table; the whole text if it has none).
static RUST_CODE: core::sync::atomic::AtomicPtr<(usize, usize)> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
static RUST_CODE_LEN: AtomicUsize = AtomicUsize::new(0);

/// Reads `GORT_ASYNCPREEMPT`, sizes the trampoline's save area and finds the
/// executable's code range. Called once by `runtime::init`, before sysmon.
pub(crate) fn init() {
    if std::env::var("GORT_ASYNCPREEMPT").is_ok_and(|v| v.trim() == "0") {
        ASYNC.store(false, Ordering::Relaxed);
    }
    if let Ok(v) = std::env::var("GORT_TIMESLICE_US") {
        match v.trim().parse::<i64>() {
            Ok(us) if (10..=1_000_000).contains(&us) => {
                TIME_SLICE.store(us * 1000, Ordering::Relaxed)
            }
            _ => os::write_stderr(
                format!("gort: ignoring invalid GORT_TIMESLICE_US={v:?} (want 10..=1000000)\n")
                    .as_bytes(),
            ),
        }
    }
    arch::init();
    let (lo, hi) = os::text_range(arch::async_preempt as *const () as usize);
    TEXT_LO.store(lo, Ordering::Relaxed);
    TEXT_HI.store(hi, Ordering::Relaxed);
    if lo == hi {
        ASYNC.store(false, Ordering::Relaxed);
    }
}

/// Finds, in the program's symbol table, std's functions that raise the
/// panic count (`PANIC_COUNT_FUNCTIONS`) and
/// the program's Rust functions (see the module comment). Reading it takes
/// a few ms (~2 ms for a 9 MB test binary), so sysmon does it as it starts,
/// off the first `run`'s path, and no goroutine is stopped asynchronously
/// until it is done (`RUST_CODE` published): the first time slice is not
/// over before that anyway. A stripped binary has no symbol table: then the
/// whole text counts as Rust (see the README's limitations).
pub(crate) fn init_late() {
    let funcs = os::Functions::of_object(arch::async_preempt as *const () as usize);
    let mut rust = Vec::new();
    if let Some(funcs) = funcs {
        for (name, (lo, hi)) in PANIC_COUNT_FUNCTIONS.iter().zip(&PANIC_COUNT_CODE) {
            if let Some((l, h)) = funcs.find_function(name) {
                lo.store(l, Ordering::Relaxed);
                hi.store(h, Ordering::Relaxed);
            }
        }
        rust = funcs.rust_ranges();
    }
    if rust.is_empty() {
        rust.push((
            TEXT_LO.load(Ordering::Relaxed),
            TEXT_HI.load(Ordering::Relaxed),
        ));
    }
    let rust = rust.into_boxed_slice();
    RUST_CODE_LEN.store(rust.len(), Ordering::Relaxed);
    // Published once, never freed: the signal handler may be reading it.
    RUST_CODE.store(Box::leak(rust).as_mut_ptr(), Ordering::Release);
}

/// Is `pc` in std code that raises the thread's panic count (see the
/// module comment)?
fn in_panic_count_code(pc: usize) -> bool {
    PANIC_COUNT_CODE
        .iter()
        .any(|(lo, hi)| lo.load(Ordering::Relaxed) <= pc && pc < hi.load(Ordering::Relaxed))
}

/// Is `pc` in one of the program's Rust functions (see the module comment)?
/// False until `init_late` is done. A binary search of the published
/// ranges: async-signal-safe.
pub(crate) fn in_rust_code(pc: usize) -> bool {
    let p = RUST_CODE.load(Ordering::Acquire);
    if p.is_null() {
        return false;
    }
    // SAFETY: published by `init_late` with its length before the pointer,
    // and never freed or written again.
    let ranges = unsafe { core::slice::from_raw_parts(p, RUST_CODE_LEN.load(Ordering::Relaxed)) };
    let i = ranges.partition_point(|&(lo, _)| lo <= pc);
    i > 0 && pc < ranges[i - 1].1
}

/// The executable's code, `[lo, hi)` (`(0, 0)` before `init`): for the
/// fault report.
pub(crate) fn text_range() -> (usize, usize) {
    (
        TEXT_LO.load(Ordering::Relaxed),
        TEXT_HI.load(Ordering::Relaxed),
    )
}

/// True unless `GORT_ASYNCPREEMPT=0`.
pub(crate) fn async_enabled() -> bool {
    ENABLED && ASYNC.load(Ordering::Relaxed)
}

/// True if sysmon asked the goroutine running on `pp` to yield.
///
/// # Safety
/// The caller's M holds `pp`.
unsafe fn requested(pp: *mut P) -> bool {
    // SAFETY: per the contract.
    unsafe { (*pp).preempt_req.load(Ordering::Relaxed) == (*pp).schedtick.load(Ordering::Relaxed) }
}

/// Cooperative preemption point, for runtime entries that do not switch anyway
/// (`go`; channel operations later): yields if the running slice is over.
///
/// # Safety
/// `m` is the current M, running a goroutine, not in `blocking`; it holds `pp`.
#[inline]
pub(crate) unsafe fn check_on(m: *mut M, pp: *mut P) {
    if !ENABLED {
        return;
    }
    // SAFETY: per the contract.
    unsafe {
        // The request first: it is almost never set.
        if requested(pp) && (*m).locks == 0 {
            sched::gosched_global();
        }
    }
}

/// sysmon: asks long-running goroutines to yield; releases preempted
/// goroutines stuck behind a blocked M. Returns true if it released any (a
/// hand-off, after which sysmon looks again soon); a preemption request does
/// not count: sysmon going back to 20 µs ticks after each one cost a channel
/// ping-pong ~100 ns per round trip (27 k sysmon wake-ups a second on the
/// cores it ran on, against ~2 k without).
pub(crate) fn sysmon_check(now: i64) -> bool {
    if !ENABLED {
        return false;
    }
    let mut acted = false;
    for pp in sched::allp() {
        // SAFETY: Ps and Ms are never freed; sysmon-only fields are ours. Other
        // fields are racy snapshots: a wrong guess costs one void request.
        unsafe {
            if (*pp).status() != PStatus::Running {
                continue;
            }
            let pd = &mut *(*pp).sysmon.get();
            let tick = (*pp).schedtick.load(Ordering::Relaxed);
            if pd.schedtick != tick || pd.schedwhen == 0 {
                pd.schedtick = tick;
                pd.schedwhen = now;
                continue;
            }
            let ran = now - pd.schedwhen;
            let m = (*pp).m;
            if ran >= RELEASE_NS
                && !m.is_null()
                && (*m).naffine.load(Ordering::Relaxed) > 0
                && platform::thread_blocked(m)
            {
                release_affine(m);
                acted = true;
            }
            if (ran < time_slice_ns() || !others_waiting(pp, m, now)) && !super::chaos::storm() {
                continue;
            }
            (*pp).preempt_req.store(tick, Ordering::Relaxed);
            if async_enabled() && !m.is_null() {
                platform::interrupt(m);
            }
        }
    }
    acted
}

/// Is anything waiting for `pp` (see the module comment)?
///
/// # Safety
/// `pp` and `m` (if not null) are live descriptors.
unsafe fn others_waiting(pp: *mut P, m: *mut M, now: i64) -> bool {
    // SAFETY: per the contract; racy reads.
    unsafe {
        if !(*pp).runq.is_empty() || SCHED.runqsize.load(Ordering::Relaxed) > 0 {
            return true;
        }
        if !m.is_null() && (*m).naffine.load(Ordering::Relaxed) > 0 {
            return true;
        }
        // A due timer on any P, not only this one: a P retired by `set_procs`
        // keeps its timers, and they are run by whichever M schedules next.
        let t = super::timers::next_timer_all();
        t != 0 && t <= now
    }
}

/// May the goroutine running on `m`, interrupted at `pc` with stack pointer
/// `sp`, be stopped there (the rules of the module comment)? If so, marks the
/// injection as on its way (`m.preempting`) and whether the goroutine must be
/// wired to its thread first (`m.preempt_wire`), and the caller must inject
/// the trampoline's call. On Unix `m` is the current thread's M (the signal
/// handler runs on it); on Windows sysmon asks with `m`'s thread suspended.
///
/// # Safety
/// `m` is a live M whose thread is stopped at `pc` (in a signal handler or
/// suspended) and cannot change the fields read here meanwhile. Plain loads
/// and stores only (async-signal-safe).
pub(crate) unsafe fn begin_injection(m: *mut M, pc: usize, sp: usize) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let gp = (*m).curg;
        let pp = (*m).p;
        if gp.is_null()
            || pp.is_null()
            || (*m).in_syscall
            || (*m).locks != 0
            || (*m).switching.load(Ordering::Relaxed)
            || super::sanitizer::switch_pending(m)
        {
            return false;
        }
        if (*m).preempting.load(Ordering::Relaxed) || !requested(pp) || !async_enabled() {
            return false;
        }
        // `in_rust_code` first: its ranges lie inside the executable's text.
        if !in_rust_code(pc) || super::m::in_nopreempt_text(pc) || in_panic_count_code(pc) {
            return false;
        }
        let s = (*gp).stack;
        if s.is_none() || sp & 7 != 0 || sp >= s.hi || sp < s.lo + arch::headroom() {
            return false;
        }
        (*m).preempting.store(true, Ordering::Relaxed);
        (*m).preempt_wire = super::m::in_callback_text(pc);
        true
    }
}

/// Called by the trampoline on the preempted goroutine's stack, with the
/// interrupted state saved above: park as runnable on this M, and return when
/// this M runs the goroutine again.
extern "C" fn async_preempt2() {
    sched::preempt_park();
}

/// Preempted goroutines waiting for their M (FIFO), behind `M.affine_lock`
/// (sysmon may take them).
pub(crate) struct Affine {
    pub head: *mut G,
    pub tail: *mut G,
}

/// Queues a preempted `gp` on `m` (its own thread, on g0).
///
/// # Safety
/// `gp` is Runnable and owned by the caller; `m` is the current M.
pub(crate) unsafe fn affine_put(m: *mut M, gp: *mut G) {
    // SAFETY: per the contract; the queue is locked.
    unsafe {
        (*m).affine_lock.lock();
        let q = &mut *(*m).affine.get();
        (*gp).schedlink = null_mut();
        if q.tail.is_null() {
            q.head = gp;
        } else {
            (*q.tail).schedlink = gp;
        }
        q.tail = gp;
        (*m).naffine.fetch_add(1, Ordering::Relaxed);
        (*m).affine_lock.unlock();
    }
}

/// Takes the oldest preempted goroutine of `m`, or null.
///
/// # Safety
/// `m` is the current M.
#[inline(always)]
pub(crate) unsafe fn affine_get(m: *mut M) -> *mut G {
    // SAFETY: per the contract.
    unsafe {
        if !ENABLED || (*m).naffine.load(Ordering::Relaxed) == 0 {
            return null_mut();
        }
        affine_take(m)
    }
}

/// `affine_get`'s locked half, out of line: `schedule` loops around it.
///
/// # Safety
/// As `affine_get`.
#[inline(never)]
unsafe fn affine_take(m: *mut M) -> *mut G {
    // SAFETY: per the contract; the queue is locked.
    unsafe {
        (*m).affine_lock.lock();
        let q = &mut *(*m).affine.get();
        let gp = q.head;
        if !gp.is_null() {
            q.head = (*gp).schedlink;
            if q.head.is_null() {
                q.tail = null_mut();
            }
            (*gp).schedlink = null_mut();
            (*m).naffine.fetch_sub(1, Ordering::Relaxed);
        }
        (*m).affine_lock.unlock();
        gp
    }
}

/// Moves all of `m`'s preempted goroutines to the global queue (its thread is
/// blocked or about to be): they may resume on another thread.
///
/// # Safety
/// `m` is a live M.
pub(crate) unsafe fn release_affine(m: *mut M) {
    // SAFETY: per the contract; both queues are locked (affine, then sched).
    unsafe {
        if (*m).naffine.load(Ordering::Relaxed) == 0 {
            return;
        }
        (*m).affine_lock.lock();
        let q = &mut *(*m).affine.get();
        let (head, tail) = (q.head, q.tail);
        let n = (*m).naffine.swap(0, Ordering::Relaxed);
        q.head = null_mut();
        q.tail = null_mut();
        (*m).affine_lock.unlock();
        if head.is_null() {
            return;
        }
        SCHED.lock.lock();
        sched::globrunqputbatch(head, tail, n);
        SCHED.lock.unlock();
        sched::wakep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// std raises a thread's panic count in two places, each reading the
    /// thread pointer a few instructions before it writes the count:
    /// `panic_count::increase`, and `panicking::resume_unwind`, which
    /// inlines `increase(false)` (the disassembly of a test binary shows it).
    /// A goroutine stopped in between and resumed on another thread would
    /// raise the old thread's count; neither may ever be stopped.
    #[test]
    fn std_code_raising_the_panic_count_is_never_stopped() {
        init_late();
        let funcs = os::Functions::of_object(arch::async_preempt as *const () as usize)
            .expect("the test binary has a symbol table");
        for name in [&b"11panic_count8increase"[..], b"9panicking13resume_unwind"] {
            let (lo, hi) = funcs
                .find_function(name)
                .unwrap_or_else(|| panic!("{} in .symtab", String::from_utf8_lossy(name)));
            for pc in [lo, (lo + hi) / 2, hi - 1] {
                assert!(
                    in_panic_count_code(pc),
                    "{} at {pc:#x} may be stopped",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
}
