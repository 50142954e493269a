//! Linux: futexes, `CLOCK_MONOTONIC`, raw `write(2)`, and per-thread set-up.
//!
//! The futex calls use the `*_PRIVATE` variants: every word lives in this process,
//! and private futexes skip the kernel's shared-mapping lookup.

use core::sync::atomic::AtomicU32;
use std::sync::OnceLock;

/// Sleeps while `*word == expected`, for at most `timeout_ns` nanoseconds if given.
/// Returns on a wake, a timeout, a signal, or at once if the word already differs.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: Option<i64>) {
    let ts;
    let tsp = match timeout_ns {
        Some(ns) => {
            let ns = ns.max(0);
            ts = libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => core::ptr::null(),
    };
    // SAFETY: `word` is a live, aligned u32 for the duration of the call; the
    // kernel only reads it. The timeout (if any) lives on this stack frame.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
}

/// Wakes up to `n` threads sleeping in `futex_wait` on `word`.
/// Calling it on an address whose owner has since freed it is harmless: at worst a
/// spurious wake-up for whoever sleeps there now.
pub(crate) fn futex_wake(word: *const AtomicU32, n: i32) {
    // SAFETY: FUTEX_WAKE never dereferences the address in user space.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const u32,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC counts from boot, so never 0).
#[inline]
pub(crate) fn nanotime() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

/// Async-signal-safe write of `buf` to stderr (loops over short writes).
pub(crate) fn write_stderr(buf: &[u8]) {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer/length pair comes from a live slice.
        let n = unsafe { libc::write(2, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n <= 0 {
            // EINTR: retry; anything else: give up quietly (nothing better to do).
            // SAFETY: reading errno is always allowed.
            if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            return;
        }
        off += n as usize;
    }
}

/// Async-signal-safe abort.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// Size of the alternate signal stack given to runtime threads that lack one.
/// 64 KiB: the overflow handler only formats a line, but chained handlers (std's)
/// and sanitizers want more than MINSIGSTKSZ.
const SIGALTSTACK_SIZE: usize = 64 * 1024;

/// Per-thread set-up for a runtime thread (an M).
///
/// - Makes sure the thread has an alternate signal stack, so the guard-page handler
///   can run when a goroutine's stack is exhausted (std gives its own threads one
///   when it installed its handler, but that is not a contract).
/// - Sets the timer slack to 1 µs: idle Ms sleep until the next timer, and the
///   default 50 µs slack would be added to every sleeper's wake-up.
pub(crate) fn thread_setup() -> AltStack {
    let ours = altstack_setup();
    set_timer_slack_ns(1_000);
    ours
}

/// Gives the current thread an alternate signal stack unless it has one big
/// enough (`thread_setup`'s first half: also for threads the runtime lends an
/// M to, whose other settings are their owner's).
pub(crate) fn altstack_setup() -> AltStack {
    let mut ours = AltStack(None);
    // SAFETY: querying the current alternate stack with a null new-stack pointer.
    unsafe {
        let mut old: libc::stack_t = core::mem::zeroed();
        libc::sigaltstack(core::ptr::null(), &mut old);
        if old.ss_flags & libc::SS_DISABLE != 0 || old.ss_size < SIGALTSTACK_SIZE / 2 {
            let page = page_size();
            let len = SIGALTSTACK_SIZE + page;
            let mem = libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem != libc::MAP_FAILED {
                // A guard page below the signal stack: an overflowing handler faults
                // instead of scribbling over whatever is mapped below.
                libc::mprotect(mem, page, libc::PROT_NONE);
                let st = libc::stack_t {
                    ss_sp: mem.cast::<u8>().add(page).cast(),
                    ss_flags: 0,
                    ss_size: SIGALTSTACK_SIZE,
                };
                if libc::sigaltstack(&st, core::ptr::null_mut()) == 0 {
                    ours = AltStack(Some((mem as usize, len)));
                } else {
                    libc::munmap(mem, len);
                }
            }
        }
    }
    ours
}

/// The signal stack `thread_setup` mapped, if it had to.
pub(crate) struct AltStack(Option<(usize, usize)>);

/// Undoes `thread_setup` on a runtime thread about to exit: the signal stack
/// it mapped is switched off and unmapped (the kernel would otherwise deliver
/// a signal onto freed memory, and the mapping would leak).
pub(crate) fn thread_teardown(st: AltStack) {
    if let Some((mem, len)) = st.0 {
        // SAFETY: the mapping is ours and, once disabled, no longer in use (this
        // thread runs on its own stack, not inside a handler).
        unsafe {
            let off = libc::stack_t {
                ss_sp: core::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&off, core::ptr::null_mut());
            libc::munmap(mem as *mut libc::c_void, len);
        }
    }
}

/// Sets how late the kernel may fire this thread's timed sleeps.
pub(crate) fn set_timer_slack_ns(ns: u64) {
    // SAFETY: prctl with a plain integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong) };
}

/// Sends `sig` to thread `tid` of this process (async-signal-safe). By kernel
/// id, not `pthread_t`: an M can exit (`lock_os_thread`), and a racing sender
/// then gets `ESRCH` where `pthread_kill` would read a freed descriptor.
pub(crate) fn signal_thread(tid: i32, sig: libc::c_int) {
    // SAFETY: tgkill takes plain integers; a stale tid only fails.
    unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid() as libc::c_long,
            tid as libc::c_long,
            sig as libc::c_long,
        )
    };
}

/// A loaded object (the executable or a shared library), as the dynamic
/// loader sees it.
pub(crate) struct LoadedObject {
    /// Its load address: what its symbol values and segment addresses are
    /// relative to.
    pub base: usize,
    /// Its code: `[lo, hi)` of its executable `PT_LOAD` segments.
    pub text: (usize, usize),
    /// The file it was loaded from (`/proc/self/exe` for the executable).
    pub path: std::path::PathBuf,
}

/// The loaded object with a `PT_LOAD` segment containing `addr`.
pub(crate) fn loaded_object(addr: usize) -> Option<LoadedObject> {
    struct Find {
        addr: usize,
        found: Option<LoadedObject>,
    }
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info; `data` is our `Find`.
        unsafe {
            let f = &mut *data.cast::<Find>();
            let base = (*info).dlpi_addr as usize;
            let phdrs = core::slice::from_raw_parts((*info).dlpi_phdr, (*info).dlpi_phnum as usize);
            let (mut lo, mut hi) = (usize::MAX, 0);
            let mut contains = false;
            for ph in phdrs.iter().filter(|ph| ph.p_type == libc::PT_LOAD) {
                let s = base + ph.p_vaddr as usize;
                let e = s + ph.p_memsz as usize;
                contains |= (s..e).contains(&f.addr);
                if ph.p_flags & libc::PF_X != 0 {
                    lo = lo.min(s);
                    hi = hi.max(e);
                }
            }
            if !contains {
                return 0;
            }
            let name = (*info).dlpi_name;
            let path = if name.is_null() || *name == 0 {
                // The main program.
                std::path::PathBuf::from("/proc/self/exe")
            } else {
                use std::os::unix::ffi::OsStrExt;
                let c = core::ffi::CStr::from_ptr(name);
                std::path::PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes()))
            };
            let text = if lo < hi { (lo, hi) } else { (0, 0) };
            f.found = Some(LoadedObject { base, text, path });
            1
        }
    }
    let mut f = Find { addr, found: None };
    // SAFETY: the callback only reads the headers it is given.
    unsafe { libc::dl_iterate_phdr(Some(cb), (&mut f as *mut Find).cast()) };
    f.found
}

/// The executable code (`[lo, hi)` of its executable `PT_LOAD` segments) of the
/// loaded object containing `addr`; `(0, 0)` if not found.
pub(crate) fn text_range(addr: usize) -> (usize, usize) {
    loaded_object(addr).map_or((0, 0), |o| o.text)
}

/// The calling thread's kernel id.
///
/// Always inlined: `cgocallback`'s thread check calls it from the callback
/// text, where a preemption must find no Rust code of its own (see
/// `same_thread::tid` there).
#[inline(always)]
pub(crate) fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// True if thread `tid` of this process is blocked in the kernel (sleeping or
/// in uninterruptible wait), false if it is running or runnable (or unknown).
/// Not async-signal-safe (reads `/proc`).
pub(crate) fn thread_blocked(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // "tid (comm) S ...": the state follows the last ')' (comm may contain one).
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    matches!(state, Some('S' | 'D'))
}

/// Threads in this process right now (deadlock detection: every one must be
/// accounted for), or `None` if it cannot be told.
pub(crate) fn thread_count() -> Option<usize> {
    // One directory entry per thread; `.` and `..` are not listed by read_dir.
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}
