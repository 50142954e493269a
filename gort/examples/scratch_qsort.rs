use gort::ffi::Callback;
use std::time::Instant;
extern "C" fn plain(a: *const u64, b: *const u64) -> i32 {
    unsafe { (*a).cmp(&*b) as i32 }
}
unsafe extern "C" {
    fn qsort(
        base: *mut core::ffi::c_void,
        n: usize,
        size: usize,
        cmp: extern "C" fn(*const u64, *const u64) -> i32,
    );
}
fn fill(v: &mut [u64]) {
    let mut s = 88172645463325252u64;
    for x in v {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *x = s;
    }
}
fn time(f: extern "C" fn(*const u64, *const u64) -> i32) -> f64 {
    let mut v = vec![0u64; 1_000_000];
    let mut best = f64::MAX;
    for _ in 0..5 {
        fill(&mut v);
        let t = Instant::now();
        unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, f) };
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}
fn main() {
    let cb = Callback::<extern "C" fn(*const u64, *const u64) -> i32>::new(|a, b| unsafe {
        (*a).cmp(&*b) as i32
    })
    .unwrap();
    let f = cb.as_fn();
    if std::env::args().count() > 1 {
        println!("cb goroutine   {:.1} ms", gort::run(move || time(f)));
        return;
    }
    println!("plain thread   {:.1} ms", time(plain));
    println!("cb thread      {:.1} ms", time(f));
    println!("plain goroutine {:.1} ms", gort::run(|| time(plain)));
    println!("cb goroutine   {:.1} ms", gort::run(move || time(f)));
}
