//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Re-runs the current test binary for exactly `test`, with `GORT_TEST_CHILD=mode`
/// in the environment, and returns its output. The child branch of the test
/// checks the variable and does the crashing thing; the parent asserts on the
/// output. This keeps crash tests as ordinary `#[test]` functions.
pub fn run_child(test: &str, mode: &str, extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = child_command(test, mode, extra_env);
    with_retries(|| cmd.output())
}

/// Runs a process-spawning `f`, retrying a failed spawn under Windows: Wine's
/// CreateProcess now and then fails with ERROR_INTERNAL_ERROR (1359) when a
/// test starts children back to back (seen once in 150 children). A spawn
/// that keeps failing fails the test.
fn with_retries<T>(mut f: impl FnMut() -> std::io::Result<T>) -> T {
    let attempts = if cfg!(windows) { 5 } else { 1 };
    let mut last = None;
    for i in 0..attempts {
        match f() {
            Ok(v) => return v,
            Err(e) => {
                eprintln!("spawn child test process (attempt {}): {e}", i + 1);
                last = Some(e);
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    panic!("spawn child test process: {:?}", last.expect("attempted"));
}

/// The command that re-runs this test binary for exactly `test` as a child
/// in `mode` (ignored tests included: the parent chose to run it).
fn child_command(test: &str, mode: &str, extra_env: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ])
    .env("GORT_TEST_CHILD", mode)
    .env("RUST_BACKTRACE", "0");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

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

/// The crash mode this process was started with, if it is a child.
pub fn child_mode() -> Option<String> {
    std::env::var("GORT_TEST_CHILD").ok()
}

/// How many worker/procs configurations a stress test should try. Honours
/// GORT_PROCS from the environment (CI runs the suite with 1, 2 and 8).
pub fn procs_from_env() -> usize {
    gort::procs()
}

/// Like `run_child`, but kills the child after `timeout`; `None` if it had to.
pub fn run_child_timeout(
    test: &str,
    mode: &str,
    extra_env: &[(&str, &str)],
    timeout: std::time::Duration,
) -> Option<Output> {
    use std::process::Stdio;
    let mut cmd = child_command(test, mode, extra_env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = with_retries(|| cmd.spawn());
    // Drain both pipes while waiting: a child that writes more than a pipe
    // holds (64 KiB: a thousand panic messages) would otherwise block.
    fn drain(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    }
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(Output {
                status,
                stdout: out.join().expect("stdout reader"),
                stderr: err.join().expect("stderr reader"),
            });
        }
        if start.elapsed() > timeout {
            // Say where it hangs before killing it (shown if the test fails).
            eprintln!(
                "child {mode:?} {extra_env:?} hung; its threads:\n{}",
                thread_stacks(child.id())
            );
            ask_for_dump(&child);
            let quit = std::time::Instant::now();
            while quit.elapsed() < std::time::Duration::from_secs(5) {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            let stderr = String::from_utf8_lossy(&stderr);
            let cut = stderr.len().saturating_sub(6000);
            let cut = (cut..stderr.len())
                .find(|&i| stderr.is_char_boundary(i))
                .unwrap_or(0);
            eprintln!("its stderr after SIGQUIT (tail):\n{}", &stderr[cut..]);
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Asks a hung child for its goroutine dump (SIGQUIT), which it prints on
/// stderr before exiting.
#[cfg(unix)]
fn ask_for_dump(child: &std::process::Child) {
    // SAFETY: signalling our own child, which has not been reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
}

/// Windows: the dump is on Ctrl-Break, which only reaches a console process
/// group the child would have to be started in; it is just killed.
#[cfg(windows)]
fn ask_for_dump(_child: &std::process::Child) {}

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

/// The value of `key=<u64>` in a child's stdout.
pub fn stdout_value(out: &Output, key: &str) -> Option<u64> {
    let s = String::from_utf8_lossy(&out.stdout);
    let pat = format!("{key}=");
    let i = s.find(&pat)? + pat.len();
    s[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `run_child_timeout` for a child that must finish and succeed: panics with
/// `what` if it hangs past `timeout`, with its stderr if it fails.
pub fn run_child_ok(
    test: &str,
    mode: &str,
    extra_env: &[(&str, &str)],
    timeout: std::time::Duration,
    what: &str,
) -> Output {
    let out = run_child_timeout(test, mode, extra_env, timeout)
        .unwrap_or_else(|| panic!("{what}: child {mode:?} {extra_env:?} hung"));
    assert!(
        out.status.success(),
        "{what}: child {mode:?} {extra_env:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
