//! sysmon: the monitor thread (Go's `sysmon`). It runs without a P and watches
//! the Ps from outside.
//!
//! It **scavenges**: every `SCAVENGE_PERIOD_NS` it gives the memory of surplus
//! pooled stacks back to the kernel (`gfree::scavenge`), off the spawn/exit path.
//!
//! And it **retakes** Ps whose M has been inside `blocking` for
//! more than one sysmon tick, and hand them to another M (see `sched/syscall.rs`).
//! A P seen in the same syscall on two consecutive ticks (its `syscalltick` has not
//! moved) is retaken, unless it has no work and other Ms/Ps are free to take new
//! work anyway, in which case it is left alone for up to 10 ms (Go's rule: taking
//! it would only cost the returning M a trip through the idle list).
//!
//! And it **preempts** goroutines that keep a P too long while other work waits
//! (`preempt::sysmon_check`).
//!
//! Tick: 20 µs while it is finding work to do; after 50 idle ticks (1 ms) the
//! sleep doubles up to half a time slice (1 ms) while any P runs. A goroutine entering `blocking` while sysmon is in a
//! long sleep wakes it, so a hand-off always happens within ~20–40 µs. When every P
//! is idle sysmon sleeps until a P starts running again (after a last scavenge).

use super::p::PStatus;
use super::sched::{self, SCHED, gfree, gomaxprocs, handoffp, procs};
use super::{os, preempt};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Go's values: start at 20 µs, double after 50 idle ticks, cap at 10 ms.
const MIN_DELAY_US: u32 = 20;
const MAX_DELAY_US: u32 = 10_000;
const IDLE_TICKS_BEFORE_BACKOFF: u32 = 50;
/// A P with nothing queued may stay in a syscall this long before being retaken.
const SYSCALL_GRACE_NS: i64 = 10_000_000;

/// Futex word: bumped to wake sysmon early.
static WAKE: AtomicU32 = AtomicU32::new(0);
/// Current sleep length, so wakers know whether waking is worth a syscall.
static DELAY_US: AtomicU32 = AtomicU32::new(MIN_DELAY_US);
/// Set while sysmon sleeps with no deadline because every P is idle.
static PARKED: AtomicBool = AtomicBool::new(false);

pub(crate) fn start() {
    let r = std::thread::Builder::new()
        .name("gort-sysmon".into())
        .spawn(sysmon);
    if let Err(e) = r {
        super::fatal(&format!("cannot start sysmon thread: {e}"));
    }
}

fn kick() {
    WAKE.fetch_add(1, Ordering::SeqCst);
    os::futex_wake(&WAKE, 1);
}

/// A goroutine entered `blocking`: make sure sysmon looks within a tick.
pub(crate) fn wake_for_syscall() {
    if PARKED.load(Ordering::SeqCst) || DELAY_US.load(Ordering::Relaxed) > MIN_DELAY_US {
        kick();
    }
}

/// A P is about to run: end sysmon's deep sleep.
pub(crate) fn wake_if_idle() {
    if PARKED.load(Ordering::SeqCst) {
        kick();
    }
}

fn all_idle() -> bool {
    SCHED.npidle.load(Ordering::SeqCst) as usize >= gomaxprocs()
}

fn sysmon() {
    // Its sleeps are the preemption clock: no timer slack.
    os::set_timer_slack_ns(1_000);
    let mut idle = 0u32;
    let mut delay = MIN_DELAY_US;
    let mut last_scavenge = os::nanotime();
    loop {
        if idle == 0 {
            delay = MIN_DELAY_US;
        } else if idle > IDLE_TICKS_BEFORE_BACKOFF {
            delay = (delay * 2).min(MAX_DELAY_US);
        }
        if all_idle() {
            PARKED.store(true, Ordering::SeqCst);
            let seq = WAKE.load(Ordering::SeqCst);
            if all_idle() {
                // Sleep for good, unless pooled memory still waits to be released.
                let timeout = gfree::scavenge_pending().then_some(gfree::SCAVENGE_PERIOD_NS);
                os::futex_wait(&WAKE, seq, timeout);
                let now = os::nanotime();
                if now - last_scavenge >= gfree::SCAVENGE_PERIOD_NS {
                    gfree::scavenge();
                    last_scavenge = now;
                }
            }
            PARKED.store(false, Ordering::SeqCst);
            idle = 0;
            continue;
        }
        // Some P is running: look at least twice per time slice (preemption).
        delay = delay.min((preempt::time_slice_ns() / 2_000).max(1) as u32);
        DELAY_US.store(delay, Ordering::Relaxed);
        let seq = WAKE.load(Ordering::SeqCst);
        os::futex_wait(&WAKE, seq, Some(delay as i64 * 1000));
        let woken = WAKE.load(Ordering::SeqCst) != seq;
        DELAY_US.store(MIN_DELAY_US, Ordering::Relaxed);
        let now = os::nanotime();
        let preempted = preempt::sysmon_check(now);
        if retake(now) > 0 || woken || preempted {
            idle = 0;
        } else {
            idle += 1;
        }
        if now - last_scavenge >= gfree::SCAVENGE_PERIOD_NS {
            gfree::scavenge();
            last_scavenge = now;
        }
    }
}

/// Hands off Ps stuck in `blocking`; returns how many were taken.
fn retake(now: i64) -> usize {
    let mut n = 0;
    for pp in sched::allp() {
        // SAFETY: Ps are never freed; `sysmon` fields belong to this thread.
        unsafe {
            if (*pp).status() != PStatus::Syscall {
                continue;
            }
            let pd = &mut *(*pp).sysmon.get();
            let t = (*pp).syscalltick.load(Ordering::Relaxed);
            if pd.syscalltick != t {
                pd.syscalltick = t;
                pd.syscallwhen = now;
                continue;
            }
            if (*pp).runq.is_empty()
                && SCHED.nmspinning.load(Ordering::SeqCst) + SCHED.npidle.load(Ordering::SeqCst) > 0
                && pd.syscallwhen + SYSCALL_GRACE_NS > now
            {
                continue;
            }
            if (*pp).cas_status(PStatus::Syscall, PStatus::Idle) {
                n += 1;
                (*pp).syscalltick.fetch_add(1, Ordering::Relaxed);
                if (*pp).id >= gomaxprocs() {
                    SCHED.lock.lock();
                    procs::retire_locked(pp);
                    SCHED.lock.unlock();
                } else {
                    handoffp(pp);
                }
            }
        }
    }
    n
}
