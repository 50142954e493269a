//! Spawning goroutines: `go`, `Builder`, `JoinHandle`.
//!
//! A spawn makes one allocation, from the P's task cache (`runtime::taskalloc`):
//! a `TaskCell` holding a small header (reference count and vtable), the closure
//! and the result slot (`Packet`). Two references exist: the goroutine's (its G
//! holds a type-erased `TaskRef`) and the handle's. The goroutine runs the
//! closure under `catch_unwind`, stops counting in `num_goroutines`, stores the
//! result, then sets the packet's `OneShot`, which wakes a joiner parked
//! (goroutine) or blocked (thread) on it; whoever drops the last reference frees
//! the cell.

use crate::runtime::g::{TaskRef, WaitReason};
use crate::runtime::m::Pinned;
use crate::runtime::p::P;
use crate::runtime::sched;
use crate::runtime::taskalloc::{self, TaskBlock};
use crate::runtime::waiter::OneShot;
use crate::runtime::{self, stack};
use crate::scope::ScopeData;
use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroU64;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
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
    /// The scope this goroutine belongs to; it outlives the packet.
    scope: Option<NonNull<ScopeData>>,
}

impl<T> Packet<T> {
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
        if let Some(scope) = self.scope {
            // SAFETY: `scope` does not return (and free its data) before every
            // packet of the scope has called `finished`.
            unsafe { scope.as_ref().finished(unhandled_panic) };
        }
    }
}

/// Type-erased operations on a `TaskCell`.
struct VTable {
    drop_in_place: unsafe fn(NonNull<Header>),
    layout: Layout,
}

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    vtable: &'static VTable,
}

/// The closure and result slot of one goroutine, in one allocation.
#[repr(C)]
struct TaskCell<F, T> {
    header: Header,
    f: UnsafeCell<Option<F>>,
    packet: Packet<T>,
}

impl<F: FnOnce() -> T + Send, T: Send> TaskCell<F, T> {
    const VTABLE: VTable = VTable {
        drop_in_place: Self::drop_in_place,
        layout: Layout::new::<Self>(),
    };

    /// Allocates a cell with two references (goroutine + handle).
    ///
    /// # Safety
    /// As `taskalloc::alloc_task_on` for `pp`.
    unsafe fn new_on(pp: *mut P, f: F, scope: Option<NonNull<ScopeData>>) -> NonNull<Self> {
        // SAFETY: per the contract.
        let p = unsafe { taskalloc::alloc_task_on(pp, Layout::new::<Self>()) }.cast::<Self>();
        // SAFETY: a fresh block of the right layout.
        unsafe {
            p.write(TaskCell {
                header: Header {
                    refs: AtomicUsize::new(2),
                    vtable: &Self::VTABLE,
                },
                f: UnsafeCell::new(Some(f)),
                packet: Packet {
                    result: UnsafeCell::new(None),
                    done: OneShot::new(),
                    scope,
                },
            });
            NonNull::new_unchecked(p)
        }
    }

    unsafe fn drop_in_place(h: NonNull<Header>) {
        // SAFETY: the last reference is gone; `h` is the start of a `Self`.
        unsafe { core::ptr::drop_in_place(h.cast::<Self>().as_ptr()) }
    }

    /// The goroutine's body: run the closure, publish the result, let go.
    unsafe fn run(p: NonNull<u8>) -> Option<TaskBlock> {
        let cell = p.cast::<Self>();
        // SAFETY: the goroutine holds a reference; only it takes `f`, once.
        unsafe {
            let this = cell.as_ref();
            let f = (*this.f.get()).take().expect("goroutine task run twice");
            let r = catch_unwind(AssertUnwindSafe(f));
            // Stop counting before the joiner can return: "a goroutine is no
            // longer counted once its join() has returned".
            sched::count_goroutines(-1);
            *this.packet.result.get() = Some(r);
            // With the handle already dropped (a detached goroutine, or a scoped
            // one whose handle was discarded) nobody can wait on `done`: skip
            // its atomic swap. The count can only fall, so 1 stays 1.
            if this.header.refs.load(Ordering::Acquire) != 1 {
                this.packet.done.set();
            }
            release_deferred(cell.cast())
        }
    }
}

/// `release` for the goroutine itself, at its end: its cell's memory is not
/// freed here but returned, for `goexit` to free off the goroutine's stack.
///
/// # Safety
/// As `release`.
unsafe fn release_deferred(h: NonNull<Header>) -> Option<TaskBlock> {
    // SAFETY: the caller owns one reference to a live cell.
    unsafe {
        if h.as_ref().refs.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            let vt = h.as_ref().vtable;
            (vt.drop_in_place)(h);
            return Some(TaskBlock {
                ptr: h.cast(),
                layout: vt.layout,
            });
        }
        None
    }
}

/// Drops one reference; the last one drops the cell and frees its memory.
#[inline]
unsafe fn release(h: NonNull<Header>) {
    // SAFETY: the caller owns one reference to a live cell.
    unsafe {
        if h.as_ref().refs.fetch_sub(1, Ordering::Release) == 1 {
            release_last(h);
        }
    }
}

/// `release`'s rare half, out of line so the common one saves no registers.
#[inline(never)]
unsafe fn release_last(h: NonNull<Header>) {
    fence(Ordering::Acquire);
    // SAFETY: the last reference: nobody else can reach the cell.
    unsafe {
        let vt = h.as_ref().vtable;
        (vt.drop_in_place)(h);
        taskalloc::free_task(h.as_ptr().cast(), vt.layout);
    }
}

/// The handle side of a task: one reference plus a typed view of the packet.
pub(crate) struct TaskHandle<T> {
    header: NonNull<Header>,
    packet: NonNull<Packet<T>>,
}

// SAFETY: the handle only joins (moving a `T: Send` out) and reads atomics.
unsafe impl<T: Send> Send for TaskHandle<T> {}
unsafe impl<T: Send> Sync for TaskHandle<T> {}

impl<T> TaskHandle<T> {
    pub(crate) fn packet(&self) -> &Packet<T> {
        // SAFETY: we hold a reference, so the cell is alive.
        unsafe { self.packet.as_ref() }
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { release(self.header) }
    }
}

/// Creates a goroutine running `f` and returns the handle side. `'a` is erased:
/// for `scope`, the caller guarantees the task finishes before `'a` ends.
pub(crate) unsafe fn spawn_task<'a, F, T>(
    f: F,
    scope: Option<NonNull<ScopeData>>,
    stack_size: Option<usize>,
    name: Option<String>,
    site: &'static core::panic::Location<'static>,
) -> io::Result<(TaskHandle<T>, GoroutineId)>
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
{
    runtime::init();
    let size = match stack_size {
        Some(s) => stack::check_size(s)?,
        None => stack::default_size(),
    };
    // One hold for the task's allocation and the goroutine's creation.
    let pin = Pinned::new();
    // SAFETY: `pin` holds `pin.p` (or it is null).
    let cell = unsafe { TaskCell::new_on(pin.p, f, scope) };
    // SAFETY: `cell` is live; `packet` is a field of it.
    let handle = unsafe {
        TaskHandle {
            header: cell.cast(),
            packet: NonNull::from(&cell.as_ref().packet),
        }
    };
    let task = TaskRef {
        ptr: cell.cast(),
        run: TaskCell::<F, T>::run,
    };
    match sched::newproc(pin, task, size, name.map(String::into_boxed_str), site) {
        Ok(id) => Ok((handle, GoroutineId::new(id))),
        Err(e) => {
            // The goroutine's reference was never handed out: drop it (the
            // handle's goes with `handle`).
            // SAFETY: we own that reference.
            unsafe { release(cell.cast()) };
            Err(e)
        }
    }
}

/// Spawns a goroutine running `f` and returns a handle to join it.
///
/// Callable from a goroutine or from any plain thread. Like `std::thread::spawn`,
/// it panics if the goroutine cannot be created (stack memory exhausted); use
/// [`Builder::spawn`] to get an `io::Error` instead.
///
/// The new goroutine is queued on the current processor. When a goroutine
/// spawns faster than the processors run what it spawns (its run queue
/// overflows), `go` also yields: the spawner goes to the back of the global run
/// queue, behind the goroutines already waiting, so a spawn loop cannot build
/// an unbounded backlog of goroutines that have not started yet.
///
/// ```
/// let h = gort::go(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
#[track_caller]
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
    task: TaskHandle<T>,
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
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static: no lifetime is erased.
        let site = core::panic::Location::caller();
        let (task, id) = unsafe { spawn_task(f, None, self.stack_size, self.name, site)? };
        Ok(JoinHandle { task, id })
    }
}

/// Marker so `ScopedJoinHandle` can carry its scope lifetime.
pub(crate) type ScopeMarker<'scope> = PhantomData<&'scope ()>;
