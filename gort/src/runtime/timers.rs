//! Timers: a 4-ary min-heap per P, and the one M that sleeps until the earliest.
//!
//! A timer is an `RTimer` that lives with its owner (a parked goroutine's stack
//! for `sleep` and channel timeouts, an `Arc` for `gort::time` and context
//! deadlines); the heap holds pointers to it. It is in at most one P's heap at a
//! time: `pp` names that P (null when not queued) and `idx` its place there, kept
//! up to date by every heap move, so `delete` removes it at once (Go's timer
//! design up to 1.22). Nothing is left behind in a heap for a timer that was
//! stopped, so the owner may free it as soon as `delete` returns.
//!
//! Timers are run by the scheduler: `check_timers` at the top of every
//! `findrunnable`, for the M's own P (and for Ps retired by `set_procs` once
//! their earliest timer is due: `procs::run_retired_timers`), and for any P
//! while stealing or after the timer sleep. What "run" means depends on the timer's kind:
//! - `Wake`: its function runs *under the heap's lock* and returns the goroutine
//!   to ready, if any (a sleeper, or one whose channel timeout won). Only then is
//!   `pp` cleared: an owner that was woken some other way calls `delete`, which
//!   takes the same lock, so it cannot return (and free the timer) while the
//!   function still looks at it.
//! - `Func`: the heap holds one reference to an `Arc` owner (`Arc::into_raw`);
//!   running hands that reference to its function, called *after* the heap's
//!   lock is released, because it may take other locks (a channel's, to send the
//!   time) and channel code adds timeouts with its lock held. Such owners guard
//!   against a stale firing with their own state (`gort::time`).
//!
//! **The timer sleeper** (Go's netpoller-with-timeout role): when an M runs out of
//! work and some P has a timer, at most one M sleeps on `seq` with a timeout that
//! ends at the earliest timer (`poll_until`); the other idle Ms sleep without a
//! timeout. Whoever adds a timer earlier than `poll_until` bumps `seq` and wakes the
//! sleeper, which recomputes. With no sleeper, the adder calls `wakep`, so a
//! spinning M comes, finds nothing and becomes the sleeper.
//!
//! No lost wake-up: the sleeper reads `seq` *before* scanning the heaps and sleeps
//! only while `seq` is unchanged; an adder pushes its timer *before* reading the
//! sleeper's state and bumps `seq` whenever the sleeper might have missed it.
//!
//! Heap arity 4: half the depth of a binary heap and a node's children share a
//! cache line; at 100 k sleepers sift-down cost dominates and 4-ary measured
//! ~25% faster than binary in Go's own runtime (which uses the same layout).
//!
//! Lock order: channel locks → a P's `timers.lock` → the scheduler lock. A
//! `Func` timer's function runs with no timer lock held.

use super::g::G;
use super::lock::Lock;
use super::m::Pinned;
use super::netpoll;
use super::os;
use super::p::P;
use super::sched;
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, Ordering};

/// What a due timer does.
#[derive(Clone, Copy)]
pub(crate) enum TimerFn {
    /// Runs under the heap's lock; returns the goroutine to ready, or null.
    Wake(unsafe fn(arg: usize) -> *mut G),
    /// Runs after the heap's lock is released and consumes the heap's
    /// reference to the owner (see the module comment).
    Func(unsafe fn(arg: usize, now: i64)),
}

/// A runtime timer. The owner keeps it at a fixed address while it is queued.
pub(crate) struct RTimer {
    /// The P whose heap holds it, or null.
    pp: AtomicPtr<P>,
    /// Its index in that heap; written only under that heap's lock.
    idx: UnsafeCell<usize>,
    f: TimerFn,
    arg: usize,
}

// SAFETY: `idx` is only touched under the lock of the heap named by `pp`.
unsafe impl Sync for RTimer {}
unsafe impl Send for RTimer {}

impl RTimer {
    pub(crate) const fn new(f: TimerFn, arg: usize) -> RTimer {
        RTimer {
            pp: AtomicPtr::new(null_mut()),
            idx: UnsafeCell::new(usize::MAX),
            f,
            arg,
        }
    }
}

/// True while `t` is queued in some heap. Exact only if the caller excludes
/// concurrent `add`s of `t` (its owner's lock); a firing in progress reads
/// false.
pub(crate) fn is_queued(t: &RTimer) -> bool {
    !t.pp.load(Ordering::Acquire).is_null()
}

#[derive(Clone, Copy)]
struct TimerEntry {
    when: i64,
    t: *const RTimer,
}

pub(crate) struct Timers {
    lock: Lock,
    heap: UnsafeCell<Vec<TimerEntry>>,
    /// `when` of the heap's root, or 0 if empty: read without the lock.
    pub timer0_when: AtomicI64,
}

// SAFETY: `heap` is only touched with `lock` held.
unsafe impl Sync for Timers {}
unsafe impl Send for Timers {}

/// Queues `t` to fire at `when` (`nanotime` units) on the current P's heap, or
/// on P 0's from a thread without one (every heap is run by whichever M looks).
///
/// # Safety
/// `t` is not queued, and stays at its address until it has fired or `delete`
/// has returned.
pub(crate) unsafe fn add(t: &RTimer, when: i64) {
    crate::runtime::init();
    let pin = Pinned::new();
    let pp = if pin.p.is_null() {
        sched::allp().next().expect("the runtime has a P")
    } else {
        pin.p
    };
    // SAFETY: Ps are never freed; per the contract for `t`.
    unsafe { (*pp).timers.add(pp, t, when) };
    drop(pin);
}

/// Removes `t` from whatever heap holds it. Returns true if it was queued
/// (so it will not fire); false if it had already fired or was never added.
/// Once this returns, no timer code looks at `t` again.
pub(crate) fn delete(t: &RTimer) -> bool {
    loop {
        let pp = t.pp.load(Ordering::Acquire);
        if pp.is_null() {
            return false;
        }
        // SAFETY: Ps are never freed.
        let ts = unsafe { &(*pp).timers };
        ts.lock.lock();
        if t.pp.load(Ordering::Relaxed) != pp {
            // Fired (or moved) meanwhile: look again.
            ts.lock.unlock();
            continue;
        }
        // SAFETY: lock held; `t` is in this heap at `idx`.
        unsafe {
            let heap = &mut *ts.heap.get();
            let i = *t.idx.get();
            remove_at(heap, i);
            *t.idx.get() = usize::MAX;
            t.pp.store(null_mut(), Ordering::Release);
            ts.publish_root(heap);
        }
        ts.lock.unlock();
        return true;
    }
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            lock: Lock::new(),
            heap: UnsafeCell::new(Vec::new()),
            timer0_when: AtomicI64::new(0),
        }
    }

    /// Adds a timer to this heap (`me` is the P owning it) and makes sure some M
    /// will wake for it.
    ///
    /// # Safety
    /// As `add`.
    pub(crate) unsafe fn add(&self, me: *mut P, t: &RTimer, when: i64) {
        self.lock.lock();
        // SAFETY: lock held.
        unsafe {
            let heap = &mut *self.heap.get();
            self.push_locked(heap, me, t, when);
        }
        self.lock.unlock();
        wake_sleeper(when);
    }

    /// # Safety
    /// `self.lock` held; `heap` is its heap; `t` not queued anywhere.
    unsafe fn push_locked(&self, heap: &mut Vec<TimerEntry>, me: *mut P, t: &RTimer, when: i64) {
        t.pp.store(me, Ordering::Release);
        heap.push(TimerEntry { when, t });
        let last = heap.len() - 1;
        // SAFETY: per the contract.
        unsafe { sift_up(heap, last) };
        self.publish_root(heap);
    }

    fn publish_root(&self, heap: &[TimerEntry]) {
        self.timer0_when
            .store(heap.first().map_or(0, |e| e.when), Ordering::SeqCst);
    }

    /// Runs every timer due at `now`; returns how many ran.
    pub(crate) fn run(&self, now: i64) -> usize {
        let t0 = self.timer0_when.load(Ordering::Acquire);
        if t0 == 0 || t0 > now {
            return 0;
        }
        let mut ran = 0;
        self.lock.lock();
        loop {
            // SAFETY: lock held.
            let heap = unsafe { &mut *self.heap.get() };
            let Some(top) = heap.first().copied() else {
                break;
            };
            if top.when > now {
                break;
            }
            // SAFETY: lock held; the root is `top`.
            unsafe { remove_at(heap, 0) };
            self.publish_root(heap);
            ran += 1;
            // SAFETY: a queued timer's owner keeps it alive (the `add`
            // contract); for `Wake` until `pp` is cleared under this lock.
            unsafe {
                let t = &*top.t;
                *t.idx.get() = usize::MAX;
                match t.f {
                    TimerFn::Wake(f) => {
                        let gp = f(t.arg);
                        t.pp.store(null_mut(), Ordering::Release);
                        // `t` may be gone from here on (its owner was readied,
                        // or was woken otherwise and is waiting in `delete`).
                        if !gp.is_null() {
                            // Readying under the timer lock keeps the lock
                            // order (timers → sched).
                            sched::goready_batch(gp);
                        }
                    }
                    TimerFn::Func(f) => {
                        let arg = t.arg;
                        t.pp.store(null_mut(), Ordering::Release);
                        self.lock.unlock();
                        f(arg, now);
                        self.lock.lock();
                    }
                }
            }
        }
        self.lock.unlock();
        if ran > 0 {
            sched::wakep();
        }
        ran
    }

    pub(crate) fn len(&self) -> usize {
        self.lock.lock();
        // SAFETY: lock held.
        let n = unsafe { (*self.heap.get()).len() };
        self.lock.unlock();
        n
    }
}

/// Puts `e` at `i` and tells its timer.
///
/// # Safety
/// The heap's lock is held and `e.t` is queued in it.
#[inline]
unsafe fn place(h: &mut [TimerEntry], i: usize, e: TimerEntry) {
    h[i] = e;
    // SAFETY: per the contract.
    unsafe { *(*e.t).idx.get() = i };
}

/// # Safety
/// As `place`, for every entry.
unsafe fn sift_up(h: &mut [TimerEntry], mut i: usize) {
    let x = h[i];
    while i > 0 {
        let parent = (i - 1) / 4;
        if x.when >= h[parent].when {
            break;
        }
        // SAFETY: per the contract.
        unsafe { place(h, i, h[parent]) };
        i = parent;
    }
    // SAFETY: per the contract.
    unsafe { place(h, i, x) };
}

/// # Safety
/// As `place`, for every entry.
unsafe fn sift_down(h: &mut [TimerEntry], mut i: usize) {
    let n = h.len();
    let x = h[i];
    loop {
        let c = 4 * i + 1;
        if c >= n {
            break;
        }
        let mut m = c;
        for j in c + 1..(c + 4).min(n) {
            if h[j].when < h[m].when {
                m = j;
            }
        }
        if h[m].when >= x.when {
            break;
        }
        // SAFETY: per the contract.
        unsafe { place(h, i, h[m]) };
        i = m;
    }
    // SAFETY: per the contract.
    unsafe { place(h, i, x) };
}

/// Removes the entry at `i` (the caller clears its timer's `pp`/`idx`).
///
/// # Safety
/// As `place`, for every entry.
unsafe fn remove_at(h: &mut Vec<TimerEntry>, i: usize) {
    let last = h.pop().expect("remove from an empty timer heap");
    if i == h.len() {
        return;
    }
    let removed_when = h[i].when;
    // SAFETY: per the contract.
    unsafe {
        place(h, i, last);
        if last.when < removed_when {
            sift_up(h, i);
        } else {
            sift_down(h, i);
        }
    }
}

/// The timer sleeper's shared state.
pub(crate) struct Sleeper {
    /// Held by the one M allowed to sleep with a timeout.
    role: AtomicBool,
    /// The sleeper's deadline while it sleeps, else 0.
    pub poll_until: AtomicI64,
    /// Futex word: bumped to cut the sleep short.
    seq: AtomicU32,
}

pub(crate) static SLEEPER: Sleeper = Sleeper {
    role: AtomicBool::new(false),
    poll_until: AtomicI64::new(0),
    seq: AtomicU32::new(0),
};

/// A timer at `when` was just added: make sure an M will be awake by then.
pub(crate) fn wake_sleeper(when: i64) {
    if SLEEPER.role.load(Ordering::SeqCst) {
        let pu = SLEEPER.poll_until.load(Ordering::SeqCst);
        if pu == 0 || when < pu {
            cut_sleep();
        }
    } else {
        sched::wakep();
    }
}

/// Ends the sleeper's sleep, on its futex or in the poller.
fn cut_sleep() {
    SLEEPER.seq.fetch_add(1, Ordering::SeqCst);
    os::futex_wake(&SLEEPER.seq, 1);
    if netpoll::blocked() {
        netpoll::wake_blocked();
    }
}

/// Earliest timer over every P, or 0 if none.
pub(crate) fn next_timer_all() -> i64 {
    let mut next = 0i64;
    for pp in sched::allp() {
        // SAFETY: Ps are never freed.
        let w = unsafe { (*pp).timers.timer0_when.load(Ordering::SeqCst) };
        if w != 0 && (next == 0 || w < next) {
            next = w;
        }
    }
    next
}

/// Tries to become the timer sleeper and sleep until the earliest timer (or until
/// woken). Returns `None` at once if another M holds the role or there is
/// neither a timer nor a goroutine waiting on a socket (after making sure
/// that sleeper will wake in time for ours, and will poll if goroutines wait
/// on sockets); after a sleep, `Some`, with the poller's events if it slept
/// in the poller, for the caller to dispatch once it has a P again
/// (`netpoll::poll_blocking`).
///
/// While goroutines wait on sockets the sleeper sleeps in the network poller
/// (`netpoll`), which the earliest timer bounds: a socket's readiness wakes
/// it too. The rule that no poll is lost: a goroutine counts itself as a
/// socket waiter before it parks, and its M then comes here when it finds
/// nothing to run; if the role is taken by a sleeper on its futex (it looked
/// before the count rose), that sleeper is woken to look again.
pub(crate) fn try_sleep(my_next: i64) -> Option<Option<netpoll::Polled>> {
    if SLEEPER
        .role
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        let pu = SLEEPER.poll_until.load(Ordering::SeqCst);
        let earlier = my_next != 0 && (pu == 0 || my_next < pu);
        if earlier || (netpoll::has_waiters() && !netpoll::blocked()) {
            cut_sleep();
        }
        return None;
    }
    let seq = SLEEPER.seq.load(Ordering::SeqCst);
    let next = next_timer_all();
    let poll = netpoll::has_waiters();
    if next == 0 && !poll {
        SLEEPER.role.store(false, Ordering::SeqCst);
        return None;
    }
    // No timer: a poll without timeout, cut short only by a socket or a
    // new timer (any is earlier).
    let until = if next == 0 { i64::MAX } else { next };
    SLEEPER.poll_until.store(until, Ordering::SeqCst);
    let now = os::nanotime();
    let mut polled = None;
    if until > now {
        let timeout = (next != 0).then(|| next - now);
        if poll {
            polled = netpoll::poll_blocking(timeout, &SLEEPER.seq, seq);
        }
        if polled.is_none() {
            os::futex_wait(&SLEEPER.seq, seq, timeout);
        }
    }
    SLEEPER.poll_until.store(0, Ordering::SeqCst);
    SLEEPER.role.store(false, Ordering::SeqCst);
    Some(polled)
}
