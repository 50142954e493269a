//! `Lock`: the runtime's own mutex (Go's `lock_futex.go`), and `Note`: a one-shot
//! sleep/wake-up for a single thread (Go's `note`).
//!
//! Why not `std::sync::Mutex`: `gopark` must release the wait-queue lock *after* the
//! goroutine has been switched out, on g0 (see `sched::park`), so the lock is taken
//! and released by explicit calls, not by a guard's scope. Holding a `Lock` also
//! counts in the M's `locks` field, which marks the M as not preemptible (the
//! async-preemption safe-point rule) and is checked before a goroutine parks.
//!
//! Lock states: 0 unlocked, 1 locked, 2 locked with (possible) sleepers. The fast
//! path is one CAS; the slow path spins briefly (runtime critical sections are a
//! few hundred instructions) and then sleeps on the futex.
//!
//! A `Lock` is never held across a goroutine switch except through `gopark`'s
//! unlock hand-off, so it is always released by the M that took it.

use super::m;
use super::os;
use core::sync::atomic::{AtomicU32, Ordering};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const SLEEPING: u32 = 2;

/// Spinning before sleeping, as Go's `lock_futex.go`: a few rounds of "look,
/// then pause `SPIN_PAUSES` times", one `sched_yield`, then the futex. Looking
/// only every few dozen pauses keeps spinners from pulling the lock's cache
/// line away from the holder on every iteration (with one look per pause, two
/// threads on one buffered channel spent a third of their time in this loop).
/// 120 pauses a round, not Go's 30: each look costs the holder a cache-line
/// transfer, which on this kind of machine (2 vCPUs whose placement varies)
/// ranges from cheap to very dear. `bench/ chanthroughput` (2 cores):
/// 16.7 ns/msg against 18.7 with 30 on a good placement, 30 against 43 on a
/// bad one (Go 32 and 50); pingpong, mutex, timers and spawn unchanged.
/// A PAUSE is ~25 ns here, so a round is ~3 µs.
const SPIN_ROUNDS: u32 = 4;
const SPIN_PAUSES: u32 = 120;

pub(crate) struct Lock {
    state: AtomicU32,
}

impl Lock {
    pub(crate) const fn new() -> Lock {
        Lock {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        m::locks_inc();
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[inline]
    fn try_take(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UNLOCKED
            && self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    #[cold]
    fn lock_slow(&self) {
        for _ in 0..SPIN_ROUNDS {
            if self.try_take() {
                return;
            }
            for _ in 0..SPIN_PAUSES {
                core::hint::spin_loop();
            }
        }
        if self.try_take() {
            return;
        }
        std::thread::yield_now();
        if self.try_take() {
            return;
        }
        // Announce a sleeper; whoever unlocks from state 2 wakes one.
        while self.state.swap(SLEEPING, Ordering::Acquire) != UNLOCKED {
            os::futex_wait(&self.state, SLEEPING, None);
        }
    }

    #[inline]
    pub(crate) fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == SLEEPING {
            os::futex_wake(&self.state, 1);
        }
        m::locks_dec();
    }
}

/// A one-shot wake-up for one sleeper: `sleep` returns once `wakeup` has been called
/// since the last `clear`. Exactly one `wakeup` per `clear` (a second is a runtime bug).
pub(crate) struct Note {
    key: AtomicU32,
}

impl Note {
    pub(crate) const fn new() -> Note {
        Note {
            key: AtomicU32::new(0),
        }
    }

    pub(crate) fn clear(&self) {
        self.key.store(0, Ordering::Relaxed);
    }

    pub(crate) fn wakeup(&self) {
        if self.key.swap(1, Ordering::Release) != 0 {
            super::fatal("notewakeup: double wakeup");
        }
        os::futex_wake(&self.key, 1);
    }

    pub(crate) fn sleep(&self) {
        while self.key.load(Ordering::Acquire) == 0 {
            os::futex_wait(&self.key, 0, None);
        }
    }
}
