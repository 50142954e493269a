//! Timers and tickers that deliver on channels (Go's `time` package).
//!
//! A `Timer` or `Ticker` is a runtime timer (`runtime::timers`, a `Func` timer
//! in some P's heap) plus a channel with room for one value. When it fires,
//! the runtime, on a scheduler thread, sends the current instant without
//! waiting: a ticker whose receiver is slow drops ticks rather than piling
//! them up (Go's rule).
//!
//! `stop` and `reset` follow Go 1.23: once `stop` has returned, no value from
//! before the call can be received. They take the timer's own lock, delete it
//! from its heap, and empty the channel. A firing that the scheduler had
//! already taken off the heap checks, under the same lock, that the timer is
//! still armed and not re-queued (`fire`), so it cannot slip a stale value in
//! after `stop` or `reset`.
//!
//! Lock order: a timer's lock → its channel's lock → a P's timer heap.

use crate::chan::{Receiver, Sender, chan};
use crate::runtime::lock::Lock;
use crate::runtime::os;
use crate::runtime::timers::{self, RTimer, TimerFn};
use core::cell::UnsafeCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::control::sleep;

/// Returns a channel that receives the time once, after `d` (Go's `time.After`).
/// The timer fires even if the receiver is dropped first; it then only holds
/// its memory until `d` has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// gort::run(|| {
///     let start = Instant::now();
///     let at = gort::time::after(Duration::from_millis(2)).recv().unwrap();
///     assert!(at >= start + Duration::from_millis(2));
/// });
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let t = Timer::new(d);
    t.rx.clone()
}

/// Returns a channel that receives the time every `d` (Go's `time.Tick`). The
/// ticker stops at the first tick after every receiver is gone; `Ticker` can
/// be stopped explicitly.
///
/// # Panics
/// If `d` is zero.
pub fn tick(d: Duration) -> Receiver<Instant> {
    let t = Ticker::new(d);
    t.rx.clone()
}

struct State {
    /// Armed: a firing now would deliver.
    pending: bool,
    /// Ticker period in ns, 0 for a one-shot timer.
    period: i64,
    /// When the armed timer is due.
    when: i64,
}

struct Shared {
    rt: RTimer,
    lock: Lock,
    state: UnsafeCell<State>,
    tx: Sender<Instant>,
}

// SAFETY: `state` is only touched with `lock` held; `rt` is the runtime's.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Shared {
    /// A new shared state (not armed). `Arc::new_cyclic` lets the runtime
    /// timer carry the address of its owner.
    fn new(period: i64) -> (Arc<Shared>, Receiver<Instant>) {
        let (tx, rx) = chan(1);
        let sh = Arc::new_cyclic(|w| Shared {
            rt: RTimer::new(TimerFn::Func(fire), w.as_ptr() as usize),
            lock: Lock::new(),
            state: UnsafeCell::new(State {
                pending: false,
                period,
                when: 0,
            }),
            tx,
        });
        (sh, rx)
    }

    /// Queues the runtime timer at `when`, giving the heap one reference.
    ///
    /// # Safety
    /// `self.lock` is held and the runtime timer is not queued.
    unsafe fn arm(self: &Arc<Shared>, when: i64) {
        // SAFETY: lock held.
        let st = unsafe { &mut *self.state.get() };
        st.pending = true;
        st.when = when;
        // The heap's reference, given back by `fire` or by `disarm`.
        let _ = Arc::into_raw(self.clone());
        // SAFETY: not queued (contract); `Shared` lives while the heap holds
        // its reference.
        unsafe { timers::add(&self.rt, when) };
    }

    /// Stops the timer and empties the channel. True if that prevented a
    /// delivery (the timer was armed, or its value had not been received).
    ///
    /// # Safety
    /// `self.lock` is held.
    unsafe fn disarm(&self) -> bool {
        // SAFETY: lock held.
        let st = unsafe { &mut *self.state.get() };
        let mut stopped = st.pending;
        st.pending = false;
        if timers::delete(&self.rt) {
            // SAFETY: the heap's reference, taken by `arm`.
            unsafe { Arc::decrement_strong_count(self as *const Shared) };
        }
        while self.channel_drain() {
            stopped = true;
        }
        stopped
    }

    /// Takes a buffered value out of the channel, if any.
    fn channel_drain(&self) -> bool {
        self.tx.drain_one()
    }
}

/// The runtime timer fired (on a scheduler thread, no heap lock held):
/// deliver, unless `stop` or `reset` got there first.
unsafe fn fire(arg: usize, now: i64) {
    // SAFETY: the heap's reference from `arm`, now ours.
    let sh = unsafe { Arc::from_raw(arg as *const Shared) };
    sh.lock.lock();
    // SAFETY: lock held.
    let st = unsafe { &mut *sh.state.get() };
    // Stale: stopped, or re-armed (queued again) since this firing was taken
    // off the heap.
    let current = st.pending && !sh.rt_queued();
    if current {
        if st.period == 0 || sh.tx.receivers_gone() {
            // One-shot, or a ticker nobody can hear any more (`tick`'s
            // receiver was dropped): done.
            st.pending = false;
        } else {
            // The next tick after `now` on the original grid: late ticks are
            // dropped, not bunched.
            let mut next = st.when + st.period;
            if next <= now {
                next += (now - next) / st.period * st.period + st.period;
            }
            // SAFETY: lock held, and the timer is not queued (checked above).
            unsafe { sh.arm(next) };
        }
        // Full: the receiver has not taken the last value; drop this one.
        let _ = sh.tx.try_send(Instant::now());
    }
    sh.lock.unlock();
}

impl Shared {
    fn rt_queued(&self) -> bool {
        timers::is_queued(&self.rt)
    }
}

/// A single event after a duration, delivered on a channel (Go's `time.Timer`).
///
/// ```
/// use std::time::Duration;
/// gort::run(|| {
///     let t = gort::time::Timer::new(Duration::from_secs(60));
///     assert!(t.stop()); // it was pending: it will never fire
///     assert!(t.channel().recv_timeout(Duration::from_millis(5)).is_err());
/// });
/// ```
pub struct Timer {
    sh: Arc<Shared>,
    rx: Receiver<Instant>,
}

impl Timer {
    /// A timer that sends the time on its channel once, after `d`.
    pub fn new(d: Duration) -> Timer {
        let (sh, rx) = Shared::new(0);
        sh.lock.lock();
        // SAFETY: lock held; new, so not queued.
        unsafe { sh.arm(os::nanotime().saturating_add(dur_ns(d))) };
        sh.lock.unlock();
        Timer { sh, rx }
    }

    /// The channel the time is sent on.
    pub fn channel(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the timer. Returns true if this call stopped it before its value
    /// was received (it was pending, or had fired but nobody had received the
    /// value, which is discarded); false if it had already been stopped or its
    /// value received. Afterwards nothing from before the call is received.
    pub fn stop(&self) -> bool {
        self.sh.lock.lock();
        // SAFETY: lock held.
        let stopped = unsafe { self.sh.disarm() };
        self.sh.lock.unlock();
        stopped
    }

    /// Re-arms the timer to fire after `d`, discarding any pending or
    /// unreceived value. Returns what `stop` would have.
    pub fn reset(&self, d: Duration) -> bool {
        self.sh.lock.lock();
        // SAFETY: lock held; `disarm` leaves it unqueued.
        let stopped = unsafe {
            let s = self.sh.disarm();
            self.sh.arm(os::nanotime().saturating_add(dur_ns(d)));
            s
        };
        self.sh.lock.unlock();
        stopped
    }
}

impl Drop for Timer {
    /// A timer whose channel nobody else holds can never be received from:
    /// stop it so that it does not hold memory until it fires. (If the
    /// receiver was cloned, it still fires.)
    fn drop(&mut self) {
        if self.rx.handles() <= 2 {
            self.stop();
        }
    }
}

/// A channel that receives the time every period (Go's `time.Ticker`). A slow
/// receiver misses ticks: the channel holds at most one.
pub struct Ticker {
    sh: Arc<Shared>,
    rx: Receiver<Instant>,
}

impl Ticker {
    /// A ticker with period `d`; the first tick comes after `d`.
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "non-positive interval for Ticker::new");
        let (sh, rx) = Shared::new(dur_ns(d));
        sh.lock.lock();
        // SAFETY: lock held; new, so not queued.
        unsafe { sh.arm(os::nanotime().saturating_add(dur_ns(d))) };
        sh.lock.unlock();
        Ticker { sh, rx }
    }

    /// The channel ticks are sent on.
    pub fn channel(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker: no more ticks, and an unreceived one is discarded.
    pub fn stop(&self) {
        self.sh.lock.lock();
        // SAFETY: lock held.
        unsafe { self.sh.disarm() };
        self.sh.lock.unlock();
    }

    /// Stops the ticker and restarts it with period `d`: the next tick comes
    /// after `d`.
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "non-positive interval for Ticker::reset");
        self.sh.lock.lock();
        // SAFETY: lock held; `disarm` leaves it unqueued.
        unsafe {
            self.sh.disarm();
            (*self.sh.state.get()).period = dur_ns(d);
            self.sh.arm(os::nanotime().saturating_add(dur_ns(d)));
        }
        self.sh.lock.unlock();
    }
}

impl Drop for Ticker {
    /// As for `Timer`: stopped unless its channel was cloned (`tick`).
    fn drop(&mut self) {
        if self.rx.handles() <= 2 {
            self.stop();
        }
    }
}

impl core::fmt::Debug for Timer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}

impl core::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}
