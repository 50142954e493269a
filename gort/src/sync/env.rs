//! What the lock state machines (`RawMutex`, `RawRwLock`) need from the
//! runtime, as a trait, so that the very same code runs in two worlds:
//!
//! - `Rt`, the real one: the state words are `core` atomics, waiting is a
//!   `Sema` (goroutines park, threads block), spinning asks the scheduler
//!   whether it is worth it (Go's `sync_runtime_canSpin`), time is `nanotime`.
//! - `model::Model` under `cfg(loom)`: loom atomics and a loom-modelled
//!   semaphore, so that loom explores every interleaving of the state-word
//!   transitions (parking itself cannot be modelled: it switches stacks).
//!
//! Everything is static dispatch; `Rt` compiles to direct calls.

use super::sema::Sema;
use crate::runtime::g::WaitReason;
use core::sync::atomic::{AtomicU32, Ordering};

/// A 32-bit atomic word (signed values are stored as their bit pattern).
pub(crate) trait Word {
    fn load(&self, o: Ordering) -> u32;
    /// Strong compare-and-swap; the failure ordering is `Relaxed`. `Err`
    /// carries the value found, so a retry loop needs no second load of a
    /// contended line.
    fn cas(&self, old: u32, new: u32, o: Ordering) -> Result<u32, u32>;
    /// Wrapping add; returns the *new* value.
    fn add(&self, v: u32, o: Ordering) -> u32;
}

impl Word for AtomicU32 {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u32 {
        AtomicU32::load(self, o)
    }
    #[inline(always)]
    fn cas(&self, old: u32, new: u32, o: Ordering) -> Result<u32, u32> {
        self.compare_exchange(old, new, o, Ordering::Relaxed)
    }
    #[inline(always)]
    fn add(&self, v: u32, o: Ordering) -> u32 {
        self.fetch_add(v, o).wrapping_add(v)
    }
}

pub(crate) trait Env {
    type Word: Word;
    type Sema;
    fn semacquire(s: &Self::Sema, lifo: bool, reason: WaitReason);
    fn semrelease(s: &Self::Sema, handoff: bool);
    /// May a lock waiter spin (round `iter`, from 0) instead of parking?
    fn can_spin(iter: u32) -> bool;
    /// One round of spinning.
    fn spin();
    fn nanotime() -> i64;
}

/// The runtime.
pub(crate) struct Rt;

/// Rounds of spinning before parking (Go's `active_spin`).
const ACTIVE_SPIN: u32 = 4;
/// `PAUSE`s per round, between two looks at the lock word: 4× Go's
/// `active_spin_cnt` (30). A spinner's look pulls the lock's cache line
/// away from the holder, whose next lock/unlock must then fetch it back
/// (~100 ns across core complexes): looking less often lets a holder that
/// re-takes the lock in a loop run at uncontended speed meanwhile, and a
/// spinner that outlasts a short hold parks less. `bench/ mutex`
/// (8 goroutines, 2 cores, PAUSE ≈ 25 ns here, so a round is ~3 µs and the
/// whole spin ~12 µs): median 9.9 ns/op against 14.1 with 30 (Go 14.3).
/// Spinning only happens when the spinner's P has nothing else to run.
const ACTIVE_SPIN_CNT: u32 = 120;

impl Env for Rt {
    type Word = AtomicU32;
    type Sema = Sema;

    #[inline(always)]
    fn semacquire(s: &Sema, lifo: bool, reason: WaitReason) {
        s.acquire(lifo, reason)
    }

    #[inline(always)]
    fn semrelease(s: &Sema, handoff: bool) {
        s.release(handoff)
    }

    /// Go's rule: spin only a few rounds, only on a multi-core machine, only
    /// if some other processor is running (it may be the lock holder, about
    /// to unlock) and only if nothing else waits for our processor (spinning
    /// would delay it; a lock holder may be among it).
    fn can_spin(iter: u32) -> bool {
        if iter >= ACTIVE_SPIN || ncpu() <= 1 {
            return false;
        }
        let pin = crate::runtime::m::Pinned::new();
        if pin.p.is_null() {
            // A plain thread (or a goroutine inside `blocking`): nothing
            // waits for it, and a brief spin is cheaper than a futex sleep.
            return true;
        }
        let s = &crate::runtime::sched::SCHED;
        let busy_elsewhere = crate::runtime::sched::gomaxprocs() as u32
            > s.npidle.load(Ordering::Relaxed) + s.nmspinning.load(Ordering::Relaxed) + 1;
        // SAFETY: `pin` holds our P (and preemption off) while we look.
        busy_elsewhere && unsafe { (*pin.p).runq.is_empty() }
    }

    #[inline]
    fn spin() {
        for _ in 0..ACTIVE_SPIN_CNT {
            core::hint::spin_loop();
        }
    }

    #[inline]
    fn nanotime() -> i64 {
        crate::runtime::os::nanotime()
    }
}

/// Online CPUs (cached; the first call asks the OS).
fn ncpu() -> u32 {
    static NCPU: AtomicU32 = AtomicU32::new(0);
    let n = NCPU.load(Ordering::Relaxed);
    if n != 0 {
        return n;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    NCPU.store(n, Ordering::Relaxed);
    n
}

/// The loom world: see the top of this file.
#[cfg(all(test, loom))]
pub(crate) mod model {
    use super::{Env, Word};
    use crate::runtime::g::WaitReason;
    use core::sync::atomic::Ordering;
    use loom::sync::atomic::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    impl Word for AtomicU32 {
        fn load(&self, o: Ordering) -> u32 {
            AtomicU32::load(self, o)
        }
        fn cas(&self, old: u32, new: u32, o: Ordering) -> Result<u32, u32> {
            self.compare_exchange(old, new, o, Ordering::Relaxed)
        }
        fn add(&self, v: u32, o: Ordering) -> u32 {
            self.fetch_add(v, o).wrapping_add(v)
        }
    }

    /// A counting semaphore, modelled with loom's mutex and condition
    /// variable. Queue order, `lifo` and hand-off are scheduling policy: the
    /// state machines must be correct whichever waiter gets a permit.
    pub(crate) struct ModelSema {
        count: Mutex<u32>,
        cv: Condvar,
    }

    impl ModelSema {
        pub(crate) fn new() -> ModelSema {
            ModelSema {
                count: Mutex::new(0),
                cv: Condvar::new(),
            }
        }
    }

    /// `STARVE`: time leaps 2 ms per `nanotime` call, so every waiter that
    /// parked once counts as starving (exercises the hand-off mode);
    /// otherwise time stands still (normal mode only).
    pub(crate) struct Model<const STARVE: bool>;

    impl<const STARVE: bool> Env for Model<STARVE> {
        type Word = AtomicU32;
        type Sema = ModelSema;

        fn semacquire(s: &ModelSema, _lifo: bool, _reason: WaitReason) {
            let mut c = s.count.lock().unwrap();
            while *c == 0 {
                c = s.cv.wait(c).unwrap();
            }
            *c -= 1;
        }

        fn semrelease(s: &ModelSema, _handoff: bool) {
            *s.count.lock().unwrap() += 1;
            s.cv.notify_one();
        }

        /// One round, so loom explores the spinning path (the `woken` bit)
        /// without blowing up the state space.
        fn can_spin(iter: u32) -> bool {
            iter < 1
        }

        fn spin() {
            loom::thread::yield_now();
        }

        fn nanotime() -> i64 {
            // Not a loom atomic on purpose: it only has to grow, and loom
            // need not explore its interleavings.
            static NOW: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(1);
            if STARVE {
                NOW.fetch_add(2_000_000, Ordering::Relaxed)
            } else {
                NOW.load(Ordering::Relaxed)
            }
        }
    }
}
