//! Deadlock detection, asserted from outside: each case runs this binary
//! again as a child (`GORT_DEADLOCK_CASE=<case>`) and checks how it ended.
//! A deadlocked child must print `fatal error: all goroutines are asleep -
//! deadlock!` and its goroutine dump and exit with status 2; a child that
//! only looks stuck for a while (a plain thread, a timer, a socket, a
//! `blocking` call will wake it) must finish normally.
//!
//! Not a libtest harness (`harness = false` in Cargo.toml): libtest keeps its
//! main thread waiting on a `std` channel, a thread the runtime cannot see
//! into, which (rightly) rules every report out.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CASE_ENV: &str = "GORT_DEADLOCK_CASE";
const MESSAGE: &str = "fatal error: all goroutines are asleep - deadlock!";

/// A child that deadlocks, and how.
const DEADLOCKS: &[(&str, fn())] = &[
    ("recv_nobody_sends", recv_nobody_sends),
    (
        "send_unbuffered_nobody_receives",
        send_unbuffered_nobody_receives,
    ),
    (
        "two_goroutines_wait_for_each_other",
        two_goroutines_wait_for_each_other,
    ),
    ("select_without_timeout", select_without_timeout),
    ("mutex_locked_twice", mutex_locked_twice),
    ("many_parked_goroutines", many_parked_goroutines),
    ("plain_thread_recv", plain_thread_recv),
    (
        "after_a_sleep_and_a_blocking_call",
        after_a_sleep_and_a_blocking_call,
    ),
    ("locked_goroutine", locked_goroutine),
];

/// A child that must finish (status 0).
const NOT_DEADLOCKS: &[(&str, fn())] = &[
    ("plain_thread_sends_later", plain_thread_sends_later),
    ("timer_wakes_it", timer_wakes_it),
    ("blocking_call_sends_later", blocking_call_sends_later),
    ("socket_wakes_it", socket_wakes_it),
    ("plain_thread_blocked_in_std", plain_thread_blocked_in_std),
    (
        "recv_timeout_from_plain_thread",
        recv_timeout_from_plain_thread,
    ),
];

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        let f = DEADLOCKS
            .iter()
            .chain(NOT_DEADLOCKS)
            .find(|(n, _)| *n == case)
            .unwrap_or_else(|| panic!("no case {case}"))
            .1;
        f();
        println!("finished");
        return;
    }
    // A name filter, as `cargo test -- <filter>` passes it (flags ignored).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |n: &str| filter.as_deref().is_none_or(|f| n.contains(f));
    let mut failed = Vec::new();
    let mut ran = 0;
    for procs in ["1", "2", "8"] {
        for (name, _) in DEADLOCKS.iter().filter(|(n, _)| wanted(n)) {
            ran += 1;
            let out = child(name, &[("GORT_PROCS", procs)], Duration::from_secs(60));
            let err =
                String::from_utf8_lossy(out.as_ref().map_or(&[][..], |o| &o.stderr)).into_owned();
            let ok = out.as_ref().is_some_and(|o| {
                o.status.code() == Some(2) && err.starts_with(MESSAGE) && err.contains("goroutine ")
            });
            report(
                &mut failed,
                name,
                procs,
                ok,
                "deadlock reported, exit 2",
                &out,
            );
        }
        for (name, _) in NOT_DEADLOCKS.iter().filter(|(n, _)| wanted(n)) {
            ran += 1;
            let out = child(name, &[("GORT_PROCS", procs)], Duration::from_secs(60));
            let ok = out.as_ref().is_some_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("finished")
            });
            report(&mut failed, name, procs, ok, "finished, no report", &out);
        }
    }
    // Turned off: a true deadlock just hangs (killed here after a while).
    if wanted("disabled") {
        ran += 1;
        let out = child(
            "recv_nobody_sends",
            &[("GORT_DEADLOCK", "0")],
            Duration::from_secs(3),
        );
        report(
            &mut failed,
            "disabled (GORT_DEADLOCK=0)",
            "default",
            out.is_none(),
            "still hung after 3 s",
            &out,
        );
    }
    println!("deadlock: {} of {ran} cases passed", ran - failed.len());
    if !failed.is_empty() {
        eprintln!("deadlock: FAILED: {failed:?}");
        std::process::exit(101);
    }
}

fn report(
    failed: &mut Vec<String>,
    name: &str,
    procs: &str,
    ok: bool,
    want: &str,
    out: &Option<Output>,
) {
    println!(
        "case {name} (procs {procs}): {}",
        if ok { "ok" } else { "FAILED" }
    );
    if !ok {
        match out {
            Some(o) => eprintln!(
                "  wanted: {want}; got {}\n  stdout: {}\n  stderr: {}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            None => eprintln!("  wanted: {want}; the child hung and was killed"),
        }
        failed.push(format!("{name}/procs={procs}"));
    }
}

/// Runs case `name` as a child with `env`; `None` if it was still running
/// after `limit` (then killed).
fn child(name: &str, env: &[(&str, &str)], limit: Duration) -> Option<Output> {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(CASE_ENV, name)
        .env_remove("GORT_PROCS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut c = cmd.spawn().expect("start child");
    let mut so = c.stdout.take().expect("stdout");
    let mut se = c.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    status.map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

// ---- children that deadlock ----

fn recv_nobody_sends() {
    gort::run(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let _keep = tx;
        let _ = rx.recv();
    });
}

fn send_unbuffered_nobody_receives() {
    gort::run(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let _keep = rx;
        let _ = tx.send(1);
    });
}

fn two_goroutines_wait_for_each_other() {
    gort::run(|| {
        let (atx, arx) = gort::chan::<u32>(0);
        let (btx, brx) = gort::chan::<u32>(0);
        let a = gort::go(move || {
            let v = brx.recv().unwrap();
            atx.send(v).unwrap();
        });
        let b = gort::go(move || {
            let v = arx.recv().unwrap();
            btx.send(v).unwrap();
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

fn select_without_timeout() {
    gort::run(|| {
        let (tx1, rx1) = gort::chan::<u32>(0);
        let (tx2, rx2) = gort::chan::<u32>(1);
        tx2.send(0).unwrap();
        let _keep = (tx1, rx2);
        gort::select! {
            recv(rx1) -> _v => {},
            send(tx2, 1) -> _r => {},
        }
    });
}

fn mutex_locked_twice() {
    gort::run(|| {
        let m = gort::sync::Mutex::new(0);
        let _g = m.lock();
        let _again = m.lock();
    });
}

fn many_parked_goroutines() {
    gort::run(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let rx = rx.clone();
                gort::go(move || rx.recv().unwrap())
            })
            .collect();
        let _keep = tx;
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// The deadlocked waiter is a plain thread (main, outside `run`), the
/// sender held by a parked goroutine.
fn plain_thread_recv() {
    let (tx, rx) = gort::chan::<u32>(0);
    let (_tx2, rx2) = gort::chan::<u32>(0);
    let _h = gort::go(move || {
        let _keep = tx;
        let _ = rx2.recv();
    });
    let _ = rx.recv();
}

/// Everything that could wake it ran first: a timer fired, a `blocking`
/// call returned; only then does it deadlock.
fn after_a_sleep_and_a_blocking_call() {
    gort::run(|| {
        gort::sleep(Duration::from_millis(50));
        gort::blocking(|| std::thread::sleep(Duration::from_millis(50)));
        let (_tx, rx) = gort::chan::<u32>(0);
        let _ = rx.recv();
    });
}

fn locked_goroutine() {
    gort::run(|| {
        gort::lock_os_thread();
        let (_tx, rx) = gort::chan::<u32>(0);
        let _ = rx.recv();
    });
}

// ---- children that only look stuck ----

/// A plain thread the runtime has never seen will send, 300 ms later.
fn plain_thread_sends_later() {
    let (tx, rx) = gort::chan::<u32>(0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        tx.send(7).unwrap();
    });
    assert_eq!(gort::run(move || rx.recv().unwrap()), 7);
    t.join().unwrap();
}

fn timer_wakes_it() {
    gort::run(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        gort::go(move || {
            gort::sleep(Duration::from_millis(300));
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 7);
    });
}

fn blocking_call_sends_later() {
    gort::run(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        gort::go(move || {
            gort::blocking(|| std::thread::sleep(Duration::from_millis(300)));
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 7);
    });
}

/// A goroutine waits in `accept`; a plain thread connects 300 ms later.
fn socket_wakes_it() {
    let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
    });
    gort::run(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
    });
    t.join().unwrap();
}

/// A plain thread blocked in `std` (not a gort wait) will send once main
/// lets it go: it is not asleep as far as the runtime can tell.
fn plain_thread_blocked_in_std() {
    let (tx, rx) = gort::chan::<u32>(0);
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        tx.send(7).unwrap();
    });
    let h = gort::go(move || rx.recv().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    go_tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), 7);
    t.join().unwrap();
}

/// A plain thread waiting with a deadline wakes by itself, even with every
/// goroutine parked for good.
fn recv_timeout_from_plain_thread() {
    let (tx, rx) = gort::chan::<u32>(0);
    let (_never_tx, never_rx) = gort::chan::<u32>(0);
    let _h = gort::go(move || {
        let _keep = tx;
        let _ = never_rx.recv();
    });
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}
