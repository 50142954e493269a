//! The foreign thread on Unix: `pthread_create` with default attributes.

use super::Start;
use std::ffi::c_void;

extern "C" fn entry(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the `Start` of `run`, which waits in pthread_join.
    let s = unsafe { &*p.cast::<Start>() };
    (s.f)(s.arg);
    std::ptr::null_mut()
}

/// # Safety
/// As `run_on_foreign_thread`.
pub(super) unsafe fn run(f: extern "C" fn(*mut c_void), arg: *mut c_void) {
    let mut start = Start { f, arg };
    let mut tid: libc::pthread_t = 0;
    // SAFETY: default attributes; `start` outlives the thread (joined below).
    let rc =
        unsafe { libc::pthread_create(&mut tid, std::ptr::null(), entry, (&raw mut start).cast()) };
    assert_eq!(rc, 0, "pthread_create failed");
    // SAFETY: `tid` is a joinable thread created above.
    let rc = unsafe { libc::pthread_join(tid, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_join failed");
}
