//! The chaos build (`RUSTFLAGS="--cfg gort_chaos"`, tests only): random
//! delays at the scheduler's race windows — a goroutine being readied, a
//! park being committed, a steal about to claim, an M about to sleep, a
//! channel or sync waiter being woken — and preemption storms (sysmon
//! preempts running goroutines at random, time slice or not). Interleavings
//! that take a rare timing in a normal build happen every few milliseconds,
//! so `tests/soak.rs` under it shakes out lost wake-ups, double readies and
//! accounting drift that a plain stress test almost never hits.
//!
//! In every other build each point is an empty inline function.

/// Where a delay may be injected (for the odds; the names document the
/// windows).
#[derive(Clone, Copy)]
#[cfg_attr(not(gort_chaos), allow(dead_code))]
pub(crate) enum Point {
    /// `goready`: between a waker's claim and the goroutine's enqueue.
    Ready,
    /// `gopark`'s commit on g0: the goroutine parked, its waiters not yet
    /// able to see it.
    Park,
    /// A thief read a victim's queue and is about to claim the slots.
    Steal,
    /// An M found nothing and is about to sleep.
    Idle,
    /// A waker is about to hand over to a parked waiter (`Parker::wake`).
    Wake,
}

#[cfg(gort_chaos)]
mod imp {
    use super::Point;
    use core::cell::Cell;
    use core::sync::atomic::{AtomicU64, Ordering};

    static SEED: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);

    std::thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }

    /// A per-thread xorshift; seeded from a global counter on first use.
    pub(crate) fn rand() -> u64 {
        STATE.with(|s| {
            let mut x = s.get();
            if x == 0 {
                x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
    }

    /// One in `odds(point)` passes through `point` is delayed: a short spin
    /// (most), or giving the CPU away (the window then lasts a whole OS
    /// time slice of another thread).
    pub(crate) fn point(p: Point) {
        let odds = match p {
            Point::Ready | Point::Wake => 64,
            Point::Park => 64,
            Point::Steal => 16,
            Point::Idle => 8,
        };
        let r = rand();
        if !r.is_multiple_of(odds) {
            return;
        }
        if (r >> 32).is_multiple_of(8) {
            std::thread::yield_now();
        } else {
            for _ in 0..((r >> 40) % 2000) {
                core::hint::spin_loop();
            }
        }
    }

    /// Sysmon: preempt this running goroutine now, whatever its time slice
    /// and whether or not anything waits (one look in eight).
    pub(crate) fn storm() -> bool {
        rand().is_multiple_of(8)
    }
}

#[cfg(gort_chaos)]
pub(crate) use imp::{point, storm};

#[cfg(not(gort_chaos))]
#[inline(always)]
pub(crate) fn point(_: Point) {}

#[cfg(not(gort_chaos))]
#[inline(always)]
pub(crate) fn storm() -> bool {
    false
}
