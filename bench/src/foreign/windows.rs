//! The foreign thread on Windows: `CreateThread` with the default stack.

use super::Start;
use std::ffi::c_void;
use windows_sys::Win32::Foundation::{CloseHandle, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{CreateThread, INFINITE, WaitForSingleObject};

unsafe extern "system" fn entry(p: *mut c_void) -> u32 {
    // SAFETY: `p` is the `Start` of `run`, which waits for this thread.
    let s = unsafe { &*p.cast::<Start>() };
    (s.f)(s.arg);
    0
}

/// # Safety
/// As `run_on_foreign_thread`.
pub(super) unsafe fn run(f: extern "C" fn(*mut c_void), arg: *mut c_void) {
    let mut start = Start { f, arg };
    // SAFETY: default security and stack size; `start` outlives the thread
    // (waited for below).
    let h = unsafe {
        CreateThread(
            std::ptr::null(),
            0,
            Some(entry),
            (&raw mut start).cast(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert!(!h.is_null(), "CreateThread failed");
    // SAFETY: `h` is the thread created above, closed once after its end.
    unsafe {
        assert_eq!(
            WaitForSingleObject(h, INFINITE),
            WAIT_OBJECT_0,
            "wait for thread"
        );
        CloseHandle(h);
    }
}
