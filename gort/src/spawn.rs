//! Spawning goroutines: `go`, `Builder`, `JoinHandle`.
//!
//! A spawn makes one allocation: a `Task` holding the closure and the result slot
//! (`Packet`). The goroutine's G holds it as `Arc<dyn Runnable>`, the handle as
//! `Arc<dyn HasPacket<T>>`. The goroutine runs the closure under `catch_unwind`,
//! stops counting in `num_goroutines`, stores the result, then sets the packet's
//! `OneShot`, which wakes a joiner parked (goroutine) or blocked (thread) on it.

use crate::runtime::g::{Runnable, WaitReason};
use crate::runtime::sched;
use crate::runtime::waiter::OneShot;
use crate::runtime::{self, stack};
use crate::scope::ScopeData;
use core::cell::UnsafeCell;
use core::fmt;
use core::num::NonZeroU64;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

/// A goroutine's unique id (never reused within a process). Go numbers
/// goroutines from 1; so does gort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoroutineId(NonZeroU64);

impl GoroutineId {
    pub(crate) fn new(id: u64) -> GoroutineId {
        GoroutineId(NonZeroU64::new(id).expect("goroutine ids start at 1"))
    }

    /// The id as a number, as Go prints it.
    ///
    /// ```
    /// let id = gort::run(|| gort::current_id().unwrap());
    /// assert!(id.as_u64() >= 1);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for GoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A goroutine's result slot, shared by the goroutine and its handle.
pub(crate) struct Packet<T> {
    result: UnsafeCell<Option<thread::Result<T>>>,
    done: OneShot,
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `result` is written once by the goroutine before `done` is set (release)
// and read by the joiner after it observed `done` (acquire).
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> Packet<T> {
        Packet {
            result: UnsafeCell::new(None),
            done: OneShot::new(),
            scope,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.done.is_set()
    }

    /// Waits for the goroutine and takes its result.
    pub(crate) fn join(&self) -> thread::Result<T> {
        self.done.wait(WaitReason::Join);
        // SAFETY: `done` is set: the goroutine wrote the result and no longer
        // touches it; `join` consumes the only handle.
        unsafe { (*self.result.get()).take() }.expect("goroutine result taken twice")
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(_)));
        // Drop the result (user code) before telling the scope we are done: it may
        // borrow from the scope's environment.
        if catch_unwind(AssertUnwindSafe(|| *self.result.get_mut() = None)).is_err() {
            runtime::fatal("a goroutine's result panicked while being dropped");
        }
        if let Some(scope) = &self.scope {
            scope.decrement_running(unhandled_panic);
        }
    }
}

pub(crate) trait HasPacket<T>: Send + Sync {
    fn packet(&self) -> &Packet<T>;
}

/// The closure and result slot of one goroutine, in one allocation.
pub(crate) struct Task<F, T> {
    f: UnsafeCell<Option<F>>,
    packet: Packet<T>,
}

// SAFETY: `f` is taken exactly once, by the goroutine; `packet` is Sync on its own.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}
unsafe impl<F: Send, T: Send> Send for Task<F, T> {}

impl<F, T> Task<F, T> {
    pub(crate) fn new(f: F, scope: Option<Arc<ScopeData>>) -> Task<F, T> {
        Task {
            f: UnsafeCell::new(Some(f)),
            packet: Packet::new(scope),
        }
    }
}

impl<F: FnOnce() -> T + Send, T: Send> Runnable for Task<F, T> {
    fn run(self: Arc<Self>) {
        // SAFETY: only the goroutine takes `f`, once.
        let f = unsafe { (*self.f.get()).take() }.expect("goroutine task run twice");
        let r = catch_unwind(AssertUnwindSafe(f));
        // Stop counting before the joiner can return: "a goroutine is no longer
        // counted once its join() has returned".
        sched::count_goroutines(-1);
        // SAFETY: nobody reads `result` before `done` is set.
        unsafe { *self.packet.result.get() = Some(r) };
        self.packet.done.set();
    }
}

impl<F: FnOnce() -> T + Send, T: Send> HasPacket<T> for Task<F, T> {
    fn packet(&self) -> &Packet<T> {
        &self.packet
    }
}

/// Creates a goroutine for `task`. `'a` is erased: for `scope`, the caller
/// guarantees the task finishes before `'a` ends.
pub(crate) unsafe fn spawn_task<'a, F, T>(
    task: Arc<Task<F, T>>,
    stack_size: Option<usize>,
    name: Option<String>,
) -> io::Result<GoroutineId>
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
{
    runtime::init();
    let size = match stack_size {
        Some(s) => stack::check_size(s)?,
        None => stack::default_size(),
    };
    let r: Arc<dyn Runnable + 'a> = task;
    // SAFETY: lifetime erasure only; the caller upholds that the task completes
    // (and is dropped by the goroutine) before 'a ends.
    let r: Arc<dyn Runnable + 'static> = unsafe { core::mem::transmute(r) };
    let id = sched::newproc(r, size, name.map(String::into_boxed_str))?;
    Ok(GoroutineId::new(id))
}

/// Spawns a goroutine running `f` and returns a handle to join it.
///
/// Callable from a goroutine or from any plain thread. Like `std::thread::spawn`,
/// it panics if the goroutine cannot be created (stack memory exhausted); use
/// [`Builder::spawn`] to get an `io::Error` instead.
///
/// ```
/// let h = gort::go(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("failed to spawn goroutine: {e}"))
}

/// Spawns a goroutine: `go!(move || ...)` is `gort::go(move || ...)`.
///
/// ```
/// let h = gort::go!(|| "hi");
/// assert_eq!(h.join().unwrap(), "hi");
/// ```
#[macro_export]
macro_rules! go {
    ($e:expr) => {
        $crate::go($e)
    };
}

/// An owned permission to join a goroutine (wait for it and take its result).
/// Dropping it detaches the goroutine.
pub struct JoinHandle<T> {
    task: Arc<dyn HasPacket<T>>,
    id: GoroutineId,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish and returns its result, or the payload of
    /// its panic, unchanged. Parks the calling goroutine, or blocks the calling
    /// thread if called outside any goroutine.
    ///
    /// ```
    /// let h = gort::go(|| -> u32 { panic!("boom") });
    /// let err = h.join().unwrap_err();
    /// assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn join(self) -> thread::Result<T> {
        self.task.packet().join()
    }

    /// True once the goroutine has finished (its result is ready).
    ///
    /// ```
    /// let h = gort::go(|| ());
    /// while !h.is_finished() { std::thread::yield_now(); }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.packet().is_finished()
    }

    /// The goroutine's id.
    ///
    /// ```
    /// let h = gort::go(|| gort::current_id().unwrap());
    /// let id = h.id();
    /// assert_eq!(h.join().unwrap(), id);
    /// ```
    pub fn id(&self) -> GoroutineId {
        self.id
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).finish()
    }
}

/// Goroutine factory, to set a name or a stack size (like `std::thread::Builder`).
///
/// ```
/// let h = gort::Builder::new()
///     .name("worker")
///     .stack_size(1 << 20)
///     .spawn(|| 1 + 1)
///     .unwrap();
/// assert_eq!(h.join().unwrap(), 2);
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the defaults: no name, the default stack size
    /// (256 KiB unless `GORT_STACK_SIZE` says otherwise).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the goroutine; the name appears in its panic message.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the stack size in bytes (rounded up to whole pages; at least
    /// 16 KiB). The stack is a virtual reservation: untouched pages cost nothing.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns the goroutine. Errors: an invalid stack size, or stack memory
    /// exhausted (address space, `vm.max_map_count`, or the memory limit).
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = Arc::new(Task::new(f, None));
        let handle_task: Arc<dyn HasPacket<T>> = task.clone();
        // SAFETY: F and T are 'static: no lifetime is erased.
        let id = unsafe { spawn_task(task, self.stack_size, self.name)? };
        Ok(JoinHandle {
            task: handle_task,
            id,
        })
    }
}
