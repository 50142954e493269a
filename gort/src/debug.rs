//! Runtime introspection: `stats()` (counters) and `dump()` (every goroutine).

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

/// Describes every goroutine, like Go's crash dump: one entry per goroutine with
/// its id, state (and, if parked, why and for how long) and where it was
/// spawned, oldest id first.
///
/// ```text
/// goroutine 7 [join, 12 ms]:
///         created at src/main.rs:10:14
/// ```
///
/// Taken without stopping the scheduler: each line is a snapshot of one
/// goroutine, and goroutines may start or finish while the dump is written.
///
/// ```
/// let h = gort::go(|| gort::sleep(std::time::Duration::from_millis(50)));
/// let d = gort::debug::dump();
/// assert!(d.contains(&format!("goroutine {} [", h.id())));
/// h.join().unwrap();
/// ```
pub fn dump() -> String {
    use crate::runtime::g::{Status, allgs_for_each};
    runtime::init();
    let now = crate::runtime::os::nanotime();
    let mut rows = Vec::new();
    allgs_for_each(|gp| {
        // SAFETY: descriptors are not freed while the registry is locked. The
        // fields are read racily (volatile, so each is read once and the
        // compiler assumes nothing): a goroutine changing state meanwhile shows
        // either its old or its new state. Only plain values are read (the name
        // is a heap string its owner may free: not read).
        unsafe {
            let status = (*gp).status();
            if matches!(status, Status::Idle | Status::Dead) {
                return;
            }
            let id = core::ptr::read_volatile(&(*gp).id);
            let site = core::ptr::read_volatile(&(*gp).spawn_site);
            let state = match status {
                Status::Runnable => "runnable".to_string(),
                Status::Running => "running".to_string(),
                Status::Syscall => "blocking".to_string(),
                _ => {
                    let reason = core::ptr::read_volatile(&(*gp).waitreason);
                    let since = core::ptr::read_volatile(&(*gp).waitsince);
                    let ms = (now - since).max(0) / 1_000_000;
                    format!("{}, {ms} ms", reason.as_str())
                }
            };
            let state = if core::ptr::read_volatile(&(*gp).locked) {
                format!("{state}, locked to thread")
            } else {
                state
            };
            rows.push((id, state, site));
        }
    });
    rows.sort_by_key(|r| r.0);
    let mut out = String::new();
    for (id, state, site) in rows {
        out.push_str(&format!("goroutine {id} [{state}]:\n"));
        if let Some(l) = site {
            out.push_str(&format!(
                "\tcreated at {}:{}:{}\n",
                l.file(),
                l.line(),
                l.column()
            ));
        }
        out.push('\n');
    }
    out
}
