//! The current M in a TLS slot of the TEB (`TlsAlloc`), read with one
//! `GS:`-relative load.
//!
//! Rust's `thread_local!` on this target goes through std's OS-key path (a
//! call into std, then `TlsGetValue`), so code in the no-preemption text that
//! read the M through it would not be a leaf: stopped inside std's accessor
//! and resumed on another thread, a goroutine would go on with the old
//! thread's M (see `m::acquirem`). A slot below 64 lives in the TEB's
//! `TlsSlots` array at `gs:[0x1480 + 8 * index]`, so reading it is a single
//! instruction, like the `FS:` load on Linux. A slot above 63 (a process
//! that used up the first 64 before the runtime started) lives in the
//! `TlsExpansionSlots` array that `gs:[0x1780]` points to: two loads, still
//! inside whatever function does the read.

use crate::runtime::m::M;
use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};
use windows_sys::Win32::System::Threading::{TLS_OUT_OF_INDEXES, TlsAlloc, TlsSetValue};

/// The slot, or `UNSET` before the first `set` (no thread has an M then).
static INDEX: AtomicU32 = AtomicU32::new(UNSET);
const UNSET: u32 = u32::MAX;
/// Slots in the TEB itself (`TLS_MINIMUM_AVAILABLE`).
const TEB_SLOTS: u32 = 64;

/// The current thread's M, or null.
#[inline(always)]
pub(crate) fn get() -> *mut M {
    let i = INDEX.load(Ordering::Relaxed);
    let m: *mut M;
    if i < TEB_SLOTS {
        // SAFETY: reads this thread's own TEB slot `i` (zero until `set`).
        // Not `pure`: the value changes under a goroutine that moves threads.
        unsafe {
            asm!(
                "mov {m}, qword ptr gs:[0x1480 + {i} * 8]",
                i = in(reg) i as usize,
                m = out(reg) m,
                options(nostack, readonly, preserves_flags),
            );
        }
        m
    } else {
        get_slow(i)
    }
}

#[cold]
#[inline(never)]
fn get_slow(i: u32) -> *mut M {
    if i == UNSET {
        return core::ptr::null_mut();
    }
    let m: *mut M;
    // SAFETY: the TEB's expansion array exists once a slot above 63 was
    // allocated and set on this thread; a null array means never set here.
    unsafe {
        asm!(
            "mov {m}, qword ptr gs:[0x1780]",
            "test {m}, {m}",
            "jz 2f",
            "mov {m}, qword ptr [{m} + {j} * 8]",
            "2:",
            j = in(reg) (i - TEB_SLOTS) as usize,
            m = out(reg) m,
            options(nostack, readonly),
        );
    }
    m
}

/// Makes `m` the current thread's M.
pub(crate) fn set(m: *mut M) {
    // SAFETY: `index` is a slot of ours; TlsSetValue writes this thread's copy.
    unsafe { TlsSetValue(index(), m.cast()) };
}

/// The slot, allocated on first use (once for the process).
fn index() -> u32 {
    static ALLOC: std::sync::Once = std::sync::Once::new();
    ALLOC.call_once(|| {
        // SAFETY: no preconditions.
        let i = unsafe { TlsAlloc() };
        if i == TLS_OUT_OF_INDEXES {
            crate::runtime::fatal("TlsAlloc: no thread-local slot left for the runtime");
        }
        INDEX.store(i, Ordering::Relaxed);
    });
    INDEX.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot the runtime gets is one of the TEB's own (one load), and the
    /// asm read sees what `TlsSetValue` wrote, per thread.
    #[test]
    fn the_slot_is_in_the_teb_and_per_thread() {
        let fake = 0x1230usize as *mut M;
        set(fake);
        assert!(INDEX.load(Ordering::Relaxed) < TEB_SLOTS);
        assert_eq!(get(), fake);
        std::thread::spawn(|| assert!(get().is_null()))
            .join()
            .unwrap();
        set(core::ptr::null_mut());
        assert!(get().is_null());
    }
}
