//! Acceptance tests for `gort::ffi` (C-callable callbacks): the C side
//! (compiled by `build.rs`) declared in the platform module, plus small
//! helpers shared by the test binaries in `tests/`.
//!
//! x86-64 Linux (`linux.rs`: `c/callbacks.c`, `c/canary.S`, pthreads) and
//! x86-64 Windows (`windows.rs`: `c/win64.c`, `CreateThread`), gort's
//! platforms; elsewhere the crate is empty.
//!
//! Both platform modules offer the services the portable tests need under the
//! same names: `on_c_thread` (a thread C created), `thread_count`,
//! `is_main_thread`, `qsort`, `I32Fn`, and the C functions `call_id_i32`,
//! `call_id_u64`, `call_n_times_in_pthreads`, `spawn_short_threads`, `nest`,
//! `call_cmp`, `locked_call` (pthreads on Linux, `CreateThread` on Windows).

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

use std::process::Output;
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

pub use gort_test_support::{Death, child_mode, death, os_tid};

/// Re-runs the current test binary for exactly `test` in role `mode` (see
/// `gort_test_support::Child`) and returns its output; kills it and panics if
/// it runs longer than `limit`.
pub fn run_child(test: &str, mode: &str, limit: Duration) -> Output {
    run_child_env(test, mode, &[], limit)
}

/// [`run_child`] with more environment variables for the child.
pub fn run_child_env(test: &str, mode: &str, env: &[(&str, &str)], limit: Duration) -> Output {
    gort_test_support::Child::new(test, mode)
        .envs(env)
        .output_within(limit)
        .unwrap_or_else(|| panic!("child {test} ({mode}) still running after {limit:?}; killed"))
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
