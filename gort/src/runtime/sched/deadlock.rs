//! Deadlock detection (Go's `checkdead`): when every goroutine is parked on
//! a gort primitive and nothing can ever wake one, the program ends with
//! `fatal error: all goroutines are asleep - deadlock!`, the goroutine dump
//! on stderr, and exit status 2, as Go's does.
//!
//! "Nothing can wake one" is decided from what the runtime can see, and
//! leans to silence: a false report would kill a working program, a missed
//! one only leaves a hung program hung. It holds when, at one moment:
//!
//! - every M thread of the runtime is idle (in `stopm`, or in `stoplockedm`
//!   waiting for its locked goroutine): none runs a goroutine, none is in a
//!   `blocking` call, none sleeps in the poller or until a timer;
//! - no goroutine is runnable, no timer is pending on any P, no goroutine
//!   waits on a socket;
//! - every other thread of the process is asleep in a gort wait without a
//!   deadline (a plain thread in `join`, a channel operation, `sync`; the
//!   caller of `run`). They are counted as they go to sleep, and uncounted by
//!   whoever wakes them, before the wake-up. The threads of the process are
//!   then counted from the OS (`/proc/self/task`, a ToolHelp snapshot): the
//!   total must be exactly the runtime's own threads plus the sleeping ones.
//!   So any thread the runtime does not know — a `std::thread` that will send
//!   on a channel later, a foreign thread that may call a callback, a thread
//!   blocked in `std` or in C — rules a report out, whatever it holds.
//!
//! The check runs when an M goes idle and when a plain thread goes to sleep
//! in a gort wait: the last one to fall asleep sees the whole picture. The
//! thread count is taken outside the scheduler lock, so `GEN` (bumped by every
//! wake-up of an idle M and every count change) must be unchanged across it:
//! if nothing woke meanwhile, the snapshot still holds, and a thread that
//! existed then is in the count. `GORT_DEADLOCK=0` turns detection off.

use super::{SCHED, allp};
use crate::runtime::m::{NTHREADS, getm};
use crate::runtime::{netpoll, os, timers};
use core::sync::atomic::{AtomicIsize, AtomicU8, AtomicU64, Ordering};

/// Plain threads asleep in a gort wait without a deadline, not yet woken.
static THREADS_ASLEEP: AtomicIsize = AtomicIsize::new(0);
/// Ms asleep in `stoplockedm`, not yet woken.
static LOCKED_MS_IDLE: AtomicIsize = AtomicIsize::new(0);
/// Bumped by every change that could end a deadlock (see the module doc).
static GEN: AtomicU64 = AtomicU64::new(0);

/// 0: not read yet; 1: on; 2: off (`GORT_DEADLOCK=0`).
static MODE: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var_os("GORT_DEADLOCK").is_none_or(|v| v != "0");
            MODE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// An idle M was just taken off the idle list to run (`mget`): under
/// `SCHED.lock`.
#[inline]
pub(crate) fn m_woken() {
    GEN.fetch_add(1, Ordering::SeqCst);
}

/// The current plain thread (no M) is about to sleep in a gort wait without
/// a deadline, on an event `wake` will end: counts it before the wait can
/// be seen by a waker (a waker may uncount it at once). Returns whether it
/// counted (a goroutine's thread inside `blocking` has an M: not counted).
pub(crate) fn thread_will_sleep() -> bool {
    if !getm().is_null() {
        return false;
    }
    THREADS_ASLEEP.fetch_add(1, Ordering::SeqCst);
    GEN.fetch_add(1, Ordering::SeqCst);
    true
}

/// A thread counted by `thread_will_sleep` is being woken (by its waker,
/// before the wake-up), or did not sleep after all (by itself).
pub(crate) fn thread_woken() {
    THREADS_ASLEEP.fetch_sub(1, Ordering::SeqCst);
    GEN.fetch_add(1, Ordering::SeqCst);
}

/// The counted thread is now visible to its wakers and goes to sleep: maybe
/// it is the last one awake.
pub(crate) fn thread_sleeps() {
    if !enabled() {
        return;
    }
    SCHED.lock.lock();
    // SAFETY: lock held.
    let suspect = unsafe { suspect_locked() };
    SCHED.lock.unlock();
    if let Some(s) = suspect {
        confirm(s);
    }
}

/// The current M goes to sleep in `stoplockedm`.
pub(crate) fn locked_m_sleeps() {
    LOCKED_MS_IDLE.fetch_add(1, Ordering::SeqCst);
    GEN.fetch_add(1, Ordering::SeqCst);
    thread_sleeps();
}

/// A locked M is being woken (by its waker, before the wake-up).
pub(crate) fn locked_m_woken() {
    LOCKED_MS_IDLE.fetch_sub(1, Ordering::SeqCst);
    GEN.fetch_add(1, Ordering::SeqCst);
}

/// What `suspect_locked` saw: the generation, and the threads there must be.
pub(crate) struct Suspect {
    gen_: u64,
    threads: usize,
}

/// Everything the runtime itself knows says "deadlock": returns what the OS
/// must confirm. The M calling it from `stopm` is already on the idle list.
///
/// # Safety
/// `SCHED.lock` held.
pub(crate) unsafe fn suspect_locked() -> Option<Suspect> {
    if !enabled() {
        return None;
    }
    let gen_ = GEN.load(Ordering::SeqCst);
    // SAFETY: per the contract.
    let nmidle = unsafe { SCHED.locked().nmidle } as isize;
    let ms = NTHREADS.load(Ordering::SeqCst) as isize;
    if nmidle + LOCKED_MS_IDLE.load(Ordering::SeqCst) != ms {
        return None;
    }
    if SCHED.runqsize.load(Ordering::SeqCst) != 0 || netpoll::has_waiters() {
        return None;
    }
    // Every P ever made, retired ones included.
    if timers::next_timer_all() != 0 {
        return None;
    }
    for pp in allp() {
        // SAFETY: Ps are never freed.
        if unsafe { !(*pp).runq.is_empty() } {
            return None;
        }
    }
    let asleep = THREADS_ASLEEP.load(Ordering::SeqCst);
    if asleep <= 0 {
        // Some thread is awake (there is always one that called into gort).
        return None;
    }
    // The Ms, sysmon, and the sleeping plain threads.
    Some(Suspect {
        gen_,
        threads: ms as usize + 1 + asleep as usize,
    })
}

/// Counts the process's threads; if nothing woke since the suspicion and
/// every thread is accounted for, reports the deadlock and exits.
pub(crate) fn confirm(s: Suspect) {
    let Some(n) = os::thread_count() else { return };
    if n != s.threads || GEN.load(Ordering::SeqCst) != s.gen_ {
        return;
    }
    os::write_stderr(b"fatal error: all goroutines are asleep - deadlock!\n\n");
    os::write_stderr(crate::debug::dump().as_bytes());
    // Go's exit status for a fatal error.
    std::process::exit(2);
}
