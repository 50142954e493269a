//! Stack memory on Unix: reserve with `mmap`, guard with `MADV_GUARD_INSTALL`
//! (Linux ≥ 6.13) or `mprotect`, release with `MADV_DONTNEED`.

use core::sync::atomic::{AtomicBool, Ordering};
use std::io;

/// `MADV_GUARD_INSTALL` (include/uapi/asm-generic/mman-common.h, Linux 6.13):
/// turns a range into guard pages without splitting the VMA.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Cleared the first time the kernel refuses `MADV_GUARD_INSTALL` (EINVAL on older
/// kernels); from then on guards are installed with `mprotect`.
static GUARD_ADVICE_WORKS: AtomicBool = AtomicBool::new(cfg!(target_os = "linux"));

/// Reserves `len` bytes of address space, committed lazily by the kernel.
pub(super) fn reserve(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh anonymous mapping; nothing else refers to the range.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Transparent huge pages would turn the first touch of a stack into a 2 MiB
        // commit; stacks want 4 KiB granularity.
        #[cfg(target_os = "linux")]
        libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
        Ok(p as usize)
    }
}

/// Size of the guard region below each stack: one page (the fault handler
/// runs on the thread's signal stack, not here).
pub(super) fn guard_size() -> usize {
    crate::runtime::os::page_size()
}

/// Makes `[addr, addr+len)` a guard region: any access faults. (The usable
/// stack above it, `_usable` bytes, is already there: the reservation is
/// readable and writable, committed by the kernel as it is touched.)
pub(super) fn install_guard(addr: usize, len: usize, _usable: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if GUARD_ADVICE_WORKS.load(Ordering::Relaxed) {
        // SAFETY: the range lies in a reservation we own and is not in use.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
        GUARD_ADVICE_WORKS.store(false, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE) };
    if r != 0 {
        // ENOMEM here means the process hit vm.max_map_count.
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the pages of a free stack back to the kernel (the range stays reserved
/// and reads back as zeroes; guard pages are unaffected).
pub(super) fn release(addr: usize, len: usize) {
    // SAFETY: the stack is free: no goroutine runs on it and nothing points into it.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}
