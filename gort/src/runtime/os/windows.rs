//! Windows: `WaitOnAddress` (and high-resolution waitable timers for timed
//! waits, `windows_futex.rs`), `QueryPerformanceCounter`, `WriteFile` to the
//! standard error handle, and per-thread set-up.

use core::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
use windows_sys::Win32::System::Diagnostics::Debug::CONTEXT;
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{
    GetCurrentThreadId, OpenThread, THREAD_GET_CONTEXT, THREAD_QUERY_LIMITED_INFORMATION,
    THREAD_SET_CONTEXT, THREAD_SUSPEND_RESUME,
};

pub(crate) use super::windows_futex::{futex_wait, futex_wake};

/// `QueryPerformanceFrequency`: fixed at boot, so read once.
fn qpc_frequency() -> i64 {
    static FREQ: AtomicI64 = AtomicI64::new(0);
    let f = FREQ.load(Ordering::Relaxed);
    if f != 0 {
        return f;
    }
    let mut f = 0i64;
    // SAFETY: a valid out-pointer; never fails on Windows XP and later.
    unsafe { QueryPerformanceFrequency(&mut f) };
    let f = f.max(1);
    FREQ.store(f, Ordering::Relaxed);
    f
}

/// Monotonic time in nanoseconds (the performance counter counts from boot;
/// `max(1)` keeps 0 free as "no time").
#[inline]
pub(crate) fn nanotime() -> i64 {
    let mut t = 0i64;
    // SAFETY: a valid out-pointer; never fails on Windows XP and later.
    unsafe { QueryPerformanceCounter(&mut t) };
    let f = qpc_frequency();
    // Split so that `t * 1e9` cannot overflow (counters tick at ~10 MHz).
    ((t / f) * 1_000_000_000 + (t % f) * 1_000_000_000 / f).max(1)
}

pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: a valid out-pointer; GetSystemInfo cannot fail.
        unsafe {
            let mut si: SYSTEM_INFO = core::mem::zeroed();
            GetSystemInfo(&mut si);
            si.dwPageSize as usize
        }
    })
}

/// Writes `buf` to the standard error handle, looping over short writes. No
/// allocation and no lock: callable from the overflow handler.
pub(crate) fn write_stderr(buf: &[u8]) {
    // SAFETY: GetStdHandle has no preconditions; WriteFile gets a live slice.
    unsafe {
        let h = GetStdHandle(STD_ERROR_HANDLE);
        if h.is_null() || h == INVALID_HANDLE_VALUE {
            return;
        }
        let mut off = 0;
        while off < buf.len() {
            let len = (buf.len() - off).min(u32::MAX as usize) as u32;
            let mut n = 0u32;
            if WriteFile(h, buf[off..].as_ptr(), len, &mut n, core::ptr::null_mut()) == 0 || n == 0
            {
                return;
            }
            off += n as usize;
        }
    }
}

/// Ends the process at once (`__fastfail`: no handler runs, the exit status
/// says so).
pub(crate) fn abort() -> ! {
    std::process::abort()
}

/// Nothing a runtime thread needs undone: Windows dispatches exceptions on the
/// faulting stack (see `stack/windows.rs`), so there is no signal stack.
pub(crate) struct AltStack;

/// Per-thread set-up of a runtime thread (an M): nothing on Windows (no signal
/// stack; timed waits are precise without a slack setting).
pub(crate) fn thread_setup() -> AltStack {
    AltStack
}

/// See `thread_setup`: no signal stack to give a foreign thread either.
pub(crate) fn altstack_setup() -> AltStack {
    AltStack
}

pub(crate) fn thread_teardown(_st: AltStack) {}

/// No timer slack on Windows: timed waits use high-resolution timers.
pub(crate) fn set_timer_slack_ns(_ns: u64) {}

/// The calling thread's id.
///
/// Always inlined: `cgocallback`'s thread check calls it from the callback
/// text, where a preemption must find no Rust code of its own (see
/// `same_thread::tid` there).
#[inline(always)]
pub(crate) fn current_tid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { GetCurrentThreadId() as i32 }
}

/// A thread of this process, opened for suspension and context access; closed
/// on drop. None if it has exited.
pub(crate) struct ThreadHandle(HANDLE);

// SAFETY: a handle is a process-wide value; any thread may use or close it.
unsafe impl Send for ThreadHandle {}

impl ThreadHandle {
    pub(crate) fn open(tid: i32) -> Option<ThreadHandle> {
        // SAFETY: OpenThread takes plain values; a stale id fails or opens a
        // thread that callers then check (they compare its state to an M's).
        let h = unsafe {
            OpenThread(
                THREAD_SUSPEND_RESUME
                    | THREAD_GET_CONTEXT
                    | THREAD_SET_CONTEXT
                    | THREAD_QUERY_LIMITED_INFORMATION,
                0,
                tid as u32,
            )
        };
        (!h.is_null()).then_some(ThreadHandle(h))
    }

    pub(crate) fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for ThreadHandle {
    fn drop(&mut self) {
        // SAFETY: our own handle, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// A `CONTEXT` aligned as Windows requires (16 bytes: the struct's own
/// alignment in windows-sys is 8, and Wine does not check, so a misaligned
/// one would only fail on Windows, `../shared/notes/platforms.md` 2c).
#[repr(C, align(16))]
pub(crate) struct AlignedContext(pub CONTEXT);

/// Threads in this process right now (deadlock detection: every one must be
/// accounted for), or `None` if it cannot be told.
pub(crate) fn thread_count() -> Option<usize> {
    use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
    };
    use windows_sys::Win32::System::Threading::GetCurrentProcessId;
    // SAFETY: a snapshot of every thread in the system, walked with a
    // correctly sized entry and closed at the end.
    unsafe {
        let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snap == INVALID_HANDLE_VALUE {
            return None;
        }
        let me = GetCurrentProcessId();
        let mut e: THREADENTRY32 = core::mem::zeroed();
        e.dwSize = size_of::<THREADENTRY32>() as u32;
        let mut n = 0;
        let mut ok = Thread32First(snap, &mut e) != 0;
        while ok {
            if e.th32OwnerProcessID == me {
                n += 1;
            }
            ok = Thread32Next(snap, &mut e) != 0;
        }
        CloseHandle(snap);
        Some(n)
    }
}
