use std::time::{Duration, Instant};
fn main() {
    let v = gort::run(|| 40 + 2);
    println!("run -> {v}");
    let t = Instant::now();
    let n = gort::run(|| {
        let hs: Vec<_> = (0..100_000u64).map(|i| gort::go(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    println!("sum {n} in {:?}", t.elapsed());
    let t = Instant::now();
    gort::run(|| {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                gort::go(move || {
                    gort::sleep(Duration::from_millis(10 + i % 10));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    println!("sleep in {:?}", t.elapsed());
    let t = Instant::now();
    gort::run(|| {
        let hs: Vec<_> = (0..100)
            .map(|_| {
                gort::go(|| {
                    for _ in 0..10000 {
                        gort::yield_now()
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    println!("yield 1M in {:?}", t.elapsed());
    println!("goroutines {}", gort::num_goroutines());
}
