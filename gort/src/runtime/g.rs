//! G: a goroutine's descriptor.
//!
//! A G owns a saved context (`sched`, meaningful only while the G is not running),
//! a stack, and the boxed task it runs. Its `status` is the single source of truth
//! for who may touch it:
//!
//! ```text
//!   Idle ──newproc──▶ Runnable ──execute──▶ Running ──gopark──▶ Waiting
//!                        ▲  ▲                │  │  │               │
//!                        │  └──gosched───────┘  │  └─entersyscall─▶ Syscall
//!                        └──────goready─────────┼──────────────────┘   │
//!                                               └──goexit──▶ Dead      exitsyscall
//! ```
//! - Runnable: in exactly one run queue (a P's local queue or runnext, or the global
//!   queue); whoever dequeues it owns it.
//! - Running / Syscall: owned by the M in `g.m`.
//! - Waiting: owned by whatever wait structure it parked on; the waker calls
//!   `goready` exactly once. `gopark`'s contract (see `sched::park`) guarantees the
//!   context is saved before any waker can see the G.
//! - Dead / Idle: on a free list, reusable with its stack.
//!
//! Descriptors are reused (free lists in `sched::gfree`), never freed while the
//! runtime may still hold a pointer: only the bounded overflow of the free list is.

use super::arch::Gobuf;
use super::m::M;
use super::stack::Stack;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

/// The work a goroutine runs, type-erased (built by `spawn.rs`): `run(ptr)` runs
/// it and releases the goroutine's reference; if that was the last one, it
/// returns the task's memory for `goexit` to free once off the goroutine's
/// stack. Consumed once by `goroutine_main`.
pub(crate) struct TaskRef {
    pub ptr: NonNull<u8>,
    pub run: unsafe fn(NonNull<u8>) -> Option<super::taskalloc::TaskBlock>,
}

// SAFETY: tasks are built only from `Send` closures and results.
unsafe impl Send for TaskRef {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Status {
    Idle = 0,
    Runnable = 1,
    Running = 2,
    Syscall = 3,
    Waiting = 4,
    Dead = 5,
}

impl WaitReason {
    /// As `debug::dump` prints it (Go's wording where Go has one).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::None => "waiting",
            WaitReason::Sleep => "sleep",
            WaitReason::Join => "join",
            WaitReason::Scope => "scope wait",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::SyncMutexLock => "sync.Mutex.Lock",
            WaitReason::SyncRWMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncRWMutexLock => "sync.RWMutex.Lock",
            WaitReason::SyncWaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::Semacquire => "semacquire",
            WaitReason::SyncBarrierWait => "sync.Barrier.Wait",
            WaitReason::SyncOnce => "sync.Once",
            WaitReason::IoWait => "IO wait",
        }
    }
}

/// Why a goroutine is parked (shown by debugging tools).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub(crate) enum WaitReason {
    #[default]
    None,
    Sleep,
    Join,
    Scope,
    ChanSend,
    ChanReceive,
    Select,
    SelectNoCases,
    SyncMutexLock,
    SyncRWMutexRLock,
    SyncRWMutexLock,
    SyncWaitGroupWait,
    SyncCondWait,
    Semacquire,
    SyncBarrierWait,
    SyncOnce,
    IoWait,
}

/// Field order is by temperature. A spawned G is usually run by another core
/// than the one that created it, so each cache line the spawn and the first run
/// touch is a miss: everything `newproc`, the run queues, `execute` and `goexit`
/// need comes first (64 bytes), then the saved registers (`sched`, untouched
/// until the first switch away), then what only parking, sleeping or panicking
/// uses. (Aligning G to a cache line measured no faster, and glibc's aligned
/// allocation cost ~130 more bytes per parked goroutine.)
#[repr(C)]
pub(crate) struct G {
    pub status: AtomicU32,
    /// Created and not yet run (its stack contents do not matter yet).
    pub fresh: bool,
    pub waitreason: WaitReason,
    /// Wired to an OS thread by `lock_os_thread` (its M is `lockedm`). Here, in
    /// the first cache line, because `schedule` tests it for every G it runs.
    pub locked: bool,
    /// The runtime's own wirings: foreign callbacks running on this
    /// goroutine (`sched::cgocallback`), kept apart from `lockcount` so that
    /// a user's unmatched `unlock_os_thread` cannot undo them (Go's
    /// `lockedInt`). In the first cache line (in its padding byte) because
    /// every switch tests it (`park::mcall_held`); nesting deeper than 255
    /// callbacks on one goroutine is a fatal error.
    pub lockint: u8,
    pub id: u64,
    /// The M running this G (Running/Syscall), else null.
    pub m: *mut M,
    /// Intrusive link: global run queue or free list.
    pub schedlink: *mut G,
    pub entry: Option<TaskRef>,
    pub stack: Stack,
    /// Saved registers while not running (arch-specific layout; the asm's target).
    pub sched: Gobuf,
    pub name: Option<Box<str>>,
    /// When it last parked (`sysmon::coarse_nanotime`: to a sysmon tick), for
    /// `debug::dump`.
    pub waitsince: i64,
    /// Where it was spawned (`#[track_caller]` of `go` and friends).
    pub spawn_site: Option<&'static core::panic::Location<'static>>,
    /// Index in `ALLGS`.
    pub allg_idx: usize,
    /// The M this G is wired to while `locked` (see `sched::locked`).
    pub lockedm: *mut M,
    /// `lock_os_thread` calls not yet undone by `unlock_os_thread`.
    pub lockcount: u32,
    /// Wired because it is panicking (see `runtime::panic`): from its panic
    /// hook (or a preemption that finds the thread's panic count raised)
    /// until a switch finds the count back at zero.
    pub panicwired: bool,
    /// ASan's fake stack while switched out (`sanitizer`; empty otherwise).
    pub asan_fiber: super::sanitizer::Fiber,
}

/// `park::mcall_held` reads `locked` and `lockint` as one 16-bit word.
const _: () = assert!(
    core::mem::offset_of!(G, lockint) == core::mem::offset_of!(G, locked) + 1
        && core::mem::offset_of!(G, locked).is_multiple_of(2)
);

const _: () = assert!(core::mem::offset_of!(G, stack) + core::mem::size_of::<Stack>() <= 64);

impl G {
    pub(crate) fn new() -> G {
        G {
            sched: Gobuf::default(),
            stack: Stack::NONE,
            status: AtomicU32::new(Status::Idle as u32),
            id: 0,
            m: core::ptr::null_mut(),
            schedlink: core::ptr::null_mut(),
            entry: None,
            name: None,
            waitreason: WaitReason::None,
            fresh: false,
            waitsince: 0,
            spawn_site: None,
            allg_idx: usize::MAX,
            locked: false,
            lockint: 0,
            lockedm: core::ptr::null_mut(),
            lockcount: 0,
            panicwired: false,
            asan_fiber: super::sanitizer::Fiber::new(),
        }
    }

    pub(crate) fn status(&self) -> Status {
        // SAFETY: only `Status` discriminants are ever stored.
        unsafe { core::mem::transmute::<u32, Status>(self.status.load(Ordering::Acquire)) }
    }
}

/// Moves `gp` from `old` to `new`; any other current status is a runtime bug.
#[inline]
pub(crate) fn casgstatus(gp: *mut G, old: Status, new: Status) {
    // SAFETY: callers pass a live G (descriptors outlive every pointer to them).
    let st = unsafe { &(*gp).status };
    if st
        .compare_exchange(old as u32, new as u32, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        bad_status(gp, old, new);
    }
}

/// Moves `gp` from `old` to `new` when the caller owns `gp` exclusively (nothing
/// else may change its status meanwhile): a checked load and a plain store, no
/// locked instruction. Transitions that race with a waker use `casgstatus`.
#[inline]
pub(crate) fn setgstatus(gp: *mut G, old: Status, new: Status) {
    // SAFETY: callers pass a live G they own.
    let st = unsafe { &(*gp).status };
    if st.load(Ordering::Relaxed) != old as u32 {
        bad_status(gp, old, new);
    }
    st.store(new as u32, Ordering::Release);
}

#[cold]
fn bad_status(gp: *mut G, old: Status, new: Status) -> ! {
    // SAFETY: as in casgstatus.
    let (id, cur) = unsafe { ((*gp).id, (*gp).status()) };
    super::fatal(&format!(
        "casgstatus: goroutine {id}: bad transition {old:?} -> {new:?}, status is {cur:?}"
    ))
}

/// Every G descriptor in existence (Go's `allgs`), for `debug::dump`. Gs are
/// added when created and removed only when their descriptor is freed.
struct AllGs {
    lock: super::lock::Lock,
    gs: core::cell::UnsafeCell<Vec<*mut G>>,
}

// SAFETY: `gs` is only touched with `lock` held.
unsafe impl Sync for AllGs {}

static ALLGS: AllGs = AllGs {
    lock: super::lock::Lock::new(),
    gs: core::cell::UnsafeCell::new(Vec::new()),
};

/// Registers a new descriptor.
///
/// # Safety
/// `gp` is a live G not yet registered.
pub(crate) unsafe fn allgs_add(gp: *mut G) {
    ALLGS.lock.lock();
    // SAFETY: lock held; `gp` is ours.
    unsafe {
        let v = &mut *ALLGS.gs.get();
        (*gp).allg_idx = v.len();
        v.push(gp);
    }
    ALLGS.lock.unlock();
}

/// Unregisters a descriptor about to be freed.
///
/// # Safety
/// `gp` is registered and Dead; nothing else will look it up.
pub(crate) unsafe fn allgs_remove(gp: *mut G) {
    ALLGS.lock.lock();
    // SAFETY: lock held.
    unsafe {
        let v = &mut *ALLGS.gs.get();
        let i = (*gp).allg_idx;
        v.swap_remove(i);
        if i < v.len() {
            (*v[i]).allg_idx = i;
        }
    }
    ALLGS.lock.unlock();
}

/// Calls `f` on every registered G, with the registry locked (descriptors
/// cannot be freed meanwhile; their fields may change under `f`).
pub(crate) fn allgs_for_each(mut f: impl FnMut(*mut G)) {
    ALLGS.lock.lock();
    // SAFETY: lock held.
    for &gp in unsafe { &*ALLGS.gs.get() } {
        f(gp);
    }
    ALLGS.lock.unlock();
}
