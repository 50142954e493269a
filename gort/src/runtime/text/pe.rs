//! PE/COFF: no `__start_`/`__stop_` symbols. The linker sorts the grouped
//! sections `.text$<suffix>` by suffix into `.text` (GNU ld's default script:
//! `*(SORT(.text$*))`; link.exe and lld do the same), so each stretch is the
//! code put in `.text$gort_<name>_1`, and two marker sections sort around
//! it: `.text$gort_<name>_0` holds the start label, `.text$gort_<name>_2` the
//! end label (one `int3` each, so that no linker treats them as empty). No
//! other section name sorts between them.
//!
//! The markers are referenced from here, so `--gc-sections` keeps them in
//! every program, with or without code between them.

use core::arch::global_asm;

global_asm!(
    ".section .text$gort_nopreempt_0,\"xr\"",
    ".globl __gort_nopreempt_text_start",
    "__gort_nopreempt_text_start:",
    "int3",
    ".section .text$gort_nopreempt_2,\"xr\"",
    ".globl __gort_nopreempt_text_end",
    "__gort_nopreempt_text_end:",
    "int3",
    ".section .text$gort_callback_0,\"xr\"",
    ".globl __gort_callback_text_start",
    "__gort_callback_text_start:",
    "int3",
    ".section .text$gort_callback_2,\"xr\"",
    ".globl __gort_callback_text_end",
    "__gort_callback_text_end:",
    "int3",
    ".text",
);

unsafe extern "C" {
    static __gort_nopreempt_text_start: u8;
    static __gort_nopreempt_text_end: u8;
    static __gort_callback_text_start: u8;
    static __gort_callback_text_end: u8;
}

/// The code in `.text$gort_nopreempt_1`, `[lo, hi)` (and the start
/// marker's `int3`).
pub(crate) fn nopreempt_text() -> (usize, usize) {
    (
        &raw const __gort_nopreempt_text_start as usize,
        &raw const __gort_nopreempt_text_end as usize,
    )
}

/// The code in `.text$gort_callback_1`, `[lo, hi)` (and the start
/// marker's `int3`).
pub(crate) fn callback_text() -> (usize, usize) {
    (
        &raw const __gort_callback_text_start as usize,
        &raw const __gort_callback_text_end as usize,
    )
}
