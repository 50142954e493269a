//! Running out of stack memory is an error from `Builder::spawn` and a clear panic
//! from `go`, never a crash. The child process caps its address space
//! (RLIMIT_AS) and spawns parked goroutines until spawning fails.
//!
//! Unix only: Windows has no address-space cap a process can set on itself.
//! A job object's commit limit would be one, but Wine does not enforce job
//! limits. Reserving all the free address space but 256 MiB would be the
//! same test, and was tried: Wine keeps one byte of page protection per
//! 4 KiB page it has reserved (128 TiB: 32 GB), and the kernel's
//! OOM killer ended the child. See the README's list of platform exclusions.
#![cfg(unix)]

mod common;
use common::{child_mode, run_child};
use std::time::Duration;

fn vm_size_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

fn child() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    gort::run({
        let stop = stop.clone();
        move || {
            // Warm up: the runtime's threads exist before the cap.
            let warm: Vec<_> = (0..64)
                .map(|_| gort::go(|| gort::sleep(Duration::from_millis(1))))
                .collect();
            for h in warm {
                h.join().unwrap();
            }
            let limit = vm_size_bytes() + (256 << 20);
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: plain setrlimit on this process.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
            let mut handles = Vec::new();
            let err = loop {
                let stop = stop.clone();
                match gort::Builder::new().spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        gort::sleep(Duration::from_millis(5));
                    }
                }) {
                    Ok(h) => handles.push(h),
                    Err(e) => break e,
                }
                if handles.len() > 100_000 {
                    panic!("address-space cap not effective");
                }
            };
            println!("exhausted after {} goroutines: {err}", handles.len());
            // `go` reports the same condition as a panic, like std::thread::spawn.
            let p = std::panic::catch_unwind(|| gort::go(|| ())).unwrap_err();
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
            println!("go panicked: {msg}");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for h in handles {
                h.join().unwrap();
            }
            // Memory is usable again once they are gone.
            gort::go(|| ()).join().unwrap();
            println!("recovered");
        }
    });
}

#[test]
fn stack_exhaustion_is_an_error_not_a_crash() {
    if child_mode().as_deref() == Some("exhaust") {
        child();
        return;
    }
    let out = run_child("stack_exhaustion_is_an_error_not_a_crash", "exhaust", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("exhausted after "), "{stdout}");
    assert!(
        stdout.contains("go panicked: failed to spawn goroutine: "),
        "{stdout}"
    );
    assert!(stdout.contains("recovered"), "{stdout}");
}
