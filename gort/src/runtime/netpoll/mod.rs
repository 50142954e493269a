//! The network poller: goroutines blocked on a socket park, and whichever M
//! next has nothing to do asks the OS which sockets became ready (Go's
//! `netpoll.go`, on `mio`: epoll on Linux, IOCP/AFD on Windows, kqueue on
//! the BSDs).
//!
//! Each registered socket has a `PollDesc` with one wait slot per direction
//! (read, write), Go's `rg`/`wg` (`desc.rs`). A goroutine does its syscall
//! and, on `WouldBlock`, waits on the slot; the poller's readiness event for
//! the socket ends the wait. Readiness is edge-triggered: a goroutine keeps
//! retrying its syscall until `WouldBlock` before it waits again. An event
//! that comes while nobody waits marks the slot ready, and the next wait
//! returns at once (no wake-up is lost between the `WouldBlock` and the
//! wait).
//!
//! Who polls:
//! - `findrunnable`, without blocking, when its P has no work and goroutines
//!   wait on sockets (`poll_nonblocking`), before stealing;
//! - the one idle M that also sleeps until the next timer (`timers::try_sleep`,
//!   the "sleeper"): while goroutines wait on sockets it blocks in the poller
//!   instead of on a futex, with the earliest timer as its timeout, and is
//!   woken through a `mio::Waker` when a new timer comes earlier
//!   (`wake_blocked`);
//! - sysmon, if nobody has polled for 10 ms (Ps busy with other work).
//!
//! Goroutines readied by a poll go to the back of the polling M's run queue
//! (the sleeper takes a P back first; sysmon has none: the global queue),
//! not `runnext`, and one idle P is started for them if there is more than
//! the polling M runs itself (Go's `injectglist`).
//!
//! One `mio::Poll` serves the process, behind a mutex: a second M that wants
//! to poll while one already does skips (the one polling will see the
//! events). The poller starts with the first registration.

mod desc;

pub(crate) use desc::{Interest, PollDesc, Wait};

use super::os;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::io;
use std::sync::{Mutex, OnceLock};

/// The token of the poller's own waker.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// How long sysmon lets pass without a poll before it polls.
pub(crate) const SYSMON_POLL_NS: i64 = 10_000_000;

struct Poller {
    /// The poll instance and its event buffer; held by the M polling.
    poll: Mutex<(mio::Poll, mio::Events)>,
    registry: mio::Registry,
    waker: mio::Waker,
}

static POLLER: OnceLock<Poller> = OnceLock::new();

/// Goroutines waiting on a `PollDesc` slot: a poll is worth making only then.
static WAITERS: AtomicUsize = AtomicUsize::new(0);
/// An M is blocked in the poller (the sleeper): it sees every event, and a
/// new earlier timer must wake it.
static BLOCKED: AtomicBool = AtomicBool::new(false);
/// `nanotime` of the last poll's end (sysmon's clock for its 10 ms rule).
static LAST_POLL: AtomicI64 = AtomicI64::new(0);

fn poller() -> io::Result<&'static Poller> {
    if let Some(p) = POLLER.get() {
        return Ok(p);
    }
    let poll = mio::Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
    let p = Poller {
        poll: Mutex::new((poll, mio::Events::with_capacity(256))),
        registry,
        waker,
    };
    // Two first registrations at once: one poller wins, the other is dropped.
    let _ = POLLER.set(p);
    Ok(POLLER.get().expect("set above"))
}

/// Registers `source` for read and write readiness (edge-triggered) and
/// returns its descriptor; `deregister` undoes it.
pub(crate) fn register(source: &mut impl mio::event::Source) -> io::Result<&'static PollDesc> {
    let p = poller()?;
    let pd = PollDesc::alloc();
    let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
    if let Err(e) = p.registry.register(source, pd.token(), interest) {
        PollDesc::free(pd);
        return Err(e);
    }
    Ok(pd)
}

/// Stops the poller reporting on `source` and frees its descriptor. Nobody
/// waits on it any more (the owner is being dropped); a late event for it
/// is recognised as stale by its token.
pub(crate) fn deregister(source: &mut impl mio::event::Source, pd: &'static PollDesc) {
    if let Some(p) = POLLER.get() {
        let _ = p.registry.deregister(source);
    }
    PollDesc::free(pd);
}

/// Are goroutines waiting on sockets (so that a poll could ready some)?
#[inline]
pub(crate) fn has_waiters() -> bool {
    WAITERS.load(Ordering::SeqCst) != 0
}

/// Is an M blocked in the poller?
#[inline]
pub(crate) fn blocked() -> bool {
    BLOCKED.load(Ordering::SeqCst)
}

/// `nanotime` of the last poll, for sysmon.
pub(crate) fn last_poll() -> i64 {
    LAST_POLL.load(Ordering::Relaxed)
}

/// Polls without blocking, if nobody else is polling; readies the
/// goroutines whose sockets became ready. Returns how many.
///
/// `runs_one`: the caller has a P and will run one of them itself
/// (`findrunnable`), so an idle P is started only if there are more; sysmon,
/// which has none, passes false.
pub(crate) fn poll_nonblocking(runs_one: bool) -> usize {
    let Some(p) = POLLER.get() else { return 0 };
    let Ok(mut g) = p.poll.try_lock() else {
        return 0;
    };
    let (poll, events) = &mut *g;
    poll_only(poll, events, Some(std::time::Duration::ZERO));
    dispatch(events, runs_one)
}

/// The sleeper's wait: blocks in the poller until a socket is ready, a
/// `wake_blocked`, or `timeout_ns` (none: no timer pending) passes. Returns
/// `None` if the poller was never started (the caller sleeps on its futex),
/// else the events, not yet acted on: the sleeper has no P while it waits,
/// and takes one back first, so that the goroutines go onto its own run
/// queue (`Polled::dispatch`). Readied without a P they would go to the
/// global queue with another M woken for the idle P, only for the sleeper
/// to find no P and go back to sleep: two thread wake-ups where one does.
///
/// `cut`/`seq`: the sleeper's futex word and the value it read before
/// deciding to sleep. A waker bumps the word and then, if `blocked()`, wakes
/// the poller; the word is looked at again once `BLOCKED` is set, so one of
/// the two sees the other.
pub(crate) fn poll_blocking(timeout_ns: Option<i64>, cut: &AtomicU32, seq: u32) -> Option<Polled> {
    let p = POLLER.get()?;
    // A poll without blocking may hold it for a moment.
    let mut g = p.poll.lock().unwrap_or_else(|e| e.into_inner());
    BLOCKED.store(true, Ordering::SeqCst);
    if cut.load(Ordering::SeqCst) == seq {
        let (poll, events) = &mut *g;
        let timeout = timeout_ns.map(|ns| std::time::Duration::from_nanos(ns.max(0) as u64));
        poll_only(poll, events, timeout);
    } else {
        g.1.clear();
    }
    BLOCKED.store(false, Ordering::SeqCst);
    Some(Polled {
        guard: Some(g),
        runs_one: false,
    })
}

/// The events of a `poll_blocking`, the poller still held until they are
/// dispatched; dropping it dispatches them too, so none is lost.
pub(crate) struct Polled {
    guard: Option<std::sync::MutexGuard<'static, (mio::Poll, mio::Events)>>,
    runs_one: bool,
}

impl Polled {
    /// Readies the goroutines, onto the current M's P if it has one (then
    /// `runs_one`: it runs one of them itself), else the global queue.
    pub(crate) fn dispatch(mut self, runs_one: bool) {
        self.runs_one = runs_one;
    }
}

impl Drop for Polled {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            dispatch(&g.1, self.runs_one);
        }
    }
}

/// Ends a `poll_blocking` in progress (or the next one, if it has not begun:
/// the waker's event stays pending until polled).
pub(crate) fn wake_blocked() {
    if let Some(p) = POLLER.get() {
        let _ = p.waker.wake();
    }
}

/// Waits for events (at most `timeout`) into `events`.
fn poll_only(poll: &mut mio::Poll, events: &mut mio::Events, timeout: Option<std::time::Duration>) {
    // Interrupted by a signal (preemption's SIGURG reaches idle Ms too): a
    // poll that returns early is harmless, its caller looks again.
    if poll.poll(events, timeout).is_err() {
        events.clear();
    }
    LAST_POLL.store(os::nanotime(), Ordering::Relaxed);
}

/// Readies the goroutines waiting for `events` and returns how many. Like
/// Go's `injectglist`, they go to the back of the run queue, not `runnext`
/// (`PollDesc::ready_by_token`), and an idle P is started once for all of
/// them, unless the caller runs the only one itself (`runs_one`).
fn dispatch(events: &mio::Events, runs_one: bool) -> usize {
    let mut n = 0;
    for ev in events.iter() {
        if ev.token() == WAKER_TOKEN {
            continue;
        }
        let read = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let write = ev.is_writable() || ev.is_write_closed() || ev.is_error();
        let closed = ev.is_read_closed() || ev.is_error();
        n += PollDesc::ready_by_token(ev.token(), read, write, closed);
    }
    if n > usize::from(runs_one) {
        super::sched::wakep();
    }
    n
}

/// A goroutine starts (`+1`) or ends (`-1`) waiting on a slot.
fn count_waiter(delta: isize) {
    if delta > 0 {
        // Before the park: an M that then goes idle sees it and polls, or
        // makes the sleeper poll (`timers::try_sleep`).
        WAITERS.fetch_add(1, Ordering::SeqCst);
    } else {
        WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::wait_thread;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::wait_thread;
