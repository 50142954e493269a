//! Windows: `WaitOnAddress` (and high-resolution waitable timers for timed
//! waits, `windows_futex.rs`), `QueryPerformanceCounter`, `WriteFile` to the
//! standard error handle, and per-thread set-up.

use core::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
use windows_sys::Win32::System::Diagnostics::Debug::CONTEXT;
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{
    GetCurrentThreadId, GetThreadTimes, OpenThread, THREAD_GET_CONTEXT,
    THREAD_QUERY_LIMITED_INFORMATION, THREAD_SET_CONTEXT, THREAD_SUSPEND_RESUME,
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
pub(crate) fn current_tid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { GetCurrentThreadId() as i32 }
}

/// A thread of this process, opened for suspension and context access; closed
/// on drop. None if it has exited.
pub(crate) struct ThreadHandle(HANDLE);

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

/// Per thread sampled by `thread_blocked`: the CPU time it had used, and
/// since when (`nanotime`) it has had exactly that much.
static CPU_SEEN: Mutex<Vec<(i32, u64, i64)>> = Mutex::new(Vec::new());

/// A thread whose CPU time has not moved for this long is taken as blocked.
/// Thread times tick in 10 ms (Wine: the kernel's jiffies) to 15.6 ms (the
/// Windows clock interrupt) steps, so a running thread can look still for
/// one step, not for several.
const STILL_NS: i64 = 50_000_000;

/// True if thread `tid` of this process looks blocked in the kernel: its CPU
/// time (kernel and user, `GetThreadTimes`) has not changed for `STILL_NS`
/// (sysmon asks once per tick while the thread's P has not switched for
/// 10 ms, so a preempted goroutine behind a blocked thread is released after
/// ~60 ms here, against ~10 ms on Linux). Windows offers no cheap query of a
/// thread's scheduling state that Wine implements (thread cycle time reads
/// as 0 there). A runnable thread the OS does not get to run for 50 ms would
/// also count, which on Linux it does not. Not async-signal-safe (locks,
/// allocates).
pub(crate) fn thread_blocked(tid: i32) -> bool {
    let Some(h) = ThreadHandle::open(tid) else {
        return false;
    };
    let mut t = [0u64; 4];
    // SAFETY: our handle; four out-pointers to FILETIME-sized slots.
    let ok = unsafe {
        GetThreadTimes(
            h.raw(),
            (&mut t[0] as *mut u64).cast(),
            (&mut t[1] as *mut u64).cast(),
            (&mut t[2] as *mut u64).cast(),
            (&mut t[3] as *mut u64).cast(),
        ) != 0
    };
    if !ok {
        return false;
    }
    let cpu = t[2] + t[3];
    let now = nanotime();
    let mut seen = CPU_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    match seen.iter_mut().find(|e| e.0 == tid) {
        Some(e) if e.1 == cpu => now - e.2 >= STILL_NS,
        Some(e) => {
            *e = (tid, cpu, now);
            false
        }
        None => {
            if seen.len() >= 256 {
                seen.clear();
            }
            seen.push((tid, cpu, now));
            false
        }
    }
}
