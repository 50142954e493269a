//! Stack memory on Windows: reserve with `VirtualAlloc(MEM_RESERVE)`, commit a
//! slot when it is first carved, guard it with `PAGE_GUARD` pages above one
//! that is never committed, hand pages back with `MEM_RESET`.
//!
//! Unlike Linux there is no signal stack: Windows dispatches an exception on
//! the stack that faulted. So the guard region is several pages, not one: the
//! lowest stays reserved (`PAGE_NOACCESS`: nothing ever runs into the
//! neighbouring slot) and the three above it are `PAGE_GUARD`, whose first
//! touch raises the exception and leaves the rest of them usable by the
//! exception dispatcher and the overflow handler (`signal/windows.rs`), which
//! then report `goroutine N: stack overflow` from inside the guard region
//! (Wine was seen to need ~2.3 KiB there, `../shared/notes/platforms.md` 2b).
//!
//! The usable part of a slot is committed as a whole when the slot is carved:
//! commit charge, not memory (Windows backs a committed page with a zeroed
//! frame only when it is touched, so RSS still tracks the pages goroutines
//! use). Committing lazily through guard-page growth, as thread stacks do,
//! would save commit charge for very many goroutines, at one exception per
//! page of growth.

use std::io;
use windows_sys::Win32::System::Memory::{
    MEM_COMMIT, MEM_RESERVE, MEM_RESET, PAGE_GUARD, PAGE_NOACCESS, PAGE_READWRITE, VirtualAlloc,
    VirtualProtect,
};

/// Bytes of guard region below each stack: one page never committed, three
/// `PAGE_GUARD` pages above it (x86-64 Windows pages are always 4 KiB). The
/// context switch (`arch`) tells Windows where the reservation starts:
/// `GUARD_SIZE` below a stack's `lo`.
pub(crate) const GUARD_SIZE: usize = 16 * 1024;
const PAGE: usize = 4096;

pub(super) fn guard_size() -> usize {
    GUARD_SIZE
}

/// Reserves `len` bytes of address space (nothing committed yet).
pub(super) fn reserve(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh reservation; nothing else refers to the range.
    let p = unsafe { VirtualAlloc(core::ptr::null(), len, MEM_RESERVE, PAGE_NOACCESS) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(p as usize)
}

/// Makes `[addr, addr+len)` (a new slot's guard region, `GUARD_SIZE` long)
/// a guard and commits the slot's usable part above it, `usable` bytes.
pub(super) fn install_guard(addr: usize, len: usize, usable: usize) -> io::Result<()> {
    debug_assert_eq!(len, GUARD_SIZE);
    // SAFETY: the range lies in a reservation of ours that no stack uses yet.
    unsafe {
        let commit = addr + PAGE;
        let p = VirtualAlloc(
            commit as *const _,
            len - PAGE + usable,
            MEM_COMMIT,
            PAGE_READWRITE,
        );
        if p.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut old = 0;
        if VirtualProtect(
            commit as *const _,
            len - PAGE,
            PAGE_READWRITE | PAGE_GUARD,
            &mut old,
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Tells Windows that the contents of a free stack are not needed (its pages
/// may be dropped rather than paged out; the range stays committed, and its
/// guard pages are unaffected).
pub(super) fn release(addr: usize, len: usize) {
    // SAFETY: the stack is free: no goroutine runs on it and nothing points
    // into it. MEM_RESET only discards contents.
    unsafe {
        VirtualAlloc(addr as *const _, len, MEM_RESET, PAGE_READWRITE);
    }
}
