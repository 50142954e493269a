//! go / join / JoinHandle / Builder / go! / current_id / num_goroutines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn join_returns_value_inside_and_outside_goroutines() {
    // Outside any goroutine: join blocks the thread.
    assert_eq!(gort::go(|| 7).join().unwrap(), 7);
    // Inside: join parks the goroutine.
    let v = gort::run(|| gort::go(|| String::from("hi")).join().unwrap());
    assert_eq!(v, "hi");
}

#[test]
fn hundred_thousand_goroutines_joined() {
    const N: u64 = 100_000;
    let sum = gort::run(|| {
        let hs: Vec<_> = (0..N).map(|i| gort::go(move || i * 2)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, N * (N - 1));
}

#[test]
fn go_macro_spawns() {
    let h = gort::go!(move || 40 + 2);
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn panics_are_isolated_and_payload_returned() {
    let h = gort::go(|| -> u32 { std::panic::panic_any(1234u64) });
    let p = h.join().unwrap_err();
    assert_eq!(p.downcast_ref::<u64>(), Some(&1234));
    // The runtime still works after a panic, and siblings are unaffected.
    let ok = gort::run(|| {
        let bad: Vec<_> = (0..50)
            .map(|i| gort::go(move || if i % 2 == 0 { panic!("even {i}") } else { i }))
            .collect();
        bad.into_iter()
            .filter(|_| true)
            .map(|h| h.join())
            .filter(|r| r.is_ok())
            .count()
    });
    assert_eq!(ok, 25);
}

#[test]
fn run_resumes_panic_on_caller() {
    let r = std::panic::catch_unwind(|| gort::run(|| -> () { panic!("from run") }));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"from run"));
}

#[test]
fn is_finished_and_ids() {
    let h = gort::go(|| gort::current_id().unwrap());
    let id = h.id();
    while !h.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.join().unwrap(), id);
    assert!(gort::current_id().is_none());
    let a = gort::go(|| ()).id();
    let b = gort::go(|| ()).id();
    assert_ne!(a, b);
    assert_eq!(format!("{a}"), a.as_u64().to_string());
}

#[test]
fn builder_name_and_stack_size() {
    let h = gort::Builder::new()
        .name("big")
        .stack_size(4 << 20)
        .spawn(|| {
            // Use ~2 MiB of stack: only fits in the requested size.
            fn deep(n: u32) -> u64 {
                let buf = [n as u8; 1024];
                if n == 0 {
                    buf[0] as u64
                } else {
                    deep(n - 1) + std::hint::black_box(buf)[3] as u64
                }
            }
            deep(2000)
        })
        .unwrap();
    assert_eq!(
        h.join().unwrap(),
        (1..=2000u64).map(|n| n as u8 as u64).sum::<u64>()
    );
    let err = gort::Builder::new()
        .stack_size(100)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn num_goroutines_counts_until_join_returns() {
    // Other tests run concurrently in this process: measure our own goroutines
    // through a gate instead of comparing absolute counts.
    let started = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let (s, r) = (started.clone(), release.clone());
            gort::go(move || {
                s.fetch_add(1, Ordering::SeqCst);
                while !r.load(Ordering::SeqCst) {
                    gort::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 100 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(gort::num_goroutines() >= 100);
    release.store(true, Ordering::SeqCst);
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn spawn_from_many_plain_threads() {
    let total = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..8)
        .map(|_| {
            let total = total.clone();
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..1000)
                    .map(|_| {
                        let t = total.clone();
                        gort::go(move || t.fetch_add(1, Ordering::Relaxed))
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::Relaxed), 8000);
}

/// Counts its drops; the closure and the result of a goroutine share bytes
/// in its task, so each must be dropped exactly once whichever way the
/// goroutine ends: joined (the result moves out), detached (the task drops
/// it), panicked (the closure's captures go with the unwinding).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn closures_and_results_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    gort::run({
        let drops = drops.clone();
        move || {
            // Joined: the capture is dropped when the closure returns, the
            // result by the joiner.
            let c = Counted(drops.clone());
            let d = drops.clone();
            let r = gort::go(move || {
                drop(c);
                Counted(d)
            })
            .join()
            .unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            drop(r);
            assert_eq!(drops.load(Ordering::SeqCst), 2);

            // Detached: the result is dropped by the task once the goroutine ends.
            let d = drops.clone();
            let h = gort::go(move || Counted(d));
            while !h.is_finished() {
                gort::yield_now();
            }
            drop(h);
            assert_eq!(drops.load(Ordering::SeqCst), 3);
            let d = drops.clone();
            drop(gort::go(move || Counted(d)));
            while Arc::strong_count(&drops) > 2 {
                gort::yield_now();
            }
            assert_eq!(drops.load(Ordering::SeqCst), 4);

            // Panicked: the capture unwinds with the closure; the payload is
            // the result.
            let c = Counted(drops.clone());
            let e = gort::go(move || -> Counted {
                let _keep = c;
                panic!("boom")
            })
            .join();
            assert!(e.is_err());
            assert_eq!(drops.load(Ordering::SeqCst), 5);

            // A handle kept and joined much later, after many others ran.
            let hs: Vec<_> = (0..10_000)
                .map(|_| {
                    let d = drops.clone();
                    gort::go(move || Counted(d))
                })
                .collect();
            for h in hs.into_iter().rev() {
                drop(h.join().unwrap());
            }
            assert_eq!(drops.load(Ordering::SeqCst), 10_005);
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10_005);
}
