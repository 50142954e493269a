//! A callback called on the process's real main thread before anything else
//! has touched gort (the runtime is not started yet): the closure is goroutine
//! code that spawns and joins a goroutine, sleeps and receives from a channel.
//! Then more calls (from Rust and C), `gort::run` afterwards, and a callback
//! called from inside that goroutine. `harness = false`: this is `main`.
//! (On Windows "the main thread" is the one the C runtime started up on,
//! recorded by a constructor in `c/win64.c`: Windows has no call naming it.)

#[cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]
mod imp {
    use gort::ffi::Callback;
    use gort_ffi_tests::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    pub fn main() {
        let _w = Watchdog::new("main_thread", TEST_LIMIT);
        assert!(is_main_thread(), "not on the main thread");

        let on_main = Arc::new(AtomicU64::new(0));
        let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (m2, ids2) = (on_main.clone(), ids.clone());
        // The first gort item used by this process.
        let cb = Callback::<extern "C" fn(u64) -> u64>::new(move |x| {
            let id = gort::current_id().map_or(0, |i| i.as_u64());
            ids2.lock().unwrap().push(id);
            if is_main_thread() {
                m2.fetch_add(1, Ordering::SeqCst);
            }
            let h = gort::go(move || {
                gort::yield_now();
                x * 2
            });
            let doubled = h.join().expect("spawned goroutine");
            let t = Instant::now();
            gort::sleep(Duration::from_millis(2));
            let slept = t.elapsed() >= Duration::from_millis(2);
            let (tx, rx) = gort::chan::<u64>(0);
            let sender = gort::go(move || tx.send(x + 1).unwrap());
            let plus_one = rx.recv_timeout(Duration::from_secs(20)).unwrap_or(0);
            sender.join().unwrap();
            if slept { doubled + plus_one } else { 0 }
        })
        .expect("Callback::new");
        let f = cb.as_fn();

        // First call: on the main thread, runtime not started.
        assert_eq!(f(20), 61, "first call on the main thread");

        // Again, several times, from Rust and through C.
        for x in 0..5u64 {
            assert_eq!(f(x), 3 * x + 1, "call {x}");
            // SAFETY: matches the C prototype.
            assert_eq!(
                unsafe { call_id_u64(f, x + 100) },
                3 * (x + 100) + 1,
                "C call {x}"
            );
        }
        assert!(
            gort::current_id().is_none(),
            "the main thread became a goroutine"
        );

        // gort::run afterwards, and the callback from inside it (through C).
        let from_goroutine = gort::run(move || {
            let me = gort::current_id().unwrap().as_u64();
            // SAFETY: as above.
            (unsafe { call_id_u64(f, 7) }, me)
        });
        assert_eq!(from_goroutine.0, 22);
        assert!(is_main_thread());

        let ids = ids.lock().unwrap().clone();
        assert_eq!(ids.len(), 12);
        assert!(!ids.contains(&0), "a call ran outside a goroutine: {ids:?}");
        assert_eq!(
            *ids.last().unwrap(),
            from_goroutine.1,
            "the call from the goroutine did not run on it"
        );
        // The oracle itself: another thread is not the main thread.
        assert!(
            !std::thread::spawn(is_main_thread).join().unwrap(),
            "is_main_thread() holds on a spawned thread"
        );
        println!(
            "main_thread: ok ({} of 11 main-thread calls ran on the main thread itself)",
            on_main.load(Ordering::SeqCst)
        );
    }
}

fn main() {
    #[cfg(all(target_arch = "x86_64", any(target_os = "linux", windows)))]
    imp::main();
}
