//! Stack memory on Windows: reserve with `VirtualAlloc(MEM_RESERVE)`, commit
//! lazily through a guard page as Windows does for thread stacks, decommit
//! what a freed stack grew.
//!
//! Layout of a slot, low to high:
//! `[never committed: 4 KiB][guarantee: 12 KiB][usable: lo..hi]`.
//! A new slot commits only the top `INITIAL_COMMIT` bytes of its usable part,
//! with one `PAGE_GUARD` page below them. Because the context switch points
//! the TEB at the running goroutine's stack (`arch`), the kernel (and Wine)
//! treat it as they treat a thread stack: a touch of the guard page commits
//! it, moves the guard one page down and lowers StackLimit, so a goroutine
//! costs the pages it uses, not its reservation (also in commit charge,
//! which Windows counts for committed memory whether touched or not). When
//! the guard would move into the last `GUARANTEE` bytes above the
//! reservation's start (the TEB's GuaranteedStackBytes, which the switch
//! sets for goroutines), the system commits them and raises
//! `STATUS_STACK_OVERFLOW` instead: Windows dispatches exceptions on the
//! faulting stack (there is no signal stack), and that is the room the
//! dispatcher and the overflow handler (`signal/windows.rs`) run in, which
//! reports `goroutine N: stack overflow`. The lowest page is never
//! committed: nothing runs on into the neighbouring slot.
//!
//! A stack's top word records how far it is committed (see `arch`): 0 on a
//! fresh or released stack, which is committed exactly `INITIAL_COMMIT` deep.

use std::io;
use windows_sys::Win32::System::Memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_RESERVE, PAGE_GUARD, PAGE_READWRITE, VirtualAlloc, VirtualFree,
};

const PAGE: usize = 4096;
/// The TEB's GuaranteedStackBytes for goroutines: stack kept for the
/// exception dispatcher and the overflow report (Wine was seen to need
/// ~2.3 KiB, `../shared/notes/platforms.md` 2b; Windows' own minimum on
/// x64 is 8 KiB).
pub(crate) const GUARANTEE: usize = 12 * 1024;
/// Bytes of each slot below its usable stack: the guarantee and one page
/// that is never committed (x86-64 Windows pages are always 4 KiB). The
/// context switch tells Windows where the reservation starts: `GUARD_SIZE`
/// below a stack's `lo`.
pub(crate) const GUARD_SIZE: usize = PAGE + GUARANTEE;
/// Bytes committed at the top of a fresh stack (a goroutine that parks after
/// a few calls needs no more), above its first guard page.
pub(crate) const INITIAL_COMMIT: usize = 2 * PAGE;
const _: () = assert!(INITIAL_COMMIT + PAGE <= super::MIN_STACK_SIZE);

pub(super) fn guard_size() -> usize {
    GUARD_SIZE
}

/// Reserves `len` bytes of address space (nothing committed yet), readable
/// and writable once committed: the protection a guard-page growth gives the
/// page it commits is the reservation's (Wine: a reservation made
/// `PAGE_NOACCESS` grows into pages that fault again once their guard is
/// gone).
pub(super) fn reserve(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh reservation; nothing else refers to the range.
    let p = unsafe { VirtualAlloc(core::ptr::null(), len, MEM_RESERVE, PAGE_READWRITE) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(p as usize)
}

/// Sets up a new slot whose guard region is `[addr, addr+len)` and whose
/// usable stack, `usable` bytes, follows it: commits the stack's top and the
/// guard page below it (the guard region itself stays reserved).
pub(super) fn install_guard(addr: usize, len: usize, usable: usize) -> io::Result<()> {
    debug_assert_eq!(len, GUARD_SIZE);
    commit_top(addr + len + usable)
}

/// Commits `[hi - INITIAL_COMMIT, hi)` and makes the page below it a guard.
fn commit_top(hi: usize) -> io::Result<()> {
    // SAFETY: the ranges lie in a reservation of ours, in a stack no
    // goroutine uses.
    unsafe {
        let top = hi - INITIAL_COMMIT;
        if VirtualAlloc(top as *const _, INITIAL_COMMIT, MEM_COMMIT, PAGE_READWRITE).is_null() {
            return Err(io::Error::last_os_error());
        }
        let guard = top - PAGE;
        if VirtualAlloc(
            guard as *const _,
            PAGE,
            MEM_COMMIT,
            PAGE_READWRITE | PAGE_GUARD,
        )
        .is_null()
        {
            return Err(io::Error::last_os_error());
        }
        // The stack's record of its commit depth: back to "initial".
        ((hi - 8) as *mut usize).write(0);
    }
    Ok(())
}

/// Gives the pages of a free stack back (the range stays reserved): everything
/// below the initial commit is decommitted (memory and commit charge), and
/// the stack is set up as new.
pub(super) fn release(addr: usize, len: usize) {
    let hi = addr + len;
    // SAFETY: the stack is free: no goroutine runs on it and nothing points
    // into it; the range is ours.
    unsafe {
        VirtualFree(addr as *mut _, len - INITIAL_COMMIT, MEM_DECOMMIT);
    }
    // Cannot fail short of the system's commit limit; if it does, the stack
    // stays decommitted below its top, and its next goroutine's first touch
    // below the top page faults as an overflow would: report it as one.
    if let Err(e) = commit_top(hi) {
        crate::runtime::fatal(&format!("recommitting a goroutine stack: {e}"));
    }
}
