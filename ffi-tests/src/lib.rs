//! Acceptance tests for `gort::ffi` (C-callable callbacks): the C side
//! (compiled by `build.rs`) declared in the platform module, plus small
//! helpers shared by the test binaries in `tests/`.
//!
//! x86-64 Linux (`linux.rs`: `c/callbacks.c`, `c/canary.S`, pthreads) and
//! x86-64 Windows (`windows.rs`: `c/win64.c`, `CreateThread`), gort's
//! platforms; elsewhere the crate is empty.

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Polls `cond` every millisecond until it holds or `timeout` passes; returns
/// whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Aborts the process (with a message naming `what`) unless dropped within
/// `limit`: keeps a broken runtime from hanging the test-suite.
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts the watchdog thread.
    pub fn new(what: &str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let what = what.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("watchdog {what}"))
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!("WATCHDOG: {what} did not finish within {limit:?}; aborting");
                    std::process::abort();
                }
            })
            .expect("spawn watchdog");
        Watchdog {
            done: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The default limit for one test: 60 s.
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// The environment variable that selects a child process's role.
pub const CHILD_ENV: &str = "GORT_FFI_TEST_CHILD";

/// The role this process was started with, if it is a child (see [`run_child`]).
pub fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Re-runs the current test binary for exactly `test` with `GORT_FFI_TEST_CHILD=mode`
/// and returns its output; kills it and panics if it runs longer than `limit`.
pub fn run_child(test: &str, mode: &str, limit: Duration) -> Output {
    run_child_env(test, mode, &[], limit)
}

/// [`run_child`] with more environment variables for the child.
pub fn run_child_env(test: &str, mode: &str, env: &[(&str, &str)], limit: Duration) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .env("RUST_BACKTRACE", "0")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child test process");
    // Drained while waiting: a chatty child must not block on a full pipe.
    fn drain(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    }
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Output {
                status,
                stdout: out.join().expect("stdout reader"),
                stderr: err.join().expect("stderr reader"),
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            panic!(
                "child {test} ({mode}) still running after {limit:?}; killed.\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A deterministic pseudo-random sequence (xorshift64*), for test data.
pub fn pseudo_random(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
        .collect()
}
