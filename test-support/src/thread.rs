//! Facts about OS threads and processes, read from the OS itself (nothing a
//! runtime bug could fake).

/// The kernel's id of the calling OS thread, read by a system call each time
/// (nothing a compiler could cache across a goroutine switch).
#[cfg(unix)]
pub fn os_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

/// See the Unix version.
#[cfg(windows)]
pub fn os_tid() -> u64 {
    // SAFETY: no preconditions.
    u64::from(unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadId() })
}

/// Is thread `tid` (an `os_tid`) of this process still running?
#[cfg(target_os = "linux")]
pub fn thread_alive(tid: u64) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// See the Linux version.
#[cfg(windows)]
pub fn thread_alive(tid: u64) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeThread, OpenThread, THREAD_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: plain handle calls on a handle we own and close.
    unsafe {
        let h = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, 0, tid as u32);
        if h.is_null() {
            return false;
        }
        let mut code = 0u32;
        let ok = GetExitCodeThread(h, &mut code) != 0;
        CloseHandle(h);
        ok && code == STILL_ACTIVE as u32
    }
}

/// How a child process ended, in the terms the tests assert on.
#[derive(Debug, PartialEq, Eq)]
pub enum Death {
    /// `abort()`: SIGABRT on Unix; `__fastfail` (STATUS_STACK_BUFFER_OVERRUN,
    /// which std's abort raises) on Windows.
    Abort,
    /// An invalid memory access nobody handled: SIGSEGV; STATUS_ACCESS_VIOLATION.
    Segfault,
    /// Anything else: an exit status, another signal.
    Other(String),
}

#[cfg(unix)]
pub fn death(status: std::process::ExitStatus) -> Death {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGABRT) => Death::Abort,
        Some(libc::SIGSEGV) => Death::Segfault,
        _ => Death::Other(format!("{status:?}")),
    }
}

#[cfg(windows)]
pub fn death(status: std::process::ExitStatus) -> Death {
    match status.code().map(|c| c as u32) {
        Some(0xC000_0409) => Death::Abort,
        Some(0xC000_0005) => Death::Segfault,
        _ => Death::Other(format!("{status:?}")),
    }
}

/// The stacks of every thread of process `pid`, from gdb if it is installed
/// (empty if it is not, or may not attach),
/// grouped: threads with the same innermost frames are one line with a count
/// (a hang has hundreds of idle Ms and a few threads that matter).
pub fn thread_stacks(pid: u32) -> String {
    // Bounded: attaching to a process with a thousand threads takes a while,
    // and a wedged gdb must not hang the test in turn.
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "gdb",
            "-p",
            &pid.to_string(),
            "-batch",
            "-nx",
            "-ex",
            "thread apply all bt 12",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    let Ok(out) = out else {
        return "(could not run timeout/gdb)".into();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut groups: Vec<(String, usize)> = Vec::new();
    let mut flush = |frames: &mut Vec<String>| {
        if frames.is_empty() {
            return;
        }
        let key = frames.join(" < ");
        frames.clear();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some(g) => g.1 += 1,
            None => groups.push((key, 1)),
        }
    };
    let mut frames = Vec::new();
    for line in text.lines() {
        if line.starts_with("Thread ") {
            flush(&mut frames);
        } else if let Some(rest) = line.strip_prefix('#') {
            // "#3  0x... in name (args) at file:line" or "#0  name (args) ...".
            let rest = rest.split_once(' ').map_or("", |(_, r)| r).trim_start();
            let rest = rest
                .split_once(" in ")
                .map_or(rest, |(a, r)| if a.starts_with("0x") { r } else { rest });
            // Without generic arguments: the path is enough to tell frames apart.
            let name = rest.split(" (").next().unwrap_or(rest);
            let name = name.split('<').next().unwrap_or(name);
            let at = rest.rsplit_once(" at ").map(|(_, l)| l);
            frames.push(match at {
                Some(l) => format!("{name} @{}", l.rsplit('/').next().unwrap_or(l)),
                None => name.to_string(),
            });
        }
    }
    flush(&mut frames);
    groups.iter().map(|(k, n)| format!("{n} x {k}\n")).collect()
}
