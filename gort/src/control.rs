//! Running, yielding, sleeping, and asking the scheduler about itself.

use crate::runtime::g::{G, WaitReason};
use crate::runtime::m::{getg, getm};
use crate::runtime::sched;
use crate::runtime::timers::{RTimer, TimerFn};
use crate::runtime::{self, os};
use crate::spawn::GoroutineId;
use std::panic::resume_unwind;
use std::time::Duration;

/// Runs `f` as a goroutine and blocks the calling OS thread until it returns.
///
/// Callable from any thread (the main thread, a `std::thread`, a thread created by
/// C code), any number of times, concurrently; the first call starts the runtime.
/// Called from inside a goroutine it parks that goroutine instead. A panic in `f`
/// is resumed on the caller.
///
/// If every goroutine ends up parked on gort primitives with nothing able to
/// wake one (no timer, no socket, no `blocking` call, and every other thread
/// of the process asleep in a gort wait), the program ends as Go's does:
/// `fatal error: all goroutines are asleep - deadlock!`, the goroutine dump,
/// exit status 2 (`GORT_DEADLOCK=0` turns this off; the README gives the
/// exact rule).
///
/// ```
/// let v = gort::run(|| {
///     let h = gort::go(|| 20);
///     h.join().unwrap() + 22
/// });
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match crate::go(f).join() {
        Ok(v) => v,
        Err(payload) => resume_unwind(payload),
    }
}

/// Yields the processor, letting other goroutines run (Go's `runtime.Gosched`).
/// The goroutine stays runnable and resumes soon. Outside a goroutine it yields the
/// OS thread.
///
/// ```
/// gort::run(|| for _ in 0..3 { gort::yield_now() });
/// ```
pub fn yield_now() {
    if sched::can_park() {
        sched::gosched();
    } else {
        std::thread::yield_now();
    }
}

/// Sleeps for at least `d`. In a goroutine this parks it on a timer (the OS thread
/// runs other goroutines meanwhile); outside one it sleeps the thread. A zero
/// duration returns at once (Go's rule).
///
/// ```
/// use std::time::{Duration, Instant};
/// gort::run(|| {
///     let t = Instant::now();
///     gort::sleep(Duration::from_millis(5));
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    if !sched::can_park() {
        std::thread::sleep(d);
        return;
    }
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let t = RTimer::new(TimerFn::Wake(sleep_fired), getg() as usize);
    let mut args = (&t as *const RTimer, os::nanotime().saturating_add(ns));
    sched::gopark(
        Some(add_sleep_timer),
        &mut args as *mut (*const RTimer, i64) as *mut (),
        WaitReason::Sleep,
    );
}

/// `gopark` unlock step for `sleep`: runs on g0 once the goroutine is parked, so
/// the timer can fire (and ready it) on any M right away.
unsafe fn add_sleep_timer(_gp: *mut G, args: *mut ()) -> bool {
    let m = getm();
    // SAFETY: `args` is the tuple on the parked goroutine's stack, which stays
    // put until the timer readies it; on g0 of the M that parked it, which
    // holds its P.
    unsafe {
        let (t, when) = *(args as *const (*const RTimer, i64));
        let pp = (*m).p;
        (*pp).timers.add(pp, &*t, when);
    }
    true
}

/// A sleeping goroutine's timer: nothing else can wake it, so it is readied.
unsafe fn sleep_fired(gp: usize) -> *mut G {
    gp as *mut G
}

/// The current goroutine's id, or `None` outside any goroutine.
///
/// ```
/// assert!(gort::current_id().is_none());
/// assert!(gort::run(|| gort::current_id()).is_some());
/// ```
pub fn current_id() -> Option<GoroutineId> {
    let gp = getg();
    if gp.is_null() {
        None
    } else {
        // SAFETY: the running goroutine's own descriptor.
        Some(GoroutineId::new(unsafe { (*gp).id }))
    }
}

/// Goroutines spawned and not yet finished (runnable-but-not-started included).
/// A goroutine is no longer counted once its `join()` has returned.
///
/// ```
/// let h = gort::go(|| gort::sleep(std::time::Duration::from_millis(20)));
/// assert!(gort::num_goroutines() >= 1);
/// h.join().unwrap();
/// ```
pub fn num_goroutines() -> usize {
    sched::ngoroutines()
}

/// The number of processors: how many goroutines run in parallel (Go's
/// `GOMAXPROCS`). Defaults to the available cores; the `GORT_PROCS` environment
/// variable overrides it.
///
/// ```
/// assert!(gort::procs() >= 1);
/// ```
pub fn procs() -> usize {
    runtime::init();
    sched::gomaxprocs()
}

/// Sets the number of processors (process-wide) and returns the previous value.
/// `0` changes nothing (Go's `GOMAXPROCS(0)`); values above 1024 are clamped.
/// Growing starts new workers at once; shrinking takes effect as running
/// goroutines reach their next scheduling point.
///
/// ```
/// let old = gort::set_procs(2);
/// assert_eq!(gort::procs(), 2);
/// gort::set_procs(old);
/// ```
pub fn set_procs(n: usize) -> usize {
    runtime::init();
    if n == 0 {
        return sched::gomaxprocs();
    }
    sched::procs::procresize(n)
}

/// Runs `f`, which may block the OS thread (a blocking syscall, a C call, a std
/// lock), without stalling other goroutines: the processor is handed to another
/// thread if `f` takes longer than ~20 µs (Go's syscall hand-off). Outside a
/// goroutine it just calls `f`. Inside `f`, goroutine operations that would park
/// (join, sleep) block the thread instead.
///
/// ```
/// let n = gort::run(|| gort::blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)));
/// # let _ = n;
/// ```
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            sched::exitsyscall();
        }
    }
    if sched::entersyscall() {
        let _exit = Exit;
        f()
    } else {
        f()
    }
}

/// Wires the calling goroutine to the OS thread it is running on (Go's
/// `runtime.LockOSThread`): until a matching `unlock_os_thread`, it runs only
/// on this thread, and no other goroutine runs on the thread. For code that
/// needs one thread throughout: a C library with thread-local state, OpenGL or
/// a GUI toolkit, per-thread kernel state (`unshare`, `setns`, the signal mask).
///
/// Calls nest: the goroutine is unwired when every `lock_os_thread` has been
/// matched. A goroutine that ends while still locked takes the thread with it:
/// the thread exits instead of running other goroutines (Go's rule), since its
/// state may have been changed. Outside a goroutine this does nothing: a plain
/// thread is always itself.
///
/// Switching a locked goroutine out and in (parking, yielding) costs two thread
/// wake-ups instead of none: keep locked stretches to code that needs them.
///
/// ```
/// gort::run(|| {
///     gort::lock_os_thread();
///     let t = std::thread::current().id();
///     gort::sleep(std::time::Duration::from_millis(1));
///     gort::yield_now();
///     assert_eq!(std::thread::current().id(), t);
///     gort::unlock_os_thread();
/// });
/// ```
pub fn lock_os_thread() {
    sched::locked::lock();
}

/// Undoes one `lock_os_thread` of the calling goroutine; after the last one it
/// may run on any thread again. Does nothing if the goroutine is not locked, or
/// outside a goroutine.
pub fn unlock_os_thread() {
    sched::locked::unlock();
}
