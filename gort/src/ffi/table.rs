//! The slots of the callback table: what each entry stub runs.
//!
//! Slot `i` belongs to entry stub `i` (`abi`). Its record says where the
//! ABI's common entry goes next (`entry`: a shim that passes the record on to
//! `fast` or `thunk`, or the shim that aborts for an empty slot), the
//! callback's monomorphised code for its signature (`fast`, `thunk`) and its
//! closure (`data`).
//! `Callback::new` fills a record, its drop empties it.
//!
//! Freed slots are reused last: never-used slots go first, then freed ones
//! oldest first. A call through the pointer of a dropped `Callback` — a
//! contract violation on the caller's side — therefore finds its slot empty
//! for as long as possible, and an empty slot aborts with a message instead
//! of running some other closure. (Once the slot has been reused nothing can
//! tell the stale pointer from the new one: the pointer is all the caller
//! passes.)

use super::abi::{self, STUB_SIZE, table_base};
use crate::runtime::lock::Lock;
use crate::runtime::os;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::collections::VecDeque;

/// Entry points in the table: how many `Callback`s may be alive at once.
pub const CAPACITY: usize = 2048;

/// One slot's record, read by the ABI's asm (layout pinned below). Written
/// `data`, `thunk`, `fast`, then `entry` (release); the asm reads `entry`
/// first and the rest through it, so a call that sees a new `entry` sees the
/// rest.
#[repr(C)]
pub struct Slot {
    /// Code the common entry jumps to, with the record's address in a
    /// scratch register (`abi`).
    pub entry: AtomicPtr<u8>,
    /// The signature-specific code the entry shim hands over to: all of
    /// the callback's work (`cgocallback` and the closure).
    pub thunk: AtomicPtr<u8>,
    /// The closure.
    pub data: AtomicPtr<()>,
    /// The signature-specific code an entry shim jumps to instead of
    /// `thunk` when it has found and marked the goroutine itself (`abi`):
    /// the closure behind the panic guard, then the end of the mark; null
    /// when the entry does not use it.
    pub fast: AtomicPtr<u8>,
}

pub const SLOT_SIZE: usize = size_of::<Slot>();
pub const SLOT_ENTRY: usize = offset_of!(Slot, entry);
pub const SLOT_THUNK: usize = offset_of!(Slot, thunk);
pub const SLOT_FAST: usize = offset_of!(Slot, fast);
const _: () = assert!(SLOT_SIZE == 32 && SLOT_ENTRY == 0 && SLOT_THUNK == 8 && SLOT_FAST == 24);

pub static SLOTS: [Slot; CAPACITY] = [const {
    Slot {
        entry: AtomicPtr::new(abi::empty_slot as *mut u8),
        thunk: AtomicPtr::new(null_mut()),
        data: AtomicPtr::new(null_mut()),
        fast: AtomicPtr::new(null_mut()),
    }
}; CAPACITY];

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

/// Takes a slot and publishes a callback in it: calls to the slot's stub go
/// to `entry`, which hands over to `fast` or `thunk` with `data`. `None` when
/// the table is full.
pub(crate) fn alloc(
    entry: *const u8,
    thunk: *const u8,
    fast: *const u8,
    data: *mut (),
) -> Option<u32> {
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
    let s = &SLOTS[slot as usize];
    s.data.store(data, Ordering::Relaxed);
    s.thunk.store(thunk.cast_mut(), Ordering::Relaxed);
    s.fast.store(fast.cast_mut(), Ordering::Relaxed);
    s.entry.store(entry.cast_mut(), Ordering::Release);
    Some(slot)
}

/// Empties `slot` (calls from now on abort) and makes it reusable.
pub(crate) fn free(slot: u32) {
    let s = &SLOTS[slot as usize];
    s.entry.store(abi::empty_slot as *mut u8, Ordering::Release);
    s.thunk.store(null_mut(), Ordering::Relaxed);
    s.fast.store(null_mut(), Ordering::Relaxed);
    s.data.store(null_mut(), Ordering::Relaxed);
    FREE.lock.lock();
    // SAFETY: lock held.
    unsafe { (*FREE.list.get()).freed.push_back(slot) };
    FREE.lock.unlock();
    IN_USE.fetch_sub(1, Ordering::Relaxed);
}

/// The C-callable address of `slot`'s stub.
pub(crate) fn stub_addr(slot: u32) -> usize {
    table_base() + slot as usize * STUB_SIZE
}

/// Where `abi::empty_slot` goes: a call reached a slot with no callback.
pub(crate) extern "C" fn dangling(slot: u32) -> ! {
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
