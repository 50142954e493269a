//! `debug::dump()` and the SIGQUIT dump.

mod common;

use common::{child_mode, run_child};
use std::time::Duration;

/// Spawns a goroutine parked in `sleep` and one parked in `join` on it, waits
/// until both are parked, and returns the dump with the ids and spawn lines.
fn two_parked_goroutines() -> (String, u64, u32, u64, u32) {
    gort::run(|| {
        let sleeper_line = line!() + 1;
        let sleeper = gort::go(|| gort::sleep(Duration::from_millis(300)));
        let sleeper_id = sleeper.id().as_u64();
        let joiner_line = line!() + 1;
        let joiner = gort::go(move || sleeper.join().unwrap());
        let joiner_id = joiner.id().as_u64();
        gort::sleep(Duration::from_millis(30));
        let d = gort::debug::dump();
        joiner.join().unwrap();
        (d, sleeper_id, sleeper_line, joiner_id, joiner_line)
    })
}

#[test]
fn dump_lists_parked_goroutines_with_reason_and_spawn_site() {
    let (d, sid, sline, jid, jline) = two_parked_goroutines();
    let entry = |id: u64| {
        let head = format!("goroutine {id} [");
        let i = d
            .find(&head)
            .unwrap_or_else(|| panic!("goroutine {id} missing:\n{d}"));
        d[i..].split("\n\n").next().unwrap().to_string()
    };
    let s = entry(sid);
    assert!(s.contains("[sleep, "), "{s}");
    assert!(
        s.contains(&format!("created at gort/tests/debug_dump.rs:{sline}:")),
        "{s}"
    );
    let j = entry(jid);
    assert!(j.contains("[join, "), "{j}");
    assert!(
        j.contains(&format!("created at gort/tests/debug_dump.rs:{jline}:")),
        "{j}"
    );
    // The goroutine calling dump() is running.
    assert!(d.contains("[running]"), "{d}");
}

/// Asks this process for the dump: SIGQUIT. (Unix only: on Windows the dump
/// is on Ctrl-Break, and Wine 8 delivers no console control event to a
/// process whose output is piped, not even after `AllocConsole`:
/// `GenerateConsoleCtrlEvent` fails with ERROR_INVALID_ACCESS. See the
/// README's exclusions.)
#[cfg(unix)]
fn raise_quit() {
    // SAFETY: raising a signal at ourselves.
    unsafe { libc::raise(libc::SIGQUIT) };
}

#[cfg(unix)]
fn sigquit_child() {
    gort::run(|| {
        let _sleeper = gort::go(|| gort::sleep(Duration::from_secs(30)));
        gort::sleep(Duration::from_millis(30));
        raise_quit();
        // sysmon writes the dump and exits the process meanwhile.
        gort::sleep(Duration::from_secs(30));
    });
    println!("survived SIGQUIT");
}

#[cfg(unix)]
#[test]
fn sigquit_prints_every_goroutine_and_exits() {
    if child_mode().as_deref() == Some("quit") {
        return sigquit_child();
    }
    let out = run_child("sigquit_prints_every_goroutine_and_exits", "quit", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SIGQUIT: quit"), "{err}");
    assert!(err.contains("[sleep, "), "{err}");
    assert!(
        err.contains("created at gort/tests/debug_dump.rs:"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigquit_dump_can_be_switched_off() {
    use std::os::unix::process::ExitStatusExt;
    if child_mode().as_deref() == Some("quit-off") {
        return sigquit_child();
    }
    let out = run_child(
        "sigquit_dump_can_be_switched_off",
        "quit-off",
        &[("GORT_SIGQUIT", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("SIGQUIT: quit"), "{err}");
    // The default action: the process dies of the signal.
    assert_eq!(out.status.signal(), Some(libc::SIGQUIT), "{err}");
}

#[test]
fn schedtrace_prints_periodic_summaries() {
    if child_mode().as_deref() == Some("trace") {
        gort::run(|| gort::sleep(Duration::from_millis(300)));
        return;
    }
    let out = run_child(
        "schedtrace_prints_periodic_summaries",
        "trace",
        &[("GORT_SCHEDTRACE", "10"), ("GORT_PROCS", "2")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<_> = err.lines().filter(|l| l.starts_with("SCHED ")).collect();
    // Nominally 30 lines (300 ms, one per 10 ms); "more than one" is all this
    // claims, so a slow machine cannot fail it.
    assert!(lines.len() >= 2, "{err}");
    assert!(
        lines[0].contains("procs=2 ") && lines[0].contains("goroutines="),
        "{err}"
    );
}
