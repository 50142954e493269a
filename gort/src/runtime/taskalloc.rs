//! Per-P caches of small memory blocks for goroutine tasks (the closure plus its
//! result slot, one allocation per spawn).
//!
//! In a typical program one goroutine spawns and others run and finish, so a
//! task is allocated on one thread and freed on another. glibc's malloc handles
//! that pattern slowly (a freed chunk lands in the freeing thread's cache, the
//! allocating thread always misses its own): it was ~35% of the spawning
//! thread's time. Here, as in Go's per-P `mcache`, blocks of a few size classes
//! are cached per P, and a P whose cache overflows hands half of it, as one batch,
//! to a global list that a P with an empty cache takes a batch from.
//!
//! Blocks always come from, and can always go back to, the global allocator with
//! the class's layout, so callers without a P (plain threads) simply use it
//! directly. Bigger or over-aligned tasks bypass the caches.
//!
//! The caller must hold its P for the whole cache operation, unpreemptible: a
//! `Pinned` guard (`spawn` allocates the task and creates the goroutine under
//! one), or g0 (a goroutine's own task is freed by `goexit` on g0, for free:
//! no hold is needed there).

use super::lock::Lock;
use super::m::Pinned;
use super::p::P;
use core::cell::UnsafeCell;
use core::ptr::{NonNull, null_mut};
use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};

/// Size classes: tasks are a header, a closure and a result slot, mostly small.
const CLASSES: [usize; 4] = [64, 128, 256, 512];
const ALIGN: usize = 16;
/// Blocks per class a P keeps (half move to the global list beyond it).
const LOCAL_MAX: u32 = 128;
/// Batches per class the global list keeps (beyond it, blocks are freed).
const GLOBAL_MAX_BATCHES: usize = 64;

struct Block {
    next: *mut Block,
}

#[derive(Clone, Copy)]
struct FreeList {
    head: *mut Block,
    n: u32,
}

impl FreeList {
    const EMPTY: FreeList = FreeList {
        head: null_mut(),
        n: 0,
    };
}

/// A P's cache (owned by the M holding the P).
pub(crate) struct Cache {
    lists: [FreeList; CLASSES.len()],
}

impl Cache {
    pub(crate) const fn new() -> Cache {
        Cache {
            lists: [FreeList::EMPTY; CLASSES.len()],
        }
    }
}

struct Global {
    lock: Lock,
    batches: UnsafeCell<[Vec<FreeList>; CLASSES.len()]>,
}

// SAFETY: `batches` is only touched with `lock` held.
unsafe impl Sync for Global {}

static GLOBAL: Global = Global {
    lock: Lock::new(),
    batches: UnsafeCell::new([Vec::new(), Vec::new(), Vec::new(), Vec::new()]),
};

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    CLASSES.iter().position(|&c| layout.size() <= c)
}

fn class_layout(c: usize) -> Layout {
    // SAFETY: nonzero sizes, power-of-two alignment.
    unsafe { Layout::from_size_align_unchecked(CLASSES[c], ALIGN) }
}

/// Allocates a block for `layout` from `pp`'s cache (never null: allocation
/// failure aborts, as for `Box`).
///
/// # Safety
/// `pp` is null or held by the current M, which cannot be preempted until the
/// call returns (a `Pinned` guard, or g0).
#[inline]
pub(crate) unsafe fn alloc_task_on(pp: *mut P, layout: Layout) -> *mut u8 {
    let Some(c) = class_of(layout) else {
        return raw_alloc(layout);
    };
    if !pp.is_null() {
        // SAFETY: per the contract.
        let b = unsafe {
            let list = &mut (*pp).task_cache.lists[c];
            if list.head.is_null() {
                refill(list, c);
            }
            let b = list.head;
            if !b.is_null() {
                list.head = (*b).next;
                list.n -= 1;
            }
            b
        };
        if !b.is_null() {
            return b.cast();
        }
    }
    raw_alloc(class_layout(c))
}

/// Frees a block obtained from `alloc_task_on` with the same `layout`.
///
/// # Safety
/// `ptr` came from `alloc_task_on(_, layout)` and is not used afterwards.
pub(crate) unsafe fn free_task(ptr: *mut u8, layout: Layout) {
    let pin = Pinned::new();
    // SAFETY: per the contract; `pin` holds `pin.p` (or it is null).
    unsafe { free_task_on(pin.p, ptr, layout) }
}

/// A block to free later (`free_task_on`): a goroutine's own task cell, which
/// it cannot free while running on it.
pub(crate) struct TaskBlock {
    pub ptr: NonNull<u8>,
    pub layout: Layout,
}

/// `free_task` into `pp`'s cache.
///
/// # Safety
/// As `free_task`, and `pp` as for `alloc_task_on`.
#[inline]
pub(crate) unsafe fn free_task_on(pp: *mut P, ptr: *mut u8, layout: Layout) {
    let Some(c) = class_of(layout) else {
        // SAFETY: per the contract, allocated with this layout.
        unsafe { dealloc(ptr, layout) };
        return;
    };
    if pp.is_null() {
        // SAFETY: every class block is valid to free with the class layout.
        unsafe { dealloc(ptr, class_layout(c)) };
        return;
    }
    // SAFETY: per the contract: `pp` is ours, not preemptible; we own `ptr`.
    unsafe {
        let list = &mut (*pp).task_cache.lists[c];
        let b = ptr.cast::<Block>();
        (*b).next = list.head;
        list.head = b;
        list.n += 1;
        if list.n > LOCAL_MAX {
            spill(list, c);
        }
    }
}

fn raw_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: task layouts have nonzero size (they contain a header).
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        handle_alloc_error(layout);
    }
    p
}

unsafe fn refill(list: &mut FreeList, c: usize) {
    GLOBAL.lock.lock();
    // SAFETY: lock held.
    let b = unsafe { (*GLOBAL.batches.get())[c].pop() };
    GLOBAL.lock.unlock();
    if let Some(b) = b {
        *list = b;
    }
}

/// Moves half of an overflowing list to the global list as one batch.
unsafe fn spill(list: &mut FreeList, c: usize) {
    let keep = LOCAL_MAX / 2;
    // SAFETY: the blocks on `list` are ours.
    unsafe {
        // Walk to the `keep`-th block; everything after it forms the batch.
        let mut cut = list.head;
        for _ in 1..keep {
            cut = (*cut).next;
        }
        let batch = FreeList {
            head: (*cut).next,
            n: list.n - keep,
        };
        (*cut).next = null_mut();
        list.n = keep;
        GLOBAL.lock.lock();
        let batches = &mut (*GLOBAL.batches.get())[c];
        let overflow = batches.len() >= GLOBAL_MAX_BATCHES;
        if !overflow {
            batches.push(batch);
        }
        GLOBAL.lock.unlock();
        if overflow {
            let mut b = batch.head;
            while !b.is_null() {
                let next = (*b).next;
                dealloc(b.cast(), class_layout(c));
                b = next;
            }
        }
    }
}

/// Hands a retiring P's blocks to the global list.
///
/// # Safety
/// The caller owns `pp`.
pub(crate) unsafe fn drain(pp: *mut P) {
    for c in 0..CLASSES.len() {
        // SAFETY: per the contract.
        unsafe {
            let list = &mut (*pp).task_cache.lists[c];
            if list.n > 0 {
                GLOBAL.lock.lock();
                (*GLOBAL.batches.get())[c].push(*list);
                GLOBAL.lock.unlock();
                *list = FreeList::EMPTY;
            }
        }
    }
}
