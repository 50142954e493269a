//! The current M in a `thread_local!` (no asm reads it on these targets).

use crate::runtime::m::M;
use core::cell::Cell;

thread_local! {
    static CURRENT_M: Cell<*mut M> = const { Cell::new(core::ptr::null_mut()) };
}

/// The current thread's M, or null.
#[inline(always)]
pub(crate) fn get() -> *mut M {
    CURRENT_M.with(|c| c.get())
}

/// Makes `m` the current thread's M.
#[inline(always)]
pub(crate) fn set(m: *mut M) {
    CURRENT_M.with(|c| c.set(m));
}
