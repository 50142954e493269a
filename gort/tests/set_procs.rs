//! `procs` / `set_procs` at run time, both ways, under load.
//! (Own test binary: it changes `procs` for the whole process.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Each test changes `procs` for the whole process: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn set_procs_grows_and_shrinks_under_load() {
    let _serial = serial();
    let initial = gort::procs();
    assert!(initial >= 1);
    assert_eq!(gort::set_procs(0), initial, "0 only queries");
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..64u64)
        .map(|i| {
            let total = total.clone();
            gort::go(move || {
                for j in 0..2000u64 {
                    total.fetch_add(i * j, Ordering::Relaxed);
                    if j % 50 == 0 {
                        gort::yield_now();
                    }
                    if j % 500 == 0 {
                        gort::sleep(Duration::from_micros(100));
                    }
                }
            })
        })
        .collect();
    for n in [1usize, 8, 2, 1, 4, 3, 1, 8] {
        let prev = gort::set_procs(n);
        assert!(prev >= 1);
        assert_eq!(gort::procs(), n);
        std::thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().unwrap();
    }
    let expect: u64 = (0..64u64)
        .map(|i| (0..2000u64).map(|j| i * j).sum::<u64>())
        .sum();
    assert_eq!(total.load(Ordering::Relaxed), expect);

    // With one P, goroutines still all complete (and timers still fire).
    gort::set_procs(1);
    let n = gort::run(|| {
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                gort::go(move || {
                    gort::sleep(Duration::from_micros(50 * (i % 7)));
                    i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(n, 499_500);
    gort::set_procs(initial);
    assert_eq!(gort::procs(), initial);
}

/// A timer left on a P that `set_procs` retires still fires while the
/// remaining P never runs out of work (so never steals, and no idle M gets
/// a P to run timers with): two goroutines that run at the same time with
/// two Ps, so one on each, go to sleep; the second P is retired; a goroutine
/// that yields in a loop keeps the one P left busy until both have woken.
#[test]
fn timers_of_a_retired_p_fire_while_the_others_stay_busy() {
    let _serial = serial();
    use std::sync::atomic::AtomicUsize;
    const EVENTUALLY: Duration = Duration::from_secs(10);
    let initial = gort::procs();
    for round in 0..20 {
        gort::set_procs(2);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            gort::run(move || {
                let running = Arc::new(AtomicUsize::new(0));
                let woke = Arc::new(AtomicUsize::new(0));
                for _ in 0..2 {
                    let (running, woke) = (running.clone(), woke.clone());
                    gort::go(move || {
                        running.fetch_add(1, Ordering::SeqCst);
                        // Both at once, so on both Ps (a bounded wait: with
                        // one P this could never end).
                        let t0 = std::time::Instant::now();
                        while running.load(Ordering::SeqCst) < 2 && t0.elapsed() < EVENTUALLY {
                            std::hint::spin_loop();
                        }
                        gort::sleep(Duration::from_millis(20));
                        woke.fetch_add(1, Ordering::SeqCst);
                    });
                }
                while running.load(Ordering::SeqCst) < 2 {
                    gort::yield_now();
                }
                // Both are asleep (or about to be) with their timers on
                // their own Ps; drop to one P.
                gort::sleep(Duration::from_millis(2));
                gort::set_procs(1);
                while woke.load(Ordering::SeqCst) < 2 {
                    gort::yield_now();
                }
            });
            let _ = tx.send(());
        });
        if rx.recv_timeout(EVENTUALLY).is_err() {
            panic!(
                "round {round}: a sleeper on the retired P never woke\n{}",
                gort::debug::dump()
            );
        }
    }
    gort::set_procs(initial);
}

/// Goroutines that keep entering and leaving `blocking` (their Ps go to
/// status Syscall, and sysmon retakes them) while `set_procs` keeps
/// shrinking and growing: a P found beyond the limit and retired after the
/// limit grew back above it would be lost for good (Dead, on no list), and
/// with every P lost the program stops. Every goroutine must finish.
#[test]
fn blocking_calls_while_set_procs_flips() {
    let _serial = serial();
    const EVENTUALLY: Duration = Duration::from_secs(20);
    let initial = gort::procs();
    for round in 0..30 {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let done = gort::run(|| {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let flipper = {
                    let stop = stop.clone();
                    gort::go(move || {
                        let mut k = 0usize;
                        while !stop.load(Ordering::Relaxed) {
                            gort::set_procs([1, 8, 2, 5, 1, 3][k % 6]);
                            k += 1;
                            gort::yield_now();
                        }
                    })
                };
                let hs: Vec<_> = (0..16)
                    .map(|_| {
                        gort::go(|| {
                            for j in 0..400u32 {
                                gort::blocking(|| std::thread::sleep(Duration::from_micros(20)));
                                if j % 8 == 0 {
                                    gort::yield_now();
                                }
                            }
                        })
                    })
                    .collect();
                let n = hs.into_iter().map(|h| h.join().is_ok() as u32).sum::<u32>();
                stop.store(true, Ordering::Relaxed);
                flipper.join().unwrap();
                n
            });
            let _ = tx.send(done);
        });
        match rx.recv_timeout(EVENTUALLY) {
            Ok(n) => assert_eq!(n, 16),
            Err(_) => panic!(
                "round {round}: stalled: a P was lost\n{}",
                gort::debug::dump()
            ),
        }
    }
    gort::set_procs(initial);
}
