//! Child test processes: a test re-runs its own binary for exactly itself,
//! with [`CHILD_ENV`] naming the role the child plays; the child branch of
//! the test does the crashing (or hanging, or fresh-process) thing and the
//! parent asserts on its output. Crash tests stay ordinary `#[test]`s.

use std::io::Read;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable that selects a child process's role.
pub const CHILD_ENV: &str = "GORT_TEST_CHILD";

/// The role this process was started with, if it is a child.
pub fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
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

/// One child run of test `test` in role `mode`.
pub struct Child {
    test: String,
    mode: String,
    env: Vec<(String, String)>,
}

impl Child {
    /// The child that runs `test` (its full name, matched exactly; ignored
    /// tests included: the parent chose to run it) with `CHILD_ENV=mode`.
    pub fn new(test: &str, mode: &str) -> Child {
        Child {
            test: test.into(),
            mode: mode.into(),
            env: Vec::new(),
        }
    }

    /// More environment for the child.
    pub fn envs(mut self, env: &[(&str, &str)]) -> Child {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Runs the child to its end, however long it takes.
    pub fn output(&self) -> Output {
        self.run(None).expect("no limit")
    }

    /// Runs the child for at most `limit`. `None` if it was still running:
    /// its threads' stacks (gdb) and its goroutine dump (SIGQUIT, on Unix)
    /// were printed on stderr, and it was killed.
    pub fn output_within(&self, limit: Duration) -> Option<Output> {
        self.run(Some(limit))
    }

    fn command(&self) -> Command {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            self.test.as_str(),
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &self.mode)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the child again when the OS failed to start it at all (see
    /// [`START_ATTEMPTS`]); a child that keeps failing to start fails the test.
    fn run(&self, limit: Option<Duration>) -> Option<Output> {
        let mut cmd = self.command();
        for attempt in 1..=START_ATTEMPTS {
            let last = attempt == START_ATTEMPTS;
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) if !last => {
                    eprintln!("start child {} (attempt {attempt}): {e}", self.mode);
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                Err(e) => panic!("start child {}: {e}", self.mode),
            };
            let out = drain(child.stdout.take().expect("piped stdout"));
            let err = drain(child.stderr.take().expect("piped stderr"));
            let start = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait for child") {
                    break status;
                }
                if limit.is_some_and(|l| start.elapsed() > l) {
                    self.report_hang(child, out, err);
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let output = Output {
                status,
                stdout: out.join().expect("stdout reader"),
                stderr: err.join().expect("stderr reader"),
            };
            if !last && never_started(&output) {
                eprintln!(
                    "child {} never started (attempt {attempt}): {}",
                    self.mode, output.status
                );
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            return Some(output);
        }
        unreachable!("the last attempt returns")
    }

    /// Says where a hung child is stuck, then kills it.
    fn report_hang(
        &self,
        mut child: std::process::Child,
        out: JoinHandle<Vec<u8>>,
        err: JoinHandle<Vec<u8>>,
    ) {
        eprintln!(
            "child {:?} {:?} hung; its threads:\n{}",
            self.mode,
            self.env,
            crate::thread_stacks(child.id())
        );
        ask_for_dump(&child);
        let quit = Instant::now();
        while quit.elapsed() < Duration::from_secs(5) {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        eprintln!(
            "its stdout (tail):\n{}\nits stderr after the dump request (tail):\n{}",
            tail(&String::from_utf8_lossy(&stdout), 2000),
            tail(&String::from_utf8_lossy(&stderr), 6000)
        );
    }
}

/// How many times a child is started before a start failure fails the test.
/// Wine now and then fails to start a process when a test starts children
/// back to back: CreateProcess returns ERROR_INTERNAL_ERROR (1359), seen once
/// in 150 children, or the child dies in DLL initialisation before any code
/// of ours runs (see [`never_started`]), seen once in about 2000 in CI.
/// Elsewhere a start failure is a real failure.
const START_ATTEMPTS: usize = if cfg!(windows) { 5 } else { 1 };

/// Did the child die before its `main`? STATUS_DLL_INIT_FAILED (0xC0000142)
/// is the loader's status for a process whose DLLs failed to initialise; our
/// test binaries link no DLL of their own, and the test harness prints
/// `running 1 test` before running anything, so that status with no output
/// at all is the OS failing to start the process, never the code under test.
fn never_started(out: &Output) -> bool {
    cfg!(windows)
        && exit_code(out.status) == Some(0xC000_0142)
        && out.stdout.is_empty()
        && out.stderr.is_empty()
}

fn exit_code(status: ExitStatus) -> Option<u32> {
    status.code().map(|c| c as u32)
}

/// Reads a child's pipe to its end on its own thread: a child that writes
/// more than a pipe holds (64 KiB: a thousand panic messages) must not block
/// while the parent waits for it.
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// The last `n` bytes of `s` (at a character boundary).
fn tail(s: &str, n: usize) -> &str {
    let cut = s.len().saturating_sub(n);
    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    &s[cut..]
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
#[cfg(not(unix))]
fn ask_for_dump(_child: &std::process::Child) {}
