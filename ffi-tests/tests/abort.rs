//! Fatal misuse, asserted from outside (each case re-runs this test binary as a
//! child process with `GORT_FFI_TEST_CHILD` selecting what it does):
//! - a panic in a callback's closure prints `goroutine N panicked in callback:
//!   <message>` and aborts, whoever called (plain thread, goroutine through C,
//!   C thread);
//! - a call through the pointer of a dropped `Callback` (slot not reused yet)
//!   aborts with a message containing `after its Callback was dropped`.

#![cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::process::Output;
use std::time::Duration;

const CHILD_LIMIT: Duration = Duration::from_secs(60);

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The child must have aborted (SIGABRT; on Windows std's abort, `__fastfail`,
/// exit code 0xC0000409) before returning from the bad call, with `needle` on
/// stderr.
fn assert_aborted_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "child succeeded:\n{}", describe(out));
    assert!(
        stdout.contains("CHILD READY"),
        "child did not get to the bad call:\n{}",
        describe(out)
    );
    assert!(
        !stdout.contains("CHILD SURVIVED"),
        "the bad call returned:\n{}",
        describe(out)
    );
    assert!(
        stderr.contains(needle),
        "no {needle:?} on stderr:\n{}",
        describe(out)
    );
    assert_eq!(
        death(out.status),
        Death::Abort,
        "not an abort:\n{}",
        describe(out)
    );
}

/// Checks the `goroutine N panicked in callback: boom` line.
fn assert_panic_line(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("panicked in callback: boom"))
        .unwrap_or_else(|| panic!("no panic line:\n{}", describe(out)));
    let rest = &line[line
        .find("goroutine ")
        .unwrap_or_else(|| panic!("no goroutine in {line:?}"))
        + "goroutine ".len()..];
    let (n, tail) = rest.split_once(' ').expect("goroutine N ...");
    assert!(
        n.parse::<u64>().is_ok(),
        "goroutine id not a number in {line:?}"
    );
    assert!(tail.starts_with("panicked in callback: boom"), "{line:?}");
}

fn child_ready() {
    println!("CHILD READY");
}

fn child_survived() -> ! {
    println!("CHILD SURVIVED");
    std::process::exit(0);
}

fn panicking_callback() -> Callback<extern "C" fn(i32) -> i32> {
    Callback::<extern "C" fn(i32) -> i32>::new(|x| {
        if x == 1 {
            panic!("boom");
        }
        if x == 2 {
            // A formatted (String) payload.
            let what = String::from("boom");
            panic!("{what} (formatted)");
        }
        x
    })
    .unwrap()
}

#[test]
fn panic_in_callback_aborts() {
    const TEST: &str = "panic_in_callback_aborts";
    if let Some(mode) = child_mode() {
        let cb = panicking_callback();
        let f = cb.as_fn();
        assert_eq!(f(5), 5);
        child_ready();
        match mode.as_str() {
            "plain" => {
                f(1);
            }
            "plain-string" => {
                f(2);
            }
            "goroutine-via-c" => {
                // SAFETY: matches the C prototype.
                gort::run(move || unsafe { call_id_i32(f, 1) });
            }
            "std-thread-via-c" => {
                // SAFETY: as above.
                let _ = std::thread::spawn(move || unsafe { call_id_i32(f, 1) }).join();
            }
            "c-thread" => {
                // SAFETY: as above.
                on_c_thread(|| unsafe { call_id_i32(f, 1) });
            }
            "nested" => {
                // Panic at the inner level of goroutine → C → callback → C → callback.
                let outer = Callback::<extern "C" fn(i32) -> i32>::new(move |x| {
                    // SAFETY: as above.
                    unsafe { call_id_i32(f, x) }
                })
                .unwrap();
                let o = outer.as_fn();
                // SAFETY: as above.
                gort::run(move || unsafe { call_id_i32(o, 1) });
            }
            other => panic!("unknown child mode {other}"),
        }
        child_survived();
    }
    for mode in [
        "plain",
        "plain-string",
        "goroutine-via-c",
        "std-thread-via-c",
        "c-thread",
        "nested",
    ] {
        let out = run_child(TEST, mode, CHILD_LIMIT);
        assert_aborted_with(&out, "panicked in callback: boom");
        assert_panic_line(&out);
        println!("{mode}: ok");
    }
}

#[test]
fn call_after_drop_aborts() {
    const TEST: &str = "call_after_drop_aborts";
    if let Some(mode) = child_mode() {
        let cb = Callback::<extern "C" fn(i32) -> i32>::new(|x| x + 1).unwrap();
        let f = cb.as_fn();
        assert_eq!(f(1), 2);
        // SAFETY: matches the C prototype.
        assert_eq!(unsafe { call_id_i32(f, 2) }, 3);
        drop(cb);
        child_ready();
        match mode.as_str() {
            "plain" => {
                f(1);
            }
            "from-c" => {
                // SAFETY: calling a dangling callback pointer is what is tested.
                unsafe { call_id_i32(f, 1) };
            }
            "goroutine" => {
                gort::run(move || f(1));
            }
            "c-thread" => {
                // SAFETY: as above.
                on_c_thread(|| unsafe { call_id_i32(f, 1) });
            }
            other => panic!("unknown child mode {other}"),
        }
        child_survived();
    }
    for mode in ["plain", "from-c", "goroutine", "c-thread"] {
        let out = run_child(TEST, mode, CHILD_LIMIT);
        assert_aborted_with(&out, "after its Callback was dropped");
        println!("{mode}: ok");
    }
}
