//! Helpers shared by the integration tests: the child-process runner and OS
//! facts live in `gort-test-support` (shared with `ffi-tests`); these are the
//! call shapes gort's tests use.
#![allow(dead_code)]

use std::process::Output;
use std::time::Duration;

#[allow(unused_imports)] // each test binary uses some of them
pub use gort_test_support::{Death, child_mode, death, os_tid, stdout_value, thread_alive};

/// Re-runs the current test binary for exactly `test` in role `mode` and
/// returns its output (see `gort_test_support::Child`).
pub fn run_child(test: &str, mode: &str, extra_env: &[(&str, &str)]) -> Output {
    gort_test_support::Child::new(test, mode)
        .envs(extra_env)
        .output()
}

/// Like `run_child`, but kills the child after `timeout` (saying where it
/// hung); `None` if it had to.
pub fn run_child_timeout(
    test: &str,
    mode: &str,
    extra_env: &[(&str, &str)],
    timeout: Duration,
) -> Option<Output> {
    gort_test_support::Child::new(test, mode)
        .envs(extra_env)
        .output_within(timeout)
}

/// `run_child_timeout` for a child that must finish and succeed: panics with
/// `what` if it hangs past `timeout`, with its stderr if it fails.
pub fn run_child_ok(
    test: &str,
    mode: &str,
    extra_env: &[(&str, &str)],
    timeout: Duration,
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

/// How many worker/procs configurations a stress test should try. Honours
/// GORT_PROCS from the environment (CI runs the suite with 1, 2 and 8).
pub fn procs_from_env() -> usize {
    gort::procs()
}
