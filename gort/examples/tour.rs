//! A short tour of gort: `cargo run --release --example tour`.

use core::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[gort::main]
fn main() {
    println!("gort tour — {} processors\n", gort::procs());

    // 1. Goroutines are cheap: spawn 100 000, each with its own guarded stack.
    let t = Instant::now();
    let handles: Vec<_> = (0..100_000u64).map(|i| gort::go(move || i * i)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!(
        "1. spawned and joined 100 000 goroutines in {:?} (sum of squares {sum})",
        t.elapsed()
    );

    // 2. Scoped goroutines borrow from the stack, like std::thread::scope.
    let data: Vec<u64> = (1..=1_000_000).collect();
    let total = AtomicU64::new(0);
    gort::scope(|s| {
        for chunk in data.chunks(10_000) {
            let total = &total;
            s.go(move || total.fetch_add(chunk.iter().sum::<u64>(), Ordering::Relaxed));
        }
    });
    println!(
        "2. 100 scoped goroutines summed a borrowed Vec: {}",
        total.load(Ordering::Relaxed)
    );

    // 3. Sleeping parks the goroutine, not the thread: 10 000 sleepers of 1–50 ms
    //    finish in about the longest sleep.
    let t = Instant::now();
    let sleepers: Vec<_> = (0..10_000u64)
        .map(|i| gort::go(move || gort::sleep(Duration::from_millis(1 + i % 50))))
        .collect();
    for h in sleepers {
        h.join().unwrap();
    }
    println!(
        "3. 10 000 goroutines slept 1–50 ms each; all done in {:?}",
        t.elapsed()
    );

    // 4. Blocking calls hand the processor off: with ONE processor, a goroutine
    //    stuck in a blocking call does not stop the one that will release it.
    let old = gort::set_procs(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = gort::go(move || gort::blocking(|| rx.recv().unwrap()));
    gort::sleep(Duration::from_millis(10));
    let sender = gort::go(move || tx.send("released by another goroutine").unwrap());
    sender.join().unwrap();
    println!(
        "4. with procs = 1, a blocked goroutine was {}",
        waiter.join().unwrap()
    );
    gort::set_procs(old);

    // 5. A panicking goroutine does not take the program down: join returns it.
    let h = gort::Builder::new()
        .name("doomed")
        .spawn(|| -> u32 { panic!("oops") })
        .unwrap();
    let err = h.join().unwrap_err();
    println!(
        "5. a goroutine panicked and join() returned Err({:?})",
        err.downcast_ref::<&str>().unwrap()
    );

    // 6. A pipeline: generator → squarer → summer, connected by channels.
    //    Dropping the last Sender closes a channel; `iter()` ends after draining.
    let (nums_tx, nums) = gort::chan::<u64>(16);
    let (squares_tx, squares) = gort::chan::<u64>(16);
    gort::go(move || (1..=1000).for_each(|i| nums_tx.send(i).unwrap()));
    gort::go(move || nums.iter().for_each(|i| squares_tx.send(i * i).unwrap()));
    println!(
        "6. pipeline: sum of the first 1000 squares = {}",
        squares.iter().sum::<u64>()
    );

    // 7. Fan-in with select!: two producers at different rates, one consumer
    //    with a time budget (`after`); closing `quit` stops the producers,
    //    whose own select! offers a value or notices the close.
    let (fast_tx, fast) = gort::chan::<&str>(0);
    let (slow_tx, slow) = gort::chan::<&str>(0);
    let (quit_tx, quit) = gort::chan::<()>(0);
    let producer = |name: &'static str, every: Duration, tx: gort::Sender<&'static str>| {
        let quit = quit.clone();
        gort::go(move || {
            loop {
                gort::select! {
                    send(tx, name) -> _ => gort::sleep(every),
                    recv(quit) -> _ => return,
                }
            }
        })
    };
    let producers = [
        producer("fast", Duration::from_millis(1), fast_tx),
        producer("slow", Duration::from_millis(7), slow_tx),
    ];
    let (mut n_fast, mut n_slow) = (0, 0);
    let budget = gort::time::after(Duration::from_millis(50));
    loop {
        gort::select! {
            recv(fast) -> _ => n_fast += 1,
            recv(slow) -> _ => n_slow += 1,
            recv(budget) -> _ => break,
        }
    }
    quit_tx.close();
    producers.into_iter().for_each(|p| p.join().unwrap());
    println!("7. fan-in for 50 ms: {n_fast} fast and {n_slow} slow messages");

    // 8. A worker pool: 8 workers share one job channel; a WaitGroup says when
    //    every job is done; a Mutex guards the shared result.
    let (jobs_tx, jobs) = gort::chan::<u64>(64);
    let wg = std::sync::Arc::new(gort::sync::WaitGroup::new());
    let primes = std::sync::Arc::new(gort::sync::Mutex::new(Vec::new()));
    for _ in 0..8 {
        let (jobs, wg, primes) = (jobs.clone(), wg.clone(), primes.clone());
        wg.add(1);
        gort::go(move || {
            for n in jobs.iter() {
                if n > 1 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0) {
                    primes.lock().push(n);
                }
            }
            wg.done();
        });
    }
    (1..=10_000).for_each(|n| jobs_tx.send(n).unwrap());
    drop(jobs_tx);
    wg.wait();
    println!(
        "8. a pool of 8 workers found {} primes below 10 000",
        primes.lock().len()
    );

    // 9. Context: a deadline cancels a whole tree of work.
    use gort::context::Context;
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(20));
    let t = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let ctx = ctx.clone();
            gort::go(move || {
                let mut rounds = 0u32;
                let tick = gort::time::Ticker::new(Duration::from_millis(2));
                loop {
                    gort::select! {
                        recv(tick.channel()) -> _ => rounds += 1,
                        recv(ctx.done()) -> _ => return rounds,
                    }
                }
            })
        })
        .collect();
    let rounds: u32 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    println!(
        "9. 4 workers stopped after {:?} by a 20 ms context deadline ({:?}), {rounds} ticks in all",
        t.elapsed(),
        ctx.err().unwrap()
    );

    // 10. Foreign callbacks: C's qsort with a closure comparator that captures
    //     state (no plain `extern "C" fn` can), called on this goroutine.
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let descending = true;
    let cmp = gort::ffi::Callback::<extern "C" fn(*const c_void, *const c_void) -> c_int>::new(
        move |a, b| {
            counter.fetch_add(1, Ordering::Relaxed);
            // SAFETY: qsort passes pointers to two u64 elements of the array.
            let (a, b) = unsafe { (*a.cast::<u64>(), *b.cast::<u64>()) };
            let o = if descending { b.cmp(&a) } else { a.cmp(&b) };
            o as c_int
        },
    )
    .expect("callback table full");
    let mut v: Vec<u64> = (0..100_000u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let t = Instant::now();
    // SAFETY: `v` holds `v.len()` elements of 8 bytes; `cmp` outlives the call.
    unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, cmp.as_fn()) };
    assert!(v.windows(2).all(|w| w[0] >= w[1]));
    println!(
        "10. C qsort sorted 100 000 u64 descending with a Rust closure in {:?} ({} comparisons)",
        t.elapsed(),
        calls.load(Ordering::Relaxed)
    );

    // 11. A thread created by the OS's C API (pthread_create, CreateThread)
    //     calls back into goroutine
    //     code: each call blocks receiving a job from a channel that a
    //     goroutine feeds (the thread sleeps meanwhile), and answers on another.
    let (jobs_tx, jobs) = gort::chan::<u64>(0);
    let (results, results_rx) = gort::chan::<(u64, u64)>(16);
    let work = gort::ffi::Callback::<extern "C" fn() -> u64>::new(move || {
        let job = jobs.recv().expect("jobs closed");
        let me = gort::current_id()
            .expect("callbacks run as goroutines")
            .as_u64();
        results.send((job * job, me)).unwrap();
        job
    })
    .expect("callback table full");
    let feeder = gort::go(move || (1..=5u64).for_each(|j| jobs_tx.send(j).unwrap()));
    let f = work.as_fn();
    // SAFETY: the thread is joined before `work` drops.
    let c_sum = gort::blocking(|| unsafe { c_thread::run_and_join(f) });
    feeder.join().unwrap();
    let answers: Vec<(u64, u64)> = results_rx.try_iter().collect();
    println!(
        "11. a C thread made 5 callbacks (jobs summed {c_sum}); each blocked on a channel as goroutine {}: squares {:?}",
        answers[0].1,
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );

    let s = gort::debug::stats();
    println!(
        "\nstats: {} goroutine switches, {} steals, {} OS threads for {} processors",
        s.context_switches, s.steals, s.threads, s.procs
    );
}

// C's qsort (libc on Unix, msvcrt on Windows).
unsafe extern "C" {
    fn qsort(
        base: *mut c_void,
        n: usize,
        size: usize,
        cmp: extern "C" fn(*const c_void, *const c_void) -> c_int,
    );
}

/// A thread the runtime did not make, created through the OS's C API, that
/// calls `f` five times and returns the sum.
mod c_thread {
    /// # Safety
    /// `f` stays callable until this returns.
    #[cfg(unix)]
    pub unsafe fn run_and_join(f: extern "C" fn() -> u64) -> u64 {
        extern "C" fn main(f: *mut libc::c_void) -> *mut libc::c_void {
            // SAFETY: `f` is the callback's function pointer, passed below.
            let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(f) };
            let sum: u64 = (0..5).map(|_| f()).sum();
            sum as usize as *mut libc::c_void
        }
        // SAFETY: plain pthread calls; the thread is joined here.
        unsafe {
            let mut th: libc::pthread_t = std::mem::zeroed();
            let rc = libc::pthread_create(&mut th, std::ptr::null(), main, f as *mut libc::c_void);
            assert_eq!(rc, 0, "pthread_create");
            let mut ret: *mut libc::c_void = std::ptr::null_mut();
            libc::pthread_join(th, &mut ret);
            ret as usize as u64
        }
    }

    /// # Safety
    /// As the Unix version.
    #[cfg(windows)]
    pub unsafe fn run_and_join(f: extern "C" fn() -> u64) -> u64 {
        use windows_sys::Win32::Foundation::CloseHandle;
        use windows_sys::Win32::System::Threading::{CreateThread, INFINITE, WaitForSingleObject};
        struct Call(extern "C" fn() -> u64, u64);
        unsafe extern "system" fn main(p: *mut core::ffi::c_void) -> u32 {
            // SAFETY: `p` is the `Call` below, alive until the thread is joined.
            let call = unsafe { &mut *p.cast::<Call>() };
            call.1 = (0..5).map(|_| (call.0)()).sum();
            0
        }
        let mut call = Call(f, 0);
        // SAFETY: plain thread calls; the thread is joined before `call` drops.
        unsafe {
            let h = CreateThread(
                std::ptr::null(),
                0,
                Some(main),
                (&mut call as *mut Call).cast(),
                0,
                std::ptr::null_mut(),
            );
            assert!(!h.is_null(), "CreateThread");
            WaitForSingleObject(h, INFINITE);
            CloseHandle(h);
        }
        call.1
    }
}
