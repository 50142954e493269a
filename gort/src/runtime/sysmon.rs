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
//! With `GORT_SCHEDTRACE=<ms>` it prints a one-line scheduler summary to stderr
//! every `<ms>` milliseconds (and then never sleeps for good).
//!
//! On SIGQUIT (unless `GORT_SIGQUIT=0`) it prints every goroutine
//! (`debug::dump`) and exits with status 2, like Go.
//!
//! And it **preempts** goroutines that keep a P too long while other work waits
//! (`preempt::sysmon_check`).
//!
//! Tick: 20 µs while it is finding work to do; after 50 idle ticks (1 ms) the
//! sleep doubles up to half a time slice (1 ms) while any P runs. A goroutine entering `blocking` while sysmon is in a
//! long sleep wakes it, so a hand-off always happens within ~20–40 µs. When every P
//! is idle sysmon sleeps until a P starts running again (after a last scavenge).

use super::p::PStatus;
use super::sched::{self, SCHED, gfree, gomaxprocs};
use super::{netpoll, os, preempt};
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

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

/// Set by the SIGQUIT handler: sysmon prints `debug::dump()` and exits.
static QUIT: AtomicBool = AtomicBool::new(false);

/// SIGQUIT arrived (called from the signal handler: async-signal-safe, only an
/// atomic store and a futex wake). The dump itself needs locks and memory, so
/// sysmon, a normal thread, writes it.
pub(crate) fn quit_from_signal() {
    QUIT.store(true, Ordering::SeqCst);
    kick();
}

fn check_quit() {
    if QUIT.load(Ordering::SeqCst) {
        os::write_stderr(b"SIGQUIT: quit\n\n");
        os::write_stderr(crate::debug::dump().as_bytes());
        // Go's status for a SIGQUIT dump.
        std::process::exit(2);
    }
}

fn kick() {
    WAKE.fetch_add(1, Ordering::SeqCst);
    os::futex_wake(&WAKE, 1);
}

/// A goroutine entered `blocking`: make sure sysmon looks within a tick.
pub(crate) fn wake_for_syscall() {
    if PARKED.load(Ordering::SeqCst) || DELAY_US.load(Ordering::Relaxed) > MIN_DELAY_US {
        SYSCALL_KICK.store(true, Ordering::SeqCst);
        kick();
    }
}

/// Set by `wake_for_syscall` before its kick: the wake is for a hand-off,
/// which wants fast ticks.
static SYSCALL_KICK: AtomicBool = AtomicBool::new(false);

/// The tick length once backed off: the maximum, or half a time slice if
/// that is shorter (preemption's pace).
fn backed_off_us() -> u32 {
    let mut d = MAX_DELAY_US;
    if preempt::ENABLED {
        d = d.min((preempt::time_slice_ns() / 2_000).max(1) as u32);
    }
    d
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

/// `GORT_SCHEDTRACE=<ms>`: the period of the one-line scheduler summary on
/// stderr (Go's `GODEBUG=schedtrace`), 0 for none.
fn schedtrace_period_ns() -> i64 {
    match std::env::var("GORT_SCHEDTRACE") {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(ms) if ms >= 0 => ms.saturating_mul(1_000_000),
            _ => {
                os::write_stderr(
                    format!("gort: ignoring invalid GORT_SCHEDTRACE={v:?} (want milliseconds)\n")
                        .as_bytes(),
                );
                0
            }
        },
        Err(_) => 0,
    }
}

/// One schedtrace line: `SCHED <ms since start>ms: procs=.. idleprocs=..
/// threads=.. spinningthreads=.. runqueue=<global> [<local per P>]
/// goroutines=.. preemptions=..`.
fn schedtrace(start: i64, now: i64) {
    let s = crate::debug::stats();
    let mut local = String::new();
    for (i, pp) in sched::allp().enumerate().take(gomaxprocs()) {
        if i > 0 {
            local.push(' ');
        }
        // SAFETY: Ps are never freed; a racy length is fine here.
        local.push_str(&unsafe { (*pp).runq.len() }.to_string());
    }
    let line = format!(
        "SCHED {}ms: procs={} idleprocs={} threads={} spinningthreads={} runqueue={} [{}] goroutines={} preemptions={}\n",
        (now - start) / 1_000_000,
        s.procs,
        SCHED.npidle.load(Ordering::Relaxed),
        s.threads,
        SCHED.nmspinning.load(Ordering::Relaxed),
        SCHED.runqsize.load(Ordering::Relaxed),
        local,
        s.goroutines,
        s.preemptions,
    );
    os::write_stderr(line.as_bytes());
}

/// `nanotime` as of the last time sysmon or a timer check read the clock: at
/// most a sysmon tick old while anything runs. For timestamps that need no
/// precision (when a goroutine parked, for `debug::dump`): a clock read per
/// park cost a quarter of a channel round trip here (clock_gettime is slow
/// under some hypervisors).
static COARSE_NOW: AtomicI64 = AtomicI64::new(0);

/// See `COARSE_NOW`; reads the clock if nothing has yet.
pub(crate) fn coarse_nanotime() -> i64 {
    let t = COARSE_NOW.load(Ordering::Relaxed);
    if t == 0 { os::nanotime() } else { t }
}

/// Records a fresh clock reading for `coarse_nanotime`.
#[inline]
pub(crate) fn note_time(now: i64) {
    COARSE_NOW.store(now, Ordering::Relaxed);
}

fn sysmon() {
    // Its sleeps are the preemption clock: no timer slack.
    os::set_timer_slack_ns(1_000);
    super::preempt::init_late();
    let trace_period = schedtrace_period_ns();
    let start = os::nanotime();
    let mut last_trace = start;
    let mut idle = 0u32;
    let mut delay = MIN_DELAY_US;
    let mut last_scavenge = os::nanotime();
    loop {
        if idle == 0 {
            delay = MIN_DELAY_US;
        } else if idle > IDLE_TICKS_BEFORE_BACKOFF {
            delay = (delay * 2).min(MAX_DELAY_US);
        }
        if trace_period > 0 {
            let now = os::nanotime();
            if now - last_trace >= trace_period {
                schedtrace(start, now);
                last_trace = now;
            }
            delay = delay.min((trace_period / 1000).clamp(1, u32::MAX as i64) as u32);
        }
        // Every P idle: sleep for good, but only once the ticks have backed
        // off (nothing to do for a while). A server whose Ps go idle between
        // requests would otherwise park sysmon after each one, and the next
        // request's P would pay a futex wake for it and its 20 µs ticks
        // would start over: a kv server on two cores lost a fifth of its
        // throughput to that (bench `kv`).
        if all_idle() && trace_period == 0 && delay >= backed_off_us() {
            PARKED.store(true, Ordering::SeqCst);
            let seq = WAKE.load(Ordering::SeqCst);
            if all_idle() {
                // Sleep for good, unless pooled memory still waits to be released.
                let timeout = gfree::scavenge_pending().then_some(gfree::SCAVENGE_PERIOD_NS);
                os::futex_wait(&WAKE, seq, timeout);
                check_quit();
                let now = os::nanotime();
                note_time(now);
                if now - last_scavenge >= gfree::SCAVENGE_PERIOD_NS {
                    gfree::scavenge();
                    last_scavenge = now;
                }
            }
            PARKED.store(false, Ordering::SeqCst);
            // Woken because a P runs again: ticks at the backed-off pace,
            // which is all preemption needs; a goroutine entering `blocking`
            // meanwhile kicks sysmon into fast ticks (`wake_for_syscall`).
            if SYSCALL_KICK.swap(false, Ordering::SeqCst) {
                idle = 0;
            } else {
                idle = IDLE_TICKS_BEFORE_BACKOFF + 1;
            }
            continue;
        }
        // Some P is running: look at least twice per time slice (preemption).
        if preempt::ENABLED {
            delay = delay.min((preempt::time_slice_ns() / 2_000).max(1) as u32);
        }
        DELAY_US.store(delay, Ordering::Relaxed);
        let seq = WAKE.load(Ordering::SeqCst);
        os::futex_wait(&WAKE, seq, Some(delay as i64 * 1000));
        let woken = WAKE.load(Ordering::SeqCst) != seq;
        if woken {
            SYSCALL_KICK.store(false, Ordering::SeqCst);
        }
        check_quit();
        DELAY_US.store(MIN_DELAY_US, Ordering::Relaxed);
        let now = os::nanotime();
        note_time(now);
        let released = preempt::sysmon_check(now);
        // Sockets nobody has polled for a while (every P busy): their
        // goroutines go to the global queue.
        if netpoll::has_waiters()
            && !netpoll::blocked()
            && now - netpoll::last_poll() > netpoll::SYSMON_POLL_NS
        {
            netpoll::poll_nonblocking(false);
        }
        if retake(now) > 0 || woken || released {
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
            if sched::retake_syscall_p(pp) {
                n += 1;
            }
        }
    }
    n
}
