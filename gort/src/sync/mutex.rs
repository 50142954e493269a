//! `Mutex<T>`: Go's `sync.Mutex` (src/sync/mutex.go) with a value inside.
//!
//! One atomic state word: `LOCKED`, `WOKEN` (a waiter is awake and about to
//! try: unlock need not wake another), `STARVING`, and the number of waiters
//! from bit 3 on. Waiters park on the mutex's `Sema`.
//!
//! - **Fast paths**: lock is one CAS 0 → `LOCKED`; unlock is one atomic
//!   subtract, done if the result is 0 (nobody waits).
//! - **Normal mode**: a contender spins a few short rounds (only where it can
//!   pay off: `Env::can_spin`), setting `WOKEN` so the holder's unlock does
//!   not wake a sleeper it would only race with; then it counts itself as a
//!   waiter and parks. Unlock wakes one waiter (taking `WOKEN` for it), which
//!   then *competes* with newcomers. Newcomers usually win (they are running,
//!   the waiter must first be scheduled): that is what makes the mutex fast,
//!   and a woken waiter that loses queues again at the front (`lifo`).
//! - **Starvation mode**: a waiter that has waited more than 1 ms sets
//!   `STARVING`. From then on unlock hands the mutex directly to the front
//!   waiter (and yields the processor to it); newcomers do not try to take
//!   it and do not spin, they queue at the back. The waiter that receives it
//!   switches back to normal mode if it is the last waiter or has waited less
//!   than 1 ms. So a goroutine that keeps re-taking the lock cannot starve a
//!   waiter: after 1 ms of waiting, the waiter is served at the next unlock
//!   (the queue ahead of it permitting: hand-offs go in queue order).
//!
//! In starvation mode `LOCKED` is clear while the lock is being handed over;
//! the mutex still counts as held (`STARVING` keeps everyone else out) and
//! the receiver sets `LOCKED` and drops its waiter count in one add.
//!
//! The state machine is generic over `Env` so that loom model-checks this
//! exact code (`loom_mutex` below); the runtime instance is `RawMutex<Rt>`.
//!
//! Ownership is not tied to a goroutine or thread (as in Go): a guard may be
//! sent elsewhere and dropped there.

use super::env::{Env, Rt, Word};
use super::sema::Sema;
use crate::runtime::fatal;
use crate::runtime::g::WaitReason;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

const LOCKED: u32 = 1;
const WOKEN: u32 = 2;
const STARVING: u32 = 4;
const WAITER_SHIFT: u32 = 3;
/// One waiter, in the state word.
const WAITER: u32 = 1 << WAITER_SHIFT;

/// Go's `starvationThresholdNs`: 1 ms, long compared with a critical section
/// and a park/unpark round trip, short enough to bound a waiter's wait.
const STARVATION_THRESHOLD_NS: i64 = 1_000_000;

/// The mutex without the data: also the writer lock of `RwLock` and the lock
/// of `Once`.
pub(crate) struct RawMutex<E: Env = Rt> {
    state: E::Word,
    sema: E::Sema,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicU32::new(0),
            sema: Sema::new(0),
        }
    }
}

impl<E: Env> RawMutex<E> {
    /// For the loom model, which builds its own parts.
    #[cfg(all(test, loom))]
    pub(crate) fn from_parts(state: E::Word, sema: E::Sema) -> RawMutex<E> {
        RawMutex { state, sema }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        self.lock_as(WaitReason::SyncMutexLock);
    }

    /// `lock`, saying why in `debug::dump` if it has to wait.
    #[inline]
    pub(crate) fn lock_as(&self, reason: WaitReason) {
        if self.state.cas(0, LOCKED, Ordering::Acquire).is_err() {
            self.lock_slow(reason);
        }
    }

    /// Go's `TryLock`: fails if locked or being handed over.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        // A waiter may be about to wake: we are running and may take it first.
        old & (LOCKED | STARVING) == 0
            && self.state.cas(old, old | LOCKED, Ordering::Acquire).is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, reason: WaitReason) {
        let mut wait_start: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin while the lock is held in normal mode (in starvation mode
            // it goes to a waiter anyway, so spinning is useless).
            if old & (LOCKED | STARVING) == LOCKED && E::can_spin(iter) {
                // Tell unlock not to wake a sleeper: we are about to take it.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self.state.cas(old, old | WOKEN, Ordering::Relaxed).is_ok()
                {
                    awoke = true;
                }
                E::spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Newcomers do not take a starving mutex: they queue.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += WAITER;
            }
            // Switch to starvation mode, unless the mutex is free right now
            // (unlock expects waiters in starvation mode; there would be none).
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                // We were woken (or set `WOKEN` ourselves): clear it whatever
                // happens next.
                if new & WOKEN == 0 {
                    fatal("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            if let Err(now) = self.state.cas(old, new, Ordering::Acquire) {
                old = now;
                continue;
            }
            if old & (LOCKED | STARVING) == 0 {
                return; // locked it with the CAS
            }
            // A waiter that already waited goes back to the front.
            let lifo = wait_start != 0;
            if wait_start == 0 {
                wait_start = E::nanotime();
            }
            E::semacquire(&self.sema, lifo, reason);
            starving = starving || E::nanotime() - wait_start > STARVATION_THRESHOLD_NS;
            old = self.state.load(Ordering::Acquire);
            if old & STARVING != 0 {
                // Handed to us: `LOCKED` is clear and we still count as a
                // waiter. Fix both in one add.
                if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                    fatal("sync: inconsistent mutex state");
                }
                let mut delta = LOCKED.wrapping_sub(WAITER);
                if !starving || old >> WAITER_SHIFT == 1 {
                    // Leave starvation mode. It must happen here, considering
                    // our own wait: starvation mode is slow enough that two
                    // goroutines could otherwise stay in lock-step in it.
                    delta = delta.wrapping_sub(STARVING);
                }
                self.state.add(delta, Ordering::Acquire);
                return;
            }
            awoke = true;
            iter = 0;
        }
    }

    /// # Safety
    /// The mutex is locked, and the caller owns that lock (it took it, or it
    /// was handed the guard); it is released once.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        let new = self.state.add(LOCKED.wrapping_neg(), Ordering::Release);
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, new: u32) {
        if new.wrapping_add(LOCKED) & LOCKED == 0 {
            fatal("sync: unlock of unlocked mutex");
        }
        if new & STARVING != 0 {
            // Hand the mutex to the front waiter, and our time slice with it.
            // `LOCKED` stays clear (the receiver sets it); `STARVING` keeps
            // newcomers out meanwhile.
            E::semrelease(&self.sema, true);
            return;
        }
        let mut old = new;
        loop {
            // Nobody to wake, or someone is already awake, or the lock was
            // taken again (its holder will wake someone), or it went into
            // starvation mode (not ours to hand over: we did not see it).
            if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                return;
            }
            // Take the right to wake one.
            let new = (old - WAITER) | WOKEN;
            match self.state.cas(old, new, Ordering::Release) {
                Ok(_) => {
                    E::semrelease(&self.sema, false);
                    return;
                }
                Err(now) => old = now,
            }
        }
    }
}

/// A mutual-exclusion lock that parks the goroutine waiting for it (Go's
/// `sync.Mutex`), with the data it protects inside (like `std::sync::Mutex`).
///
/// Outside a goroutine `lock` blocks the thread, so goroutines and plain
/// threads can share one `Mutex`. There is no poisoning: a panic while the
/// lock is held just unlocks it. Waiters are served roughly in order, and
/// one that has waited over a millisecond switches the mutex to hand-off
/// (Go's starvation mode), so a goroutine re-taking the lock in a loop
/// cannot starve it. `lock` is one CAS and `unlock` one atomic add when
/// nobody waits.
///
/// ```
/// use gort::sync::Mutex;
///
/// let total = gort::run(|| {
///     let count = Mutex::new(0u64);
///     gort::scope(|s| {
///         for _ in 0..8 {
///             s.go(|| {
///                 for _ in 0..1000 {
///                     *count.lock() += 1;
///                 }
///             });
///         }
///     });
///     count.into_inner()
/// });
/// assert_eq!(total, 8000);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one holder at a time, on any
// thread: `T: Send` is all it needs (as for `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Access to a locked [`Mutex`]'s data; unlocks when dropped.
///
/// Unlike std's, it may be sent to another goroutine or thread and dropped
/// there (the lock is not owned by a thread, as in Go).
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) mutex: &'a Mutex<T>,
    /// `&mut T` semantics: `Send` iff `T: Send`, `Sync` iff `T: Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// ```
    /// static COUNT: gort::sync::Mutex<u32> = gort::sync::Mutex::new(0);
    /// *COUNT.lock() += 1;
    /// assert_eq!(*COUNT.lock(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the goroutine (or blocking the thread) until
    /// it is free.
    ///
    /// ```
    /// gort::run(|| {
    ///     let m = gort::sync::Mutex::new(vec![1]);
    ///     m.lock().push(2);
    ///     assert_eq!(*m.lock(), [1, 2]);
    /// });
    /// ```
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Locks the mutex if it is free right now.
    ///
    /// ```
    /// let m = gort::sync::Mutex::new(1);
    /// let g = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(g);
    /// assert_eq!(*m.try_lock().unwrap(), 1);
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // Not `then_some`: a guard built for nothing would unlock on drop.
        if self.raw.try_lock() {
            Some(MutexGuard {
                mutex: self,
                _marker: PhantomData,
            })
        } else {
            None
        }
    }

    /// The data, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Locks with `reason` shown by `debug::dump` while waiting.
    pub(super) fn lock_as(&self, reason: WaitReason) -> MutexGuard<'_, T> {
        self.raw.lock_as(reason);
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` is unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock, and drops only once.
        unsafe { self.mutex.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Model-checks the state machine above with loom:
/// `RUSTFLAGS="--cfg loom" cargo test --release -p gort --lib loom_mutex`.
/// The semaphore is loom's model (see `env::model`); everything else is the
/// code above, in normal mode and with every park counting as starving.
#[cfg(all(test, loom))]
mod loom_mutex {
    use super::super::env::Env;
    use super::super::env::model::{Model, ModelSema};
    use super::{LOCKED, RawMutex, STARVING};
    use core::sync::atomic::Ordering;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;

    struct Shared<E: Env> {
        m: RawMutex<E>,
        /// Touched only under the mutex: loom reports any unsynchronised access.
        count: UnsafeCell<u32>,
    }

    // SAFETY: `count` is only accessed with `m` held.
    unsafe impl<E: Env> Sync for Shared<E> {}
    unsafe impl<E: Env> Send for Shared<E> {}

    fn new_shared<E: Env<Word = AtomicU32, Sema = ModelSema>>() -> Arc<Shared<E>> {
        Arc::new(Shared {
            m: RawMutex::from_parts(AtomicU32::new(0), ModelSema::new()),
            count: UnsafeCell::new(0),
        })
    }

    fn incr<E: Env>(sh: &Shared<E>) {
        sh.m.lock();
        // SAFETY: the mutex is held.
        sh.count.with_mut(|c| unsafe { *c += 1 });
        // SAFETY: we hold it.
        unsafe { sh.m.unlock() };
    }

    /// `threads` threads increment `rounds` times each: every increment is
    /// exclusive (loom checks the cell), none is lost, nobody deadlocks, and
    /// the state word ends clean (no lock bit, waiter or starvation left).
    fn run<const STARVE: bool>(threads: usize, rounds: usize, bound: usize) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(bound);
        b.check(move || {
            let sh = new_shared::<Model<STARVE>>();
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let sh = sh.clone();
                    loom::thread::spawn(move || {
                        for _ in 0..rounds {
                            incr(&sh);
                        }
                    })
                })
                .collect();
            for _ in 0..rounds {
                incr(&sh);
            }
            for h in hs {
                h.join().unwrap();
            }
            // SAFETY: every other thread has finished.
            let total = sh.count.with(|c| unsafe { *c });
            assert_eq!(total as usize, (threads + 1) * rounds);
            assert_eq!(sh.m.state.load(Ordering::SeqCst), 0, "state left dirty");
        });
    }

    #[test]
    fn two_threads_normal_mode() {
        run::<false>(1, 2, 3);
    }

    #[test]
    fn three_threads_normal_mode() {
        run::<false>(2, 1, 2);
    }

    #[test]
    fn two_threads_starvation_mode() {
        run::<true>(1, 2, 3);
    }

    #[test]
    fn three_threads_starvation_mode() {
        run::<true>(2, 1, 2);
    }

    /// `try_lock` never succeeds while the mutex is held or being handed
    /// over (the cell check would fire), and `lock` still works around it.
    #[test]
    fn try_lock_races_lock() {
        loom::model(|| {
            let sh = new_shared::<Model<true>>();
            let t = {
                let sh = sh.clone();
                loom::thread::spawn(move || incr(&sh))
            };
            if sh.m.try_lock() {
                // SAFETY: the mutex is held.
                sh.count.with_mut(|c| unsafe { *c += 1 });
                // SAFETY: we hold it.
                unsafe { sh.m.unlock() };
            }
            incr(&sh);
            t.join().unwrap();
            let s = sh.m.state.load(Ordering::SeqCst);
            assert_eq!(s & (LOCKED | STARVING), 0);
        });
    }
}
