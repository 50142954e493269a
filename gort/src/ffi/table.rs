//! The slots of the callback table: which closure each entry stub runs.
//!
//! Slot `i` is entry stub `i` (`abi`); its closure is an `Entry` published
//! here by `Callback::new` and withdrawn by its drop. Freed slots are reused
//! last: never-used slots go first, then freed ones oldest first. A call
//! through the pointer of a dropped `Callback` — a contract violation on the
//! caller's side — therefore finds its slot empty for as long as possible,
//! and an empty slot aborts with a message instead of running some other
//! closure. (Once the slot has been reused nothing can tell the stale
//! pointer from the new one: the pointer is all the caller passes.)

use super::abi::{Frame, STUB_SIZE, table_base};
use crate::runtime::lock::Lock;
use crate::runtime::{fatal, os};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::collections::VecDeque;

/// Entry points in the table: how many `Callback`s may be alive at once.
pub const CAPACITY: usize = 2048;

/// The type-erased head of a callback's closure: `invoke` decodes the
/// arguments for the callback's signature, runs the closure and stores the
/// result.
#[repr(C)]
pub(crate) struct Entry {
    pub invoke: unsafe fn(*const Entry, *mut Frame),
}

static SLOTS: [AtomicPtr<Entry>; CAPACITY] = [const { AtomicPtr::new(null_mut()) }; CAPACITY];

struct FreeList {
    /// Slots `fresh..CAPACITY` have never been used.
    fresh: usize,
    /// Freed slots, oldest first.
    freed: VecDeque<u32>,
}

struct Free {
    lock: Lock,
    list: UnsafeCell<FreeList>,
}

// SAFETY: `list` is only touched with `lock` held.
unsafe impl Sync for Free {}

static FREE: Free = Free {
    lock: Lock::new(),
    list: UnsafeCell::new(FreeList {
        fresh: 0,
        freed: VecDeque::new(),
    }),
};

static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Callbacks alive now.
pub(crate) fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Takes a slot and publishes `entry` in it; `None` when the table is full.
pub(crate) fn alloc(entry: *const Entry) -> Option<u32> {
    FREE.lock.lock();
    // SAFETY: lock held.
    let slot = unsafe {
        let l = &mut *FREE.list.get();
        if l.fresh < CAPACITY {
            l.fresh += 1;
            Some((l.fresh - 1) as u32)
        } else {
            l.freed.pop_front()
        }
    };
    FREE.lock.unlock();
    let slot = slot?;
    IN_USE.fetch_add(1, Ordering::Relaxed);
    // Release: a caller that reads the entry sees the closure it points to.
    SLOTS[slot as usize].store(entry.cast_mut(), Ordering::Release);
    Some(slot)
}

/// Withdraws `slot`'s entry (calls from now on abort) and makes the slot
/// reusable. Returns the entry.
pub(crate) fn free(slot: u32) -> *mut Entry {
    let e = SLOTS[slot as usize].swap(null_mut(), Ordering::AcqRel);
    FREE.lock.lock();
    // SAFETY: lock held.
    unsafe { (*FREE.list.get()).freed.push_back(slot) };
    FREE.lock.unlock();
    IN_USE.fetch_sub(1, Ordering::Relaxed);
    e
}

/// The C-callable address of `slot`'s stub.
pub(crate) fn stub_addr(slot: u32) -> usize {
    table_base() + slot as usize * STUB_SIZE
}

/// Called by the ABI's common entry with the slot its stub named and the
/// captured arguments.
///
/// # Safety
/// `frame` is the common entry's frame, filled for this call; `slot` comes
/// from a stub.
pub(crate) unsafe extern "C" fn dispatch(slot: u32, frame: *mut Frame) {
    let Some(s) = SLOTS.get(slot as usize) else {
        fatal("gort::ffi: callback entered with a bad slot number");
    };
    let e = s.load(Ordering::Acquire);
    if e.is_null() {
        dangling(slot);
    }
    // SAFETY: a published entry stays valid until its `Callback` is dropped,
    // which must not happen while C may still call it (the documented
    // contract of `as_fn`).
    unsafe { ((*e).invoke)(e, frame) }
}

#[cold]
#[inline(never)]
fn dangling(slot: u32) -> ! {
    os::write_stderr(
        format!(
            "fatal error: gort::ffi: callback {:#x} (slot {slot}) called after its Callback was dropped\n",
            stub_addr(slot)
        )
        .as_bytes(),
    );
    os::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The assembler laid the stubs out as `stub_addr` assumes.
    #[test]
    fn the_table_has_one_stub_per_slot() {
        assert_eq!(super::super::abi::table_len(), CAPACITY * STUB_SIZE);
        assert_eq!(table_base() % STUB_SIZE, 0);
    }
}
