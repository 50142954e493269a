//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Re-runs the current test binary for exactly `test`, with `GORT_TEST_CHILD=mode`
/// in the environment, and returns its output. The child branch of the test
/// checks the variable and does the crashing thing; the parent asserts on the
/// output. This keeps crash tests as ordinary `#[test]` functions.
pub fn run_child(test: &str, mode: &str, extra_env: &[(&str, &str)]) -> Output {
    child_command(test, mode, extra_env)
        .output()
        .expect("spawn child test process")
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
    let mut child = cmd.spawn().expect("spawn child test process");
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
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
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
