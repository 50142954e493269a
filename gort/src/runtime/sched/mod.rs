//! The scheduler: Go's G/M/P design.
//!
//! Gs (goroutines) run on Ms (OS threads); an M needs a P (processor) to run Gs,
//! and there are `procs()` Ps, so at most `procs()` goroutines run at once while
//! any number of Ms may be blocked in `blocking` calls without a P.
//!
//! **Where runnable Gs live**: the running P's `runnext`, its local ring (`runq`),
//! or the global queue (under `SCHED.lock`). `schedule` → `findrunnable` looks, in
//! order: expired timers of its P; every 61st round the global queue (so it cannot
//! starve behind a busy local queue); `runnext` and the ring; the global queue;
//! then **steals** from other Ps (4 passes over all Ps in random order; the last
//! pass also runs other Ps' due timers and may take their `runnext`).
//!
//! **Spinning Ms** (this protocol is written down here and only here): an M that
//! has a P but no work "spins" (looks for work to steal) instead of sleeping at
//! once. `nmspinning` counts them. Whoever makes a G runnable calls `wakep`, which
//! starts a spinning M only if there is an idle P and no M is spinning already:
//! one spinner at a time finds new work, and when it finds some it stops spinning
//! and calls `wakep` again (`resetspinning`), so parallelism ramps up one M per
//! unit of discovered work. The lost-wake-up argument: a spinning M that gives up
//! first puts its P on the idle list, *then* decrements `nmspinning`, *then*
//! re-checks the global queue and every P's queue; a submitter first enqueues,
//! *then* reads `npidle` and `nmspinning` in `wakep`. All four are SeqCst, so
//! one of the two sees the other.
//! A non-spinning M that gives up has already checked its own P and the global
//! queue under the lock, and work added elsewhere comes with its own `wakep`.
//!
//! **Idle Ms** sleep on their `park` note (`stopm`), except at most one that sleeps
//! until the earliest timer (`timers::try_sleep`).
//!
//! **Parking** (`gopark`/`goready`) is in `park.rs`; blocking hand-off in
//! `syscall.rs`; Ps coming and going (`set_procs`) in `procs.rs`.
//!
//! Locks: `SCHED.lock` protects the idle-P and idle-M lists and the global queue.
//! Order: P.timers.lock → SCHED.lock → gfree lock. Never held across a switch.

pub(crate) mod cgocallback;
pub(crate) mod deadlock;
mod extram;
pub(crate) mod gfree;
mod idle;
pub(crate) mod locked;
mod park;
pub(crate) mod procs;
pub(crate) mod runq;
mod syscall;
mod systemstack;

pub(crate) use gfree::newproc;
pub(crate) use idle::{stopm, wakep};
pub(crate) use park::{
    can_park, dropg, goexit, gopark, goready, goready_batch, gosched, gosched_global, preempt_park,
};
pub(crate) use syscall::{entersyscall, exitsyscall, retake_syscall_p};
pub(crate) use systemstack::systemstack;

use super::g::{G, Status, setgstatus};
use super::lock::Lock;
use super::m::M;
use super::p::{P, PStatus};
use super::{arch, fatal, netpoll, os, preempt, timers};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;
use runq::Spill;

/// Upper bound on `procs()`: Ps live in a fixed table so they can be read without
/// a lock. Far above any machine this runs on.
pub(crate) const MAX_PROCS: usize = 1024;

/// Every 61 rounds a P polls the global queue first (Go's constant: a prime, so it
/// does not beat with periodic workloads).
const GLOBAL_POLL_INTERVAL: u32 = 61;
/// Passes over all Ps when stealing.
const STEAL_TRIES: usize = 4;

pub(crate) struct Locked {
    pub midle: *mut M,
    pub nmidle: usize,
    pub pidle: *mut P,
    pub runq_head: *mut G,
    pub runq_tail: *mut G,
}

pub(crate) struct Sched {
    pub lock: Lock,
    locked: UnsafeCell<Locked>,
    /// Length of the global queue (written under the lock, read anywhere).
    pub runqsize: AtomicU32,
    pub npidle: AtomicU32,
    pub nmspinning: AtomicU32,
    pub gomaxprocs: AtomicU32,
    pub allp: [AtomicPtr<P>; MAX_PROCS],
    /// Ps ever created (they are never freed; those ≥ gomaxprocs are Dead).
    pub allp_len: AtomicUsize,
    /// Goroutines spawned minus finished, for those spawned or finished without a
    /// P (plain threads); the rest is counted per P (`P.counters.gdelta`).
    pub ngoroutines: AtomicI64,
    /// Last goroutine id handed out (Ps reserve batches of it). Padded: it is
    /// written on spawn, and the fields above are read by every stealing M.
    pub goidgen: CachePadded<AtomicU64>,
}

// SAFETY: `locked` is only accessed with `lock` held; everything else is atomic.
unsafe impl Sync for Sched {}

pub(crate) static SCHED: Sched = Sched {
    lock: Lock::new(),
    locked: UnsafeCell::new(Locked {
        midle: null_mut(),
        nmidle: 0,
        pidle: null_mut(),
        runq_head: null_mut(),
        runq_tail: null_mut(),
    }),
    runqsize: AtomicU32::new(0),
    npidle: AtomicU32::new(0),
    nmspinning: AtomicU32::new(0),
    gomaxprocs: AtomicU32::new(0),
    allp: [const { AtomicPtr::new(null_mut()) }; MAX_PROCS],
    allp_len: AtomicUsize::new(0),
    ngoroutines: AtomicI64::new(0),
    goidgen: CachePadded::new(AtomicU64::new(0)),
};

impl Sched {
    /// The lock-protected part.
    ///
    /// # Safety
    /// `self.lock` must be held, and the reference must not outlive it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn locked(&self) -> &mut Locked {
        // SAFETY: per the contract, the lock serialises all access.
        unsafe { &mut *self.locked.get() }
    }
}

/// Counts a goroutine created (+1) or finished (-1) by the caller, on its P if it
/// holds one (no shared cache line), else on the global counter.
///
/// In the no-preemption text (see `m::acquirem`), so it needs no hold: no
/// signal stops it between finding its M and P and updating the counter. A
/// leaf: it must call nothing that returns.
#[inline(never)]
#[cfg_attr(target_os = "linux", unsafe(link_section = "gort_nopreempt"))]
#[cfg_attr(windows, unsafe(link_section = ".text$gortn_m"))]
pub(crate) fn count_goroutines(delta: i64) {
    let m = super::m::getm_in_nopreempt_text();
    // SAFETY: the current thread's own M and the P it holds; nothing here can
    // be preempted (above), so no other goroutine interleaves on the counter.
    unsafe {
        if !m.is_null() && !(*m).p.is_null() && !(*m).in_syscall {
            count_goroutines_on((*m).p, delta);
            return;
        }
    }
    SCHED.ngoroutines.fetch_add(delta, Ordering::SeqCst);
}

/// `count_goroutines` on `pp`'s own counter.
///
/// # Safety
/// The caller's M holds `pp` and cannot be preempted (`NoPreempt`).
#[inline]
pub(crate) unsafe fn count_goroutines_on(pp: *mut P, delta: i64) {
    // SAFETY: per the contract: the counter is owner-written.
    unsafe { super::p::bump_i64(&(*pp).counters.gdelta, delta) };
}

/// Goroutines spawned and not yet finished.
pub(crate) fn ngoroutines() -> usize {
    let mut n = SCHED.ngoroutines.load(Ordering::SeqCst);
    for pp in allp() {
        // SAFETY: Ps are never freed.
        n += unsafe { (*pp).counters.gdelta.load(Ordering::Acquire) };
    }
    n.max(0) as usize
}

pub(crate) fn gomaxprocs() -> usize {
    SCHED.gomaxprocs.load(Ordering::SeqCst) as usize
}

/// Every P ever created, Dead ones included (they may briefly hold Gs or timers).
pub(crate) fn allp() -> impl Iterator<Item = *mut P> {
    let n = SCHED.allp_len.load(Ordering::Acquire);
    (0..n).map(|i| SCHED.allp[i].load(Ordering::Acquire))
}

/// Binds `pp` (Idle, or handed over) to `m`.
///
/// # Safety
/// `m` is the current M, without a P; `pp` is owned by the caller.
pub(crate) unsafe fn acquirep(m: *mut M, pp: *mut P) {
    // SAFETY: per the contract.
    unsafe {
        if !(*m).p.is_null() || !(*pp).m.is_null() && (*pp).m != m {
            fatal("acquirep: M or P already bound");
        }
        (*m).p = pp;
        (*pp).m = m;
        (*pp).set_status(PStatus::Running);
    }
    // A running P needs sysmon awake (time slices, hand-offs). Every way out of
    // the idle list passes here: `startm`, but also an M that takes an idle P
    // back itself (timer sleeper, re-check, `exitsyscall`). The P left the idle
    // count (SeqCst) before this SeqCst load; sysmon sets PARKED before its
    // last look at that count: one of the two sees the other.
    super::sysmon::wake_if_idle();
}

/// Unbinds the current P from `m` and returns it (status Idle).
///
/// # Safety
/// `m` is the current M and holds a P.
pub(crate) unsafe fn releasep(m: *mut M) -> *mut P {
    // SAFETY: per the contract.
    unsafe {
        let pp = (*m).p;
        if pp.is_null() || (*pp).m != m {
            fatal("releasep: invalid P state");
        }
        (*pp).m = null_mut();
        (*pp).set_status(PStatus::Idle);
        (*m).p = null_mut();
        pp
    }
}

/// Puts `gp` on `pp`'s local queue (runnext if `next`); overflow goes global.
///
/// # Safety
/// The caller's M holds `pp`; `gp` is Runnable and owned by the caller.
#[inline]
/// Returns true if the local ring was full and half of it moved to the global
/// queue.
pub(crate) unsafe fn runqput(pp: *mut P, gp: *mut G, next: bool) -> bool {
    // SAFETY: P is held by the caller.
    match unsafe { (*pp).runq.put(gp, next) } {
        None => false,
        // SAFETY: as above.
        Some(gp) => unsafe { runqput_slow(pp, gp) },
    }
}

/// The local ring is full: move half of it, plus `gp`, to the global queue.
#[cold]
unsafe fn runqput_slow(pp: *mut P, gp: *mut G) -> bool {
    let mut spill: Spill = [null_mut(); runq::RUNQ_LEN / 2 + 1];
    // SAFETY: P is held by the caller.
    let n = unsafe {
        loop {
            match (*pp).runq.put_slow(gp, &mut spill) {
                Some(n) => break n,
                // Thieves made room meanwhile.
                None => {
                    if (*pp).runq.put(gp, false).is_none() {
                        return false;
                    }
                }
            }
        }
    };
    {
        let batch = &spill[..n];
        // SAFETY: the spilled Gs were just removed from the ring: we own them.
        unsafe {
            for w in batch.windows(2) {
                (*w[0]).schedlink = w[1];
            }
            (*batch[n - 1]).schedlink = null_mut();
        }
        SCHED.lock.lock();
        // SAFETY: lock held; batch is linked.
        unsafe { globrunqputbatch(batch[0], batch[n - 1], n as u32) };
        SCHED.lock.unlock();
    }
    true
}

/// Appends one G to the global queue.
///
/// # Safety
/// `SCHED.lock` held; `gp` Runnable and owned by the caller.
pub(crate) unsafe fn globrunqput(gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        (*gp).schedlink = null_mut();
        globrunqputbatch(gp, gp, 1);
    }
}

/// Appends a linked batch `head..=tail` of `n` Gs to the global queue.
///
/// # Safety
/// `SCHED.lock` held; the batch is linked through `schedlink`, ending in null.
pub(crate) unsafe fn globrunqputbatch(head: *mut G, tail: *mut G, n: u32) {
    // SAFETY: lock held.
    unsafe {
        let l = SCHED.locked();
        if l.runq_tail.is_null() {
            l.runq_head = head;
        } else {
            (*l.runq_tail).schedlink = head;
        }
        l.runq_tail = tail;
    }
    SCHED.runqsize.fetch_add(n, Ordering::SeqCst);
}

/// Takes a fair share of the global queue (at most `max` if nonzero) into `pp`'s
/// local queue and returns one G to run.
///
/// # Safety
/// `SCHED.lock` held; the caller's M holds `pp`.
unsafe fn globrunqget(pp: *mut P, max: u32) -> *mut G {
    let size = SCHED.runqsize.load(Ordering::Relaxed);
    if size == 0 {
        return null_mut();
    }
    let procs = gomaxprocs().max(1) as u32;
    let mut n = (size / procs + 1).min(size);
    if max > 0 {
        n = n.min(max);
    }
    n = n.min(runq::RUNQ_LEN as u32 / 2);
    SCHED.runqsize.fetch_sub(n, Ordering::SeqCst);
    // SAFETY: lock held; the queue has at least n Gs.
    unsafe {
        let l = SCHED.locked();
        let gp = l.runq_head;
        l.runq_head = (*gp).schedlink;
        for _ in 1..n {
            let g = l.runq_head;
            l.runq_head = (*g).schedlink;
            let _ = runqput(pp, g, false);
        }
        if l.runq_head.is_null() {
            l.runq_tail = null_mut();
        }
        (*gp).schedlink = null_mut();
        gp
    }
}

/// `globrunqget` if the global queue looks non-empty (taking the lock only then).
///
/// # Safety
/// The caller's M holds `pp`.
unsafe fn try_globrunqget(pp: *mut P, max: u32) -> *mut G {
    if SCHED.runqsize.load(Ordering::SeqCst) == 0 {
        return null_mut();
    }
    SCHED.lock.lock();
    // SAFETY: lock held; per the contract.
    let gp = unsafe { globrunqget(pp, max) };
    SCHED.lock.unlock();
    gp
}

/// One round of scheduling: find a runnable G and run it. Never returns.
///
/// # Safety
/// Called on `m`'s g0 stack by its own thread, with a P held and no G running.
pub(crate) unsafe fn schedule(m: *mut M) -> ! {
    // SAFETY: per the contract; every step below keeps "this M owns its P".
    unsafe {
        if (*m).locks != 0 {
            fatal("schedule: holding runtime locks");
        }
        // A locked M runs its goroutine and nothing else (see `locked`).
        let lg = (*m).lockedg;
        if !lg.is_null() {
            locked::stoplockedm(m);
            execute(m, lg, false);
        }
        loop {
            let pp = (*m).p;
            if (*pp).id >= gomaxprocs() {
                // set_procs shrank below this P: retire it and find another.
                procs::retire_current_p(m);
                continue;
            }
            let (gp, inherit) = findrunnable(m);
            if (*m).spinning {
                resetspinning(m);
            }
            if (*gp).locked {
                // Only its own M may run it: hand that M our P.
                locked::startlockedm(m, gp);
                continue;
            }
            execute(m, gp, inherit);
        }
    }
}

/// Runs `gp` on `m`. Never returns.
///
/// # Safety
/// `gp` is Runnable and owned by the caller; `m` is the current M, on g0, with a P.
pub(crate) unsafe fn execute(m: *mut M, gp: *mut G, inherit: bool) -> ! {
    // SAFETY: per the contract.
    unsafe {
        let pp = (*m).p;
        if (*gp).locked && (*gp).lockedm != m {
            fatal("execute: goroutine locked to another thread");
        }
        let fresh = (*gp).fresh;
        if fresh {
            (*gp).fresh = false;
            gfree::take_hot_stack(pp, gp);
        }
        (*m).curg = gp;
        (*gp).m = m;
        setgstatus(gp, Status::Runnable, Status::Running);
        if !inherit {
            let t = (*pp).schedtick.load(Ordering::Relaxed);
            (*pp).schedtick.store(t + 1, Ordering::Relaxed);
        }
        super::p::bump_u64(&(*pp).counters.switches);
        // The switch hold (see `park::mcall`), set since this M came to g0:
        // no preemption until the goroutine is back on its own stack.
        debug_assert!(!preempt::ENABLED || (*m).switching.load(Ordering::Relaxed));
        crate::runtime::sanitizer::leave_g0(gp);
        if fresh {
            arch::gogo_start((*gp).stack.hi, gp, m)
        } else {
            arch::gogo(&(*gp).sched, m)
        }
    }
}

/// The M stops spinning (it found work); if it was the last spinner, start
/// another to look for more.
unsafe fn resetspinning(m: *mut M) {
    // SAFETY: the current M.
    unsafe { (*m).spinning = false };
    let prev = SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst);
    if prev == 0 {
        fatal("resetspinning: negative nmspinning");
    }
    wakep();
}

/// Runs `pp`'s due timers; returns the time read (0 if there was no timer).
unsafe fn check_timers(pp: *mut P) -> i64 {
    // SAFETY: Ps are never freed.
    let t0 = unsafe { (*pp).timers.timer0_when.load(Ordering::Acquire) };
    if t0 == 0 {
        return 0;
    }
    let now = os::nanotime();
    super::sysmon::note_time(now);
    if now >= t0 {
        // SAFETY: as above.
        unsafe { (*pp).timers.run(now) };
    }
    now
}

/// Finds a runnable G, blocking (as an idle M) until there is one.
/// Returns the G and whether it inherits the current time slice.
///
/// # Safety
/// As `schedule`.
unsafe fn findrunnable(m: *mut M) -> (*mut G, bool) {
    // SAFETY: per the contract; comments mark the protocol steps.
    unsafe {
        'top: loop {
            let pp = (*m).p;
            let mut now = check_timers(pp);
            // Timers stranded on Ps that `set_procs` retired, once due.
            now = procs::run_retired_timers(now);

            // Fairness: every 61st round the global queue and the goroutines
            // preempted on this thread go first, so they cannot starve behind
            // local work (which of the two first alternates, so neither can
            // starve the other).
            // (32 bits are enough here, and cheaper to divide.)
            let tick = (*pp).schedtick.load(Ordering::Relaxed) as u32;
            if tick.is_multiple_of(GLOBAL_POLL_INTERVAL) {
                let mut gp = null_mut();
                if (tick / GLOBAL_POLL_INTERVAL) & 1 == 1 {
                    gp = preempt::affine_get(m);
                }
                if gp.is_null() {
                    gp = try_globrunqget(pp, 1);
                }
                if gp.is_null() {
                    gp = preempt::affine_get(m);
                }
                if !gp.is_null() {
                    return (gp, false);
                }
            }
            if let Some(r) = (*pp).runq.get() {
                return r;
            }
            let gp = try_globrunqget(pp, 0);
            if !gp.is_null() {
                return (gp, false);
            }
            // Goroutines preempted on this thread, which only it may resume:
            // last, because they were preempted for the work above.
            let gp = preempt::affine_get(m);
            if !gp.is_null() {
                return (gp, false);
            }

            // Sockets: goroutines whose socket became ready, unless the
            // sleeper is blocked in the poller (it sees the events itself).
            if netpoll::has_waiters() && !netpoll::blocked() && netpoll::poll_nonblocking(true) > 0
            {
                continue 'top;
            }

            // Steal, if spinning is worthwhile: limit spinners to half the busy Ps.
            let procs = gomaxprocs() as u32;
            let busy = procs.saturating_sub(SCHED.npidle.load(Ordering::SeqCst));
            if (*m).spinning || 2 * SCHED.nmspinning.load(Ordering::SeqCst) < busy {
                if !(*m).spinning {
                    (*m).spinning = true;
                    SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
                if now == 0 {
                    now = os::nanotime();
                }
                let (gp, new_work) = steal_work(m, now);
                if !gp.is_null() {
                    return (gp, false);
                }
                if new_work {
                    continue 'top;
                }
            }

            // Nothing to do: give up the P. Last look at the global queue under the
            // lock, so a `globrunqput` + `wakep` racing with us cannot be missed.
            SCHED.lock.lock();
            if SCHED.runqsize.load(Ordering::SeqCst) > 0 {
                let gp = globrunqget(pp, 0);
                SCHED.lock.unlock();
                return (gp, false);
            }
            let pp = releasep(m);
            idle::pidleput(pp);
            SCHED.lock.unlock();

            let was_spinning = (*m).spinning;
            if was_spinning {
                // The spinning-M protocol (see the top of this file): the P is idle
                // before we stop counting as a spinner, then every queue is
                // re-checked.
                (*m).spinning = false;
                if SCHED.nmspinning.fetch_sub(1, Ordering::SeqCst) == 0 {
                    fatal("findrunnable: negative nmspinning");
                }
                // The global queue too: a plain thread's `go` may have queued
                // there after our look under the lock and found us still
                // counted as a spinner, so its `wakep` did nothing
                // (tests/wakeup_race.rs).
                if SCHED.runqsize.load(Ordering::SeqCst) != 0 {
                    SCHED.lock.lock();
                    let pp = if SCHED.runqsize.load(Ordering::SeqCst) != 0 {
                        idle::pidleget()
                    } else {
                        null_mut()
                    };
                    if !pp.is_null() {
                        // Not empty under the lock: there is a G to take.
                        let gp = globrunqget(pp, 0);
                        SCHED.lock.unlock();
                        acquirep(m, pp);
                        (*m).spinning = true;
                        SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                        return (gp, false);
                    }
                    SCHED.lock.unlock();
                }
                for p2 in allp() {
                    if !(*p2).runq.is_empty() {
                        SCHED.lock.lock();
                        let pp = idle::pidleget();
                        SCHED.lock.unlock();
                        if !pp.is_null() {
                            acquirep(m, pp);
                            (*m).spinning = true;
                            SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                            continue 'top;
                        }
                        break;
                    }
                }
            }

            // Timers pending somewhere, or goroutines waiting on sockets: maybe
            // become the M that sleeps until the first timer, in the poller.
            let next = timers::next_timer_all();
            if (next != 0 || netpoll::has_waiters())
                && let Some(polled) = timers::try_sleep(next)
            {
                SCHED.lock.lock();
                let pp = idle::pidleget();
                SCHED.lock.unlock();
                if !pp.is_null() {
                    acquirep(m, pp);
                    if was_spinning {
                        (*m).spinning = true;
                        SCHED.nmspinning.fetch_add(1, Ordering::SeqCst);
                    }
                    // The goroutines whose sockets woke us: onto our P.
                    if let Some(polled) = polled {
                        polled.dispatch(true);
                    }
                    run_all_timers(os::nanotime());
                    continue 'top;
                }
                // No P: they go to the global queue, for an M with one.
                drop(polled);
            }
            stopm(m);
        }
    }
}

/// Runs every P's due timers, readying their Gs onto the current M's P.
unsafe fn run_all_timers(now: i64) {
    for p2 in allp() {
        // SAFETY: Ps are never freed; the timer heap has its own lock.
        unsafe { (*p2).timers.run(now) };
    }
}

/// Tries to steal a G from another P. Returns the G (or null) and whether running
/// other Ps' timers may have made new work appear locally.
unsafe fn steal_work(m: *mut M, now: i64) -> (*mut G, bool) {
    // SAFETY: the current M holds its P; Ps are never freed.
    unsafe {
        let pp = (*m).p;
        let n = SCHED.allp_len.load(Ordering::Acquire);
        let mut ran_timers = false;
        for i in 0..STEAL_TRIES {
            let last = i == STEAL_TRIES - 1;
            let start = (*m).fastrand() as usize;
            for k in 0..n {
                let p2 = SCHED.allp[(start + k) % n].load(Ordering::Acquire);
                if p2 == pp {
                    continue;
                }
                if last && (*p2).timers.run(now) > 0 {
                    ran_timers = true;
                    if let Some((gp, _)) = (*pp).runq.get() {
                        return (gp, false);
                    }
                }
                let st = (*p2).status();
                if st == PStatus::Idle {
                    continue;
                }
                if let Some(gp) = (*pp)
                    .runq
                    .steal_from(&(*p2).runq, last, st == PStatus::Running)
                {
                    super::p::bump_u64(&(*pp).counters.steals);
                    return (gp, false);
                }
            }
        }
        (null_mut(), ran_timers)
    }
}

/// Entry point of every goroutine (called by the arch `gostart` trampoline on the
/// goroutine's fresh stack). Runs the task, then exits the goroutine.
pub(crate) extern "C" fn goroutine_main(gp: *mut G, m: *mut M) -> ! {
    // SAFETY: `m` is the current M (still holding the switch hold).
    unsafe { crate::runtime::sanitizer::enter_new_goroutine(m) };
    // End the switch hold of `m`, the M starting us (resumed goroutines have
    // it ended by `gogo`).
    if preempt::ENABLED {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: `m` is the current M.
        unsafe { (*m).switching.store(false, Ordering::Relaxed) };
    }
    // SAFETY: `gp` is the G this M just started; only it touches `entry` now.
    let task = unsafe { (*gp).entry.take() };
    let dead = match task {
        // SAFETY: a task is run exactly once, by its goroutine.
        Some(t) => unsafe { (t.run)(t.ptr) },
        None => fatal("goroutine started without a task"),
    };
    // Every value of the task is dropped by now: nothing on this stack is live.
    goexit(dead)
}
