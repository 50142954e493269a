//! Runtime introspection.

use crate::runtime::m::NTHREADS;
use crate::runtime::p::PStatus;
use crate::runtime::sched::{self, SCHED};
use crate::runtime::{self, stack};
use core::sync::atomic::Ordering;

/// A snapshot of the scheduler's counters (see [`stats`]). Values are read
/// without stopping the scheduler, so they are mutually consistent only
/// approximately.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Goroutines spawned and not yet finished.
    pub goroutines: usize,
    /// Processors (`procs()`).
    pub procs: usize,
    /// OS threads the runtime started to run goroutines (sysmon not included).
    pub threads: usize,
    /// Goroutine switches so far (each time a goroutine is started or resumed).
    pub context_switches: u64,
    /// Successful work-stealing operations so far.
    pub steals: u64,
    /// Asynchronous preemptions so far (goroutines stopped by a signal because
    /// they kept their processor past a time slice while others waited).
    pub preemptions: u64,
    /// Goroutines waiting for a run queue slot to come round (runnable, not running).
    pub runnable: usize,
    /// Goroutines parked (waiting for a timer, a join, ...), or inside `blocking`.
    pub parked: usize,
    /// Pending timers (sleeping goroutines) over all processors.
    pub timers: usize,
    /// Bytes of goroutine stack reservations in use (virtual size, not resident).
    pub stack_bytes: usize,
}

/// Reads the scheduler's counters.
///
/// ```
/// let s = gort::debug::stats();
/// assert!(s.procs >= 1);
/// ```
pub fn stats() -> Stats {
    runtime::init();
    let mut runnable = SCHED.runqsize.load(Ordering::Relaxed) as usize;
    let mut running = 0;
    let mut timers = 0;
    for pp in sched::allp() {
        // SAFETY: Ps are never freed; these reads are racy snapshots by design.
        unsafe {
            runnable += (*pp).runq.len();
            timers += (*pp).timers.len();
            if (*pp).status() == PStatus::Running {
                running += 1;
            }
        }
    }
    let goroutines = sched::ngoroutines();
    let (mut switches, mut steals, mut preemptions) = (0, 0, 0);
    for pp in sched::allp() {
        // SAFETY: Ps are never freed.
        unsafe {
            switches += (*pp).counters.switches.load(Ordering::Relaxed);
            steals += (*pp).counters.steals.load(Ordering::Relaxed);
            preemptions += (*pp).counters.preemptions.load(Ordering::Relaxed);
        }
    }
    Stats {
        goroutines,
        procs: sched::gomaxprocs(),
        threads: NTHREADS.load(Ordering::Relaxed),
        context_switches: switches,
        steals,
        preemptions,
        runnable,
        parked: goroutines.saturating_sub(runnable + running),
        timers,
        stack_bytes: stack::stack_bytes_in_use(),
    }
}
