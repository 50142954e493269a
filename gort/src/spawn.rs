//! Spawning goroutines: `go`, `Builder`, `JoinHandle`.
//!
//! A spawn makes one allocation, from the P's task cache (`runtime::taskalloc`):
//! a `TaskCell` holding a small header (reference count and vtable), the
//! `Packet` (done flag, scope) and one slot for the closure and then, in the
//! same bytes, its result. Two references exist: the goroutine's (its G
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
use core::mem::ManuallyDrop;
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

/// What a task's slot holds (`Packet::stage`).
const PENDING: u8 = 0;
/// The goroutine has run: the slot holds its result.
const DONE: u8 = 1;
/// The result was taken by `join` (or never existed): the slot is empty.
const EMPTY: u8 = 2;

/// The part of a task that does not depend on its closure type: what the
/// handle sees. It sits right after the `Header` (both are `repr(C)`, of
/// alignment 8), so it is reachable without knowing `F`.
pub(crate) struct Packet<T> {
    done: OneShot,
    /// The scope this goroutine belongs to; it outlives the packet.
    scope: Option<NonNull<ScopeData>>,
    /// `PENDING`, `DONE` or `EMPTY`: which half of the slot is live. Written
    /// by the goroutine before `done` is set and by the joiner after it is
    /// seen set, read by the last reference's drop after its acquire fence.
    stage: UnsafeCell<u8>,
    _result: PhantomData<T>,
}

/// Type-erased operations on a `TaskCell`.
struct VTable {
    drop_in_place: unsafe fn(NonNull<Header>),
    layout: Layout,
    /// Where the slot (and so the result) is, from the start of the cell:
    /// it depends on the closure's alignment, which the handle does not know.
    slot_offset: usize,
}

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    vtable: &'static VTable,
}

/// The closure, and then in the same bytes its result.
#[repr(C)]
union Slot<F, T> {
    f: ManuallyDrop<F>,
    result: ManuallyDrop<thread::Result<T>>,
}

/// One goroutine's task, in one allocation: header, packet, and a slot that
/// holds the closure until it runs and then its result. Sharing the bytes
/// keeps the common cell (a small closure, a word-sized result) within the
/// 64-byte class of `taskalloc`: with handles kept (`spawnjoin`), a million
/// finished goroutines cost a million cells until they are joined.
#[repr(C)]
struct TaskCell<F, T> {
    header: Header,
    packet: Packet<T>,
    slot: UnsafeCell<Slot<F, T>>,
}

impl<F, T> Drop for TaskCell<F, T> {
    fn drop(&mut self) {
        let slot = self.slot.get_mut();
        let mut unhandled_panic = false;
        // Drop what is live (user code: the closure's captures, or the
        // result) before telling the scope we are done: it may borrow from
        // the scope's environment.
        let dropped = match *self.packet.stage.get_mut() {
            // SAFETY: the stage says which half is live; nobody else can
            // reach the cell any more.
            PENDING => catch_unwind(AssertUnwindSafe(|| unsafe {
                ManuallyDrop::drop(&mut slot.f)
            })),
            DONE => {
                // SAFETY: as above.
                unhandled_panic = unsafe { slot.result.is_err() };
                catch_unwind(AssertUnwindSafe(|| unsafe {
                    ManuallyDrop::drop(&mut slot.result)
                }))
            }
            _ => Ok(()),
        };
        if dropped.is_err() {
            runtime::fatal("a goroutine's closure or result panicked while being dropped");
        }
        if let Some(scope) = self.packet.scope {
            // SAFETY: `scope` does not return (and free its data) before every
            // task of the scope has called `finished`.
            unsafe { scope.as_ref().finished(unhandled_panic) };
        }
    }
}

impl<F: FnOnce() -> T + Send, T: Send> TaskCell<F, T> {
    const VTABLE: VTable = VTable {
        drop_in_place: Self::drop_in_place,
        layout: Layout::new::<Self>(),
        slot_offset: core::mem::offset_of!(Self, slot),
    };

    /// `TaskHandle::packet` finds the packet right after the header.
    const PACKET_AFTER_HEADER: () =
        assert!(core::mem::offset_of!(Self, packet) == size_of::<Header>());

    /// Allocates a cell with two references (goroutine + handle).
    ///
    /// # Safety
    /// As `taskalloc::alloc_task_on` for `pp`.
    unsafe fn new_on(pp: *mut P, f: F, scope: Option<NonNull<ScopeData>>) -> NonNull<Self> {
        #[allow(clippy::let_unit_value)]
        let () = Self::PACKET_AFTER_HEADER;
        // SAFETY: per the contract.
        let p = unsafe { taskalloc::alloc_task_on(pp, Layout::new::<Self>()) }.cast::<Self>();
        // SAFETY: a fresh block of the right layout.
        unsafe {
            p.write(TaskCell {
                header: Header {
                    refs: AtomicUsize::new(2),
                    vtable: &Self::VTABLE,
                },
                packet: Packet {
                    done: OneShot::new(),
                    scope,
                    stage: UnsafeCell::new(PENDING),
                    _result: PhantomData,
                },
                slot: UnsafeCell::new(Slot {
                    f: ManuallyDrop::new(f),
                }),
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
        // SAFETY: the goroutine holds a reference; only it takes `f`, once,
        // and only it writes the slot until `done` is set.
        unsafe {
            let this = cell.as_ref();
            let slot = this.slot.get();
            assert!(
                *this.packet.stage.get() == PENDING,
                "goroutine task run twice"
            );
            let f = ManuallyDrop::take(&mut (*slot).f);
            // Taken: were the closure to panic, the cell must not drop it again.
            *this.packet.stage.get() = EMPTY;
            let r = catch_unwind(AssertUnwindSafe(f));
            // Stop counting before the joiner can return: "a goroutine is no
            // longer counted once its join() has returned".
            sched::count_goroutines(-1);
            (*slot).result = ManuallyDrop::new(r);
            *this.packet.stage.get() = DONE;
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

/// The handle side of a task: one reference, typed by the result only (the
/// packet follows the header at a fixed offset, the slot is where the vtable
/// says), so a `JoinHandle` is two words.
pub(crate) struct TaskHandle<T> {
    header: NonNull<Header>,
    _result: PhantomData<Packet<T>>,
}

// SAFETY: the handle only joins (moving a `T: Send` out) and reads atomics.
unsafe impl<T: Send> Send for TaskHandle<T> {}
unsafe impl<T: Send> Sync for TaskHandle<T> {}

impl<T> TaskHandle<T> {
    fn packet(&self) -> &Packet<T> {
        // SAFETY: we hold a reference, so the cell is alive; its packet is
        // right after the header (`TaskCell::PACKET_AFTER_HEADER`).
        unsafe {
            &*self
                .header
                .cast::<u8>()
                .add(size_of::<Header>())
                .cast::<Packet<T>>()
                .as_ptr()
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.packet().done.is_set()
    }

    /// Waits for the goroutine and takes its result.
    pub(crate) fn join(&self) -> thread::Result<T> {
        let packet = self.packet();
        packet.done.wait(WaitReason::Join);
        // SAFETY: `done` is set: the goroutine wrote the result and the stage
        // and no longer touches either; `join` consumes the only handle, so
        // nobody else reads them now. The slot is where the cell's vtable says.
        unsafe {
            assert!(*packet.stage.get() == DONE, "goroutine result taken twice");
            *packet.stage.get() = EMPTY;
            let offset = self.header.as_ref().vtable.slot_offset;
            let result = self
                .header
                .cast::<u8>()
                .add(offset)
                .cast::<thread::Result<T>>();
            result.read()
        }
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
    let handle = TaskHandle {
        header: cell.cast(),
        _result: PhantomData,
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
        self.task.join()
    }

    /// True once the goroutine has finished (its result is ready).
    ///
    /// ```
    /// let h = gort::go(|| ());
    /// while !h.is_finished() { std::thread::yield_now(); }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_size<F: FnOnce() -> T + Send, T: Send>(_: &F) -> usize {
        size_of::<TaskCell<F, T>>()
    }

    /// A goroutine whose handle is kept costs its cell until the join: the
    /// common one (a closure of a few words, a small result) must fit the
    /// smallest `taskalloc` class, 64 bytes (it took 72, i.e. 128, when the
    /// closure and the result had separate fields).
    #[test]
    fn a_small_task_fits_in_64_bytes() {
        let (a, b) = (1u64, 2u64);
        assert!(cell_size(&move || a) <= 64);
        assert!(cell_size(&move || a + b) <= 64);
        let v = std::sync::Arc::new(0u32);
        assert!(cell_size(&move || drop(v)) <= 64);
        assert_eq!(size_of::<JoinHandle<u64>>(), 16);
    }
}
