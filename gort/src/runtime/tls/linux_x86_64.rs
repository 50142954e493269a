//! The current M in a thread-local word defined in asm, `__gort_tls_m`, so
//! that asm can read it as cheaply as Rust (`ffi::abi`'s entry shims).
//!
//! Accessed with the initial-exec model (`sym@GOTTPOFF`, then one `FS:`
//! load): the linker turns it into local-exec (a constant offset) in an
//! executable, and in a shared object it needs the word in the static TLS
//! block, which glibc provides for objects loaded at start-up and, from its
//! reserve, for ones loaded later with `dlopen` (8 bytes). Rust's own
//! `thread_local!` would compile to the same two loads in an executable, but
//! its symbol cannot be named from asm on stable Rust.
//!
//! Each access is a single `FS:`-relative instruction, so no preemption can
//! land between finding the thread's block and reading it (a goroutine
//! resumed on another thread then would read the old thread's word); what a
//! caller does with the M afterwards is its own business (see `m::getm`).

use crate::runtime::m::M;
use core::arch::{asm, global_asm};

global_asm!(
    ".pushsection .tbss.__gort_tls_m,\"awT\",@nobits",
    ".p2align 3",
    ".globl __gort_tls_m",
    ".hidden __gort_tls_m",
    ".type __gort_tls_m, @object",
    ".size __gort_tls_m, 8",
    "__gort_tls_m:",
    ".zero 8",
    ".popsection",
);

/// Asm that loads the current thread's M (or null) into general register
/// `$reg` (a string literal, Intel syntax), for other asm (`ffi::abi`).
macro_rules! tls_load_m {
    ($reg:literal) => {
        concat!(
            "mov ",
            $reg,
            ", qword ptr [rip + __gort_tls_m@GOTTPOFF]\n",
            "mov ",
            $reg,
            ", qword ptr fs:[",
            $reg,
            "]",
        )
    };
}
pub(crate) use tls_load_m;

/// The current thread's M, or null.
#[inline(always)]
pub(crate) fn get() -> *mut M {
    let m: *mut M;
    // SAFETY: reads this thread's own word (zero until `set`). Not `pure`:
    // the value changes under a goroutine that moves threads, so two reads
    // must not be merged across a switch.
    unsafe {
        asm!(
            tls_load_m!("{m}"),
            m = out(reg) m,
            options(nostack, readonly, preserves_flags),
        );
    }
    m
}

/// Makes `m` the current thread's M.
#[inline(always)]
pub(crate) fn set(m: *mut M) {
    // SAFETY: writes this thread's own word.
    unsafe {
        asm!(
            "mov {t}, qword ptr [rip + __gort_tls_m@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {m}",
            t = out(reg) _,
            m = in(reg) m,
            options(nostack, preserves_flags),
        );
    }
}
