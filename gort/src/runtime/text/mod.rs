//! The two stretches of the runtime's code that a preemption must recognise
//! by PC, and how each object format bounds them.
//!
//! - The **no-preemption text** holds leaf functions that read the current
//!   M and act on it in one step (`m::acquirem`, `m::acquire_switch`,
//!   `sched::count_goroutines`, `cgocallback::enter_fast`, and on Linux the
//!   asm entry shims of `ffi::abi`): a preemption stopped inside one and
//!   resumed on another thread would act on the old thread's M, so none is
//!   ever stopped there (`m::in_nopreempt_text`).
//! - The **callback text** holds only code that runs between a foreign
//!   caller's call into a callback and the return to it (`ffi`'s stub
//!   table, shims and thunks, `cgocallback`'s slow path and its unwiring): a
//!   goroutine stopped there is inside a callback whatever its mark says, so
//!   the preemption wires it to its thread (`m::in_callback_text`).
//!
//! Code is put there with `#[link_section]`, one attribute per object
//! format on each item, since the attribute takes a literal:
//! ```text
//! #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
//! #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
//! ```
//! (`gort_nopreempt` and `.text$gortn_m` for the other). Each
//! platform file returns the two ranges, `[lo, hi)`: ELF from the linker's
//! `__start_`/`__stop_` symbols (`elf.rs`), PE from marker sections sorted
//! around the code (`pe.rs`). Elsewhere both are empty (no asynchronous
//! preemption there yet).

#[cfg(target_os = "linux")]
mod elf;
#[cfg(target_os = "linux")]
pub(crate) use elf::*;

#[cfg(windows)]
mod pe;
#[cfg(windows)]
pub(crate) use pe::*;

#[cfg(not(any(target_os = "linux", windows)))]
mod none;
#[cfg(not(any(target_os = "linux", windows)))]
pub(crate) use none::*;
