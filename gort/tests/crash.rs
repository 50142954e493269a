//! Crash behaviour, asserted from outside (each case re-runs this binary as a
//! child process): stack overflow is reported and aborts; a real segfault stays
//! a segfault; a goroutine panic message names the goroutine.

mod common;
use common::{Death, child_mode, death, run_child};

#[inline(never)]
#[allow(unconditional_recursion)] // the point: run off the stack
fn recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 32]);
    recurse(n + 1) + buf[7]
}

#[test]
fn stack_overflow_is_reported_and_aborts() {
    if child_mode().as_deref() == Some("overflow") {
        gort::run(|| recurse(0));
        unreachable!();
    }
    let out = run_child("stack_overflow_is_reported_and_aborts", "overflow", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(death(out.status), Death::Abort, "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("stack overflow"))
        .unwrap_or_else(|| panic!("no overflow message in: {stderr}"));
    // "goroutine N: stack overflow (stack size 256 KiB)"
    let rest = line.strip_prefix("goroutine ").expect(line);
    let (id, tail) = rest.split_once(':').expect(line);
    assert!(id.parse::<u64>().is_ok(), "{line}");
    assert_eq!(tail, " stack overflow (stack size 256 KiB)");
}

#[test]
fn stack_overflow_reports_custom_stack_size() {
    if child_mode().as_deref() == Some("overflow-64k") {
        let h = gort::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .unwrap();
        let _ = h.join();
        unreachable!();
    }
    let out = run_child(
        "stack_overflow_reports_custom_stack_size",
        "overflow-64k",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(": stack overflow (stack size 64 KiB)"),
        "stderr: {stderr}"
    );
}

#[test]
fn stack_overflow_with_env_stack_size() {
    if child_mode().as_deref() == Some("overflow-env") {
        gort::run(|| recurse(0));
        unreachable!();
    }
    let out = run_child(
        "stack_overflow_with_env_stack_size",
        "overflow-env",
        &[("GORT_STACK_SIZE", "128k")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(": stack overflow (stack size 128 KiB)"),
        "stderr: {stderr}"
    );
}

#[test]
fn null_write_in_goroutine_is_a_segfault() {
    if child_mode().as_deref() == Some("segv") {
        gort::run(|| {
            let p = std::hint::black_box(core::ptr::null_mut::<u64>());
            // SAFETY: not safe at all: this is the point of the test.
            unsafe { p.write_volatile(1) };
        });
        unreachable!();
    }
    let out = run_child("null_write_in_goroutine_is_a_segfault", "segv", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(death(out.status), Death::Segfault, "stderr: {stderr}");
    assert!(!stderr.contains("stack overflow"), "stderr: {stderr}");
    fault_report(&stderr);
}

/// Go's "unexpected signal" report, naming the fault and where it was.
fn fault_report(stderr: &str) {
    let head = if cfg!(windows) {
        "gort: unexpected exception 0xc0000005 (access violation) addr=0x0 pc=0x"
    } else {
        "gort: unexpected signal SIGSEGV code=1 addr=0x0 pc=0x"
    };
    assert!(stderr.contains(head), "stderr: {stderr}");
    assert!(stderr.contains("(text+0x"), "stderr: {stderr}");
    assert!(stderr.contains(", goroutine "), "stderr: {stderr}");
    assert!(stderr.contains(", sp on it)"), "stderr: {stderr}");
}

#[test]
fn thread_stack_overflow_still_reported_by_std() {
    if child_mode().as_deref() == Some("thread-overflow") {
        gort::run(|| ()); // runtime (and our handler) installed
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        unreachable!();
    }
    let out = run_child(
        "thread_stack_overflow_still_reported_by_std",
        "thread-overflow",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("has overflowed its stack"),
        "stderr: {stderr}"
    );
}

#[test]
fn panic_message_names_the_goroutine() {
    if child_mode().as_deref() == Some("panic") {
        let h = gort::Builder::new()
            .name("worker-7")
            .spawn(|| -> () { panic!("the sky fell") })
            .unwrap();
        let id = h.id();
        assert!(h.join().is_err());
        let h2 = gort::go(|| -> () { panic!("second") });
        let id2 = h2.id();
        assert!(h2.join().is_err());
        println!("ids {id} {id2}");
        return;
    }
    let out = run_child("panic_message_names_the_goroutine", "panic", &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // libtest may print "test name ... " on the same line before our output.
    let ids: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.split_once("ids ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no ids in stdout: {stdout}"))
        .split(' ')
        .take(2)
        .collect();
    assert!(
        stderr.contains(&format!(
            "goroutine {} \"worker-7\" panicked at gort/tests/crash.rs:",
            ids[0]
        )),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("the sky fell"));
    assert!(
        stderr.contains(&format!("goroutine {} panicked at", ids[1])),
        "stderr: {stderr}"
    );
    assert!(
        !stderr.contains("thread '"),
        "std's thread message leaked: {stderr}"
    );
}

#[test]
fn panic_backtrace_on_a_small_stack_is_symbolised_on_g0() {
    if child_mode().as_deref() == Some("bt") {
        // 16 KiB is too little for symbolising a backtrace; the hook must do it
        // on the system stack.
        let h = gort::Builder::new()
            .stack_size(16 * 1024)
            .spawn(|| -> () { panic!("small") })
            .unwrap();
        assert!(h.join().is_err());
        println!("survived");
        return;
    }
    let out = run_child(
        "panic_backtrace_on_a_small_stack_is_symbolised_on_g0",
        "bt",
        &[("RUST_BACKTRACE", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("survived"));
    assert!(
        stderr.contains("panicked at") && stderr.contains("small"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("crash::"),
        "no symbolised frame in: {stderr}"
    );
}
