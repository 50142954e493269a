//! P: a processor, the right to run Go code. There are `procs()` of them; an M must
//! hold a P to run goroutines. A P owns a local run queue, a timer heap and a cache
//! of free Gs, so the common paths (spawn, yield, wake, exit) touch no global lock.
//!
//! Status transitions (Go's `_Pidle`/`_Prunning`/`_Psyscall`/`_Pdead`):
//! - Idle → Running: `acquirep` by an M that took it from the idle list (or from
//!   `startm`'s hand-over).
//! - Running → Syscall: its M entered `blocking`; the P stays attached to nothing.
//! - Syscall → Running: the M came back first (CAS in `exitsyscall`), or
//! - Syscall → Idle: sysmon took it first (CAS in `retake`) and hands it off.
//! - any → Dead: `set_procs` shrank below this P's id (see `sched::procs`).
//!
//! Fields other than atomics belong to the M holding the P (or to whoever holds the
//! scheduler lock while the P is on the idle list); sysmon-only fields to sysmon.

use super::g::G;
use super::m::M;
use super::sched::runq::RunQueue;
use super::timers::Timers;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum PStatus {
    Idle = 0,
    Running = 1,
    Syscall = 2,
    Dead = 3,
}

/// What sysmon saw last time it looked at a P (to measure how long a P has been
/// in one syscall without timestamps on the hot path).
/// Per-P counters, written only by the M holding the P (plain load + store, no
/// locked instruction and no shared cache line on the hot path), read by anyone.
#[derive(Default)]
pub(crate) struct PCounters {
    /// Goroutines created on this P minus goroutines finished on this P.
    pub gdelta: AtomicI64,
    pub switches: AtomicU64,
    pub steals: AtomicU64,
    /// Asynchronous preemptions of goroutines on this P.
    pub preemptions: AtomicU64,
}

/// Owner-only increment of a per-P counter.
#[inline]
pub(crate) fn bump_i64(c: &AtomicI64, d: i64) {
    c.store(c.load(Ordering::Relaxed) + d, Ordering::Release);
}

#[inline]
pub(crate) fn bump_u64(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

#[derive(Default)]
pub(crate) struct SysmonTick {
    pub syscalltick: u32,
    pub syscallwhen: i64,
    /// `schedtick` when sysmon last saw it change, and when (see `preempt`).
    pub schedtick: u64,
    pub schedwhen: i64,
}

pub(crate) struct P {
    pub id: usize,
    pub status: AtomicU32,
    pub m: *mut M,
    /// Intrusive link: the idle-P list.
    pub link: *mut P,
    /// Incremented on every scheduling round (fairness: poll the global queue).
    /// 64 bits: it never wraps, so `preempt_req` can name a slice by it.
    pub schedtick: AtomicU64,
    /// The `schedtick` of the slice sysmon asked to end (`preempt::NONE`
    /// before the first request): matches only while that slice runs.
    pub preempt_req: AtomicU64,
    /// Incremented on every `blocking` entry and exit (sysmon compares it).
    pub syscalltick: AtomicU32,
    pub runq: RunQueue,
    /// Free Gs (with stacks of the default size), linked by `schedlink`.
    pub gfree: *mut G,
    pub ngfree: u32,
    /// Goroutine ids reserved for this P: `goidcache..goidcacheend` (Go's
    /// `goidcache`), so spawning does not write a global counter every time.
    pub goidcache: u64,
    pub goidcacheend: u64,
    pub timers: Timers,
    pub counters: PCounters,
    pub task_cache: super::taskalloc::Cache,
    pub sysmon: UnsafeCell<SysmonTick>,
}

impl P {
    pub(crate) fn new(id: usize) -> P {
        P {
            id,
            status: AtomicU32::new(PStatus::Idle as u32),
            m: core::ptr::null_mut(),
            link: core::ptr::null_mut(),
            schedtick: AtomicU64::new(0),
            preempt_req: AtomicU64::new(super::preempt::NONE),
            syscalltick: AtomicU32::new(0),
            runq: RunQueue::new(),
            gfree: core::ptr::null_mut(),
            ngfree: 0,
            goidcache: 0,
            goidcacheend: 0,
            timers: Timers::new(),
            counters: PCounters::default(),
            task_cache: super::taskalloc::Cache::new(),
            sysmon: UnsafeCell::new(SysmonTick::default()),
        }
    }

    pub(crate) fn status(&self) -> PStatus {
        // SAFETY: only `PStatus` discriminants are ever stored.
        unsafe { core::mem::transmute::<u32, PStatus>(self.status.load(Ordering::Acquire)) }
    }

    pub(crate) fn set_status(&self, s: PStatus) {
        self.status.store(s as u32, Ordering::SeqCst);
    }

    pub(crate) fn cas_status(&self, old: PStatus, new: PStatus) -> bool {
        self.status
            .compare_exchange(old as u32, new as u32, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }
}
