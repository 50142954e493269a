//! PE/COFF: no `__start_`/`__stop_` symbols. The linker sorts grouped
//! sections `.text$<suffix>` by suffix into `.text` (GNU ld's default script:
//! `*(SORT(.text$*))`; link.exe and lld do the same), so each stretch is the
//! code put in one section (`.text$gortn_m`, no-preemption; `.text$gortc_m`,
//! callback), and a label in a section of its own sorts just before it
//! (`_a`) and one just after (`_z`). No other section name sorts between
//! them.
//!
//! The references below keep the labels through `--gc-sections` in every
//! program, with or without code between them.

use core::arch::global_asm;

global_asm!(
    ".section .text$gortn_a,\"xr\"",
    ".globl gort_nopreempt_start",
    "gort_nopreempt_start:",
    ".section .text$gortn_z,\"xr\"",
    ".globl gort_nopreempt_end",
    "gort_nopreempt_end:",
    ".section .text$gortc_a,\"xr\"",
    ".globl gort_callback_start",
    "gort_callback_start:",
    ".section .text$gortc_z,\"xr\"",
    ".globl gort_callback_end",
    "gort_callback_end:",
    ".text",
);

unsafe extern "C" {
    static gort_nopreempt_start: u8;
    static gort_nopreempt_end: u8;
    static gort_callback_start: u8;
    static gort_callback_end: u8;
}

/// The code in `.text$gortn_m`, `[lo, hi)`.
pub(crate) fn nopreempt_text() -> (usize, usize) {
    (
        &raw const gort_nopreempt_start as usize,
        &raw const gort_nopreempt_end as usize,
    )
}

/// The code in `.text$gortc_m`, `[lo, hi)`.
pub(crate) fn callback_text() -> (usize, usize) {
    (
        &raw const gort_callback_start as usize,
        &raw const gort_callback_end as usize,
    )
}
