//! The runtime: goroutines (G), OS threads (M), processors (P), and the scheduler
//! that ties them together. Names follow Go's runtime (`proc.go`, `runtime2.go`),
//! so Go's source stays the reference when reading this code.
//!
//! ```text
//! runtime/
//!   arch/      context switch per ABI (gogo, mcall, systemstack)
//!   os/        futex, clock, per-thread set-up per OS
//!   stack/     guarded stack reservations and their pools
//!   signal/    guard-page fault handler, preemption signal
//!   preempt/   time slices, preemption requests, the async-preempt trampoline
//!   sched/     run queues, schedule/findrunnable, park/ready, idle Ms and Ps,
//!              spawning and G recycling, blocking hand-off, set_procs
//!   g.rs m.rs p.rs   the three descriptors
//!   tls/       the current thread's M (a thread-local word asm can read)
//!   text/      where the no-preemption and callback code lies, per object format
//!   netpoll/   the network poller (mio): sockets' wait slots, who polls when
//!   timers.rs  per-P timer heaps and the timer-sleeping M
//!   sysmon.rs  the monitor thread
//!   lock.rs    runtime mutex and one-shot note
//!   waiter.rs  one-shot event usable from goroutines and plain threads
//!   parker.rs  a wait that several wakers race to end (channels, select, timeouts)
//!   panic.rs   goroutine-aware panic messages
//! ```
//!
//! The runtime starts lazily, on the first call that needs it (`init`).

pub(crate) mod arch;
pub(crate) mod chaos;
pub(crate) mod g;
pub(crate) mod lock;
pub(crate) mod loom;
pub(crate) mod m;
pub(crate) mod netpoll;
pub(crate) mod os;
pub(crate) mod p;
pub(crate) mod panic;
pub(crate) mod parker;
pub(crate) mod preempt;
pub(crate) mod sanitizer;
pub(crate) mod sched;
pub(crate) mod signal;
pub(crate) mod stack;
pub(crate) mod sysmon;
pub(crate) mod taskalloc;
pub(crate) mod text;
pub(crate) mod timers;
pub(crate) mod tls;
pub(crate) mod waiter;

pub(crate) use sched::gfree;

use std::sync::Once;

/// A broken runtime invariant: print and abort (no unwinding through the scheduler).
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    os::write_stderr(b"fatal error: ");
    os::write_stderr(msg.as_bytes());
    os::write_stderr(b"\n");
    os::abort()
}

/// Starts the runtime once: signal handler, panic hook, Ps, sysmon. Ms are
/// created on demand when work appears.
#[inline]
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        stack::default_size();
        preempt::init();
        signal::install();
        panic::install_hook();
        sched::procs::procresize(default_procs());
        sysmon::start();
    });
}

/// A cheap random number (Go's `cheaprand`): the M's generator on runtime
/// threads, a per-thread one elsewhere. For select's poll order and the like.
pub(crate) fn fastrand() -> u32 {
    let hold = m::NoPreempt::new();
    let mp = hold.m();
    if !mp.is_null() {
        // SAFETY: our own M, held.
        return unsafe { (*mp).fastrand() };
    }
    drop(hold);
    std::thread_local! {
        static STATE: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // Seed from the state's address and the clock: distinct per thread.
            x = (s as *const _ as u64) ^ (os::nanotime() as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}

/// `GORT_PROCS` if set to a positive integer, else the available parallelism.
pub(crate) fn default_procs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match std::env::var("GORT_PROCS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n.min(sched::MAX_PROCS),
            _ => {
                os::write_stderr(
                    format!("gort: ignoring invalid GORT_PROCS={v:?}; using {cores}\n").as_bytes(),
                );
                cores
            }
        },
        Err(_) => cores,
    }
}
