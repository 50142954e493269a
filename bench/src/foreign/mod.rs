//! A thread the Rust runtime did not make (pthread_create on Unix,
//! CreateThread on Windows), as a C library's thread would be: for the
//! `qsort` workload's calls from a foreign thread.

use std::ffi::c_void;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

/// Runs `f(arg)` on a new foreign thread and waits for it to end.
///
/// # Safety
/// `arg` stays valid for `f` until this returns (it waits for the thread).
pub unsafe fn run_on_foreign_thread(f: extern "C" fn(*mut c_void), arg: *mut c_void) {
    // SAFETY: per the contract.
    unsafe { imp::run(f, arg) }
}

/// What the foreign thread's entry gets: the function and its argument.
struct Start {
    f: extern "C" fn(*mut c_void),
    arg: *mut c_void,
}
