//! A short tour of gort: `cargo run --release --example tour`.

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

    let s = gort::debug::stats();
    println!(
        "\nstats: {} goroutine switches, {} steals, {} OS threads for {} processors",
        s.context_switches, s.steals, s.threads, s.procs
    );
}
