//! `qsort N`: the C library's `qsort` (glibc; msvcrt on Windows) of N
//! pseudo-random `u64` calling back into the
//! runtime: what a C function pointer made by `gort::ffi::Callback` costs
//! compared with a plain `extern "C"` comparator, and what one call from a
//! thread the runtime did not create costs.
//!
//! The data is N xorshift64 values from a fixed seed ([`fill`]), regenerated
//! before every sort, outside the timing; every sort is checked afterwards
//! (a mismatch panics: non-zero exit). The number of comparisons one sort
//! makes (`cmps`) is counted once, with a counting comparator, and is the same
//! for every variant (same qsort, same data); `*_ns_per_cmp` = time of
//! one sort / `cmps`. Each sort variant runs [`SORTS`] times, interleaved
//! (plain_thread, plain_g, cb_g, cb_thread, plain_thread, ...), and the median
//! is reported:
//!
//! 1. `plain_thread`: a plain `extern "C"` comparator, on a plain thread (a
//!    new `std::thread` per sort; no gort involved);
//! 2. `plain_g`: the same comparator, in a goroutine (`gort::run`);
//! 3. `cb_g`: a `gort::ffi::Callback` comparator, in a goroutine;
//! 4. `cb_thread`: the `Callback` comparator on a plain thread (a new
//!    `std::thread` per sort, so each sort includes the runtime binding that
//!    thread an M on its first call).
//!
//! Then the per-call cost from a foreign thread: a thread created with
//! `pthread_create` (Windows: `CreateThread`; bench/src/foreign/) calls a `Callback` of type `extern "C" fn(u64) ->
//! u64` (x + 1) once, timed alone (`foreign_first_call_us`), then M =
//! [`CALLS_PER_N`] × N times in a loop (`foreign_cb_ns_per_call`), then a
//! plain `extern "C"` function M times in the same loop
//! (`foreign_plain_ns_per_call`); both loops call through a
//! `std::hint::black_box`ed function pointer and add up the results, which
//! are checked.
//!
//! `ns_per_op` = `cb_g_ns_per_cmp`; the ratios `cb_g_over_plain_g` (3)/(2)
//! (target: ≤ 1.5) and `cb_thread_over_plain_thread` (4)/(1) are of the
//! medians.
//!
//! - gort: as above.
//! - Go (bench/go/qsort_cgo.go, cgo): C `qsort` with an exported Go
//!   comparator (`//export goCompare`) from the main goroutine (`cb_g`), with
//!   a C comparator from the main goroutine (`plain_g`) and from a C thread
//!   (`plain_thread`), and with goCompare from a C thread (`cb_thread`); the
//!   foreign-thread loop calls an exported `goInc` from a C thread. Go 1.19
//!   hands a C thread an M for every call into Go (~2 µs), so there
//!   `cb_thread` sorts at most 65536 elements once and the loop makes at most
//!   10^6 calls (see that file).
//! - tokio, may: not applicable (no way to turn a closure into a C function
//!   pointer that runs inside the runtime); their binaries say so and exit
//!   with [`crate::common::EXIT_NOT_APPLICABLE`].

/// Seed of [`fill`]; `qsortSeed` in bench/go/qsort_cgo.go must be the same.
pub const QSORT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Sorts per variant (the median is reported); `qsortReps` in Go.
pub const SORTS: usize = 3;

/// Calls per foreign-thread loop: `CALLS_PER_N` × N.
pub const CALLS_PER_N: u64 = 10;

/// Fills `v` with the xorshift64 sequence from [`QSORT_SEED`]; `qsortFill` in
/// bench/go/qsort_cgo.go must stay identical (`cmps` shows it: the same data
/// gives the same comparison count).
pub fn fill(v: &mut [u64]) {
    let mut x = QSORT_SEED;
    for e in v {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *e = x;
    }
}

#[cfg(feature = "gort")]
pub use imp::run_gort;

#[cfg(feature = "gort")]
mod imp {
    use super::{CALLS_PER_N, SORTS, fill};
    use crate::chanthroughput::expected_sum;
    use crate::common::{self, Report, Workload};
    use std::ffi::{c_int, c_void};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    type CmpFn = extern "C" fn(*const c_void, *const c_void) -> c_int;
    type IncFn = extern "C" fn(u64) -> u64;

    /// The comparison itself, shared by every comparator (-1, 0, 1 as C's
    /// `(x > y) - (x < y)` in qsort_cgo.c).
    ///
    /// # Safety
    /// `a` and `b` point to `u64`s.
    #[inline(always)]
    unsafe fn compare(a: *const c_void, b: *const c_void) -> c_int {
        // SAFETY: qsort passes pointers to elements of the u64 array.
        let (x, y) = unsafe { (*a.cast::<u64>(), *b.cast::<u64>()) };
        c_int::from(x > y) - c_int::from(x < y)
    }

    extern "C" fn plain_cmp(a: *const c_void, b: *const c_void) -> c_int {
        // SAFETY: only given to qsort over a u64 array.
        unsafe { compare(a, b) }
    }

    static COMPARISONS: AtomicU64 = AtomicU64::new(0);

    extern "C" fn counting_cmp(a: *const c_void, b: *const c_void) -> c_int {
        COMPARISONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: only given to qsort over a u64 array.
        unsafe { compare(a, b) }
    }

    extern "C" fn plain_inc(x: u64) -> u64 {
        x.wrapping_add(1)
    }

    /// One C library qsort of `v` with `cmp` (glibc; msvcrt on Windows), timed.
    fn sort_with(v: &mut [u64], cmp: CmpFn) -> Duration {
        let cmp: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int = cmp;
        let t0 = Instant::now();
        // SAFETY: base/len/size describe `v`; cmp compares two u64s.
        unsafe { libc::qsort(v.as_mut_ptr().cast(), v.len(), size_of::<u64>(), Some(cmp)) };
        t0.elapsed()
    }

    fn check(v: &[u64], variant: &str) {
        if let Some(i) = v.windows(2).position(|w| w[0] > w[1]) {
            panic!("qsort: {variant}: not sorted at {}", i + 1);
        }
    }

    /// Refills `v`, sorts it with `cmp` on the current thread, checks it.
    fn sort_here(v: &mut [u64], cmp: CmpFn, variant: &str) -> Duration {
        fill(v);
        let d = sort_with(v, cmp);
        check(v, variant);
        d
    }

    /// [`sort_here`] on a new plain (std) thread.
    fn sort_on_thread(mut v: Vec<u64>, cmp: CmpFn, variant: &'static str) -> (Vec<u64>, Duration) {
        std::thread::spawn(move || {
            let d = sort_here(&mut v, cmp, variant);
            (v, d)
        })
        .join()
        .unwrap_or_else(|_| panic!("qsort: {variant}: sorting thread panicked"))
    }

    fn median(mut xs: Vec<Duration>) -> f64 {
        xs.sort_unstable();
        let n = xs.len();
        let ns = |d: Duration| d.as_nanos() as f64;
        if n % 2 == 1 {
            ns(xs[n / 2])
        } else {
            (ns(xs[n / 2 - 1]) + ns(xs[n / 2])) / 2.0
        }
    }

    /// What the foreign thread measures; it owns nothing, the spawner keeps it
    /// on its stack until the thread has ended.
    struct ForeignJob {
        cb: IncFn,
        plain: IncFn,
        calls: u64,
        first: u64,
        first_time: Duration,
        cb_sum: u64,
        cb_time: Duration,
        plain_sum: u64,
        plain_time: Duration,
    }

    /// `calls` calls of `f` through an opaque pointer, summed.
    fn call_loop(f: IncFn, calls: u64) -> (u64, Duration) {
        let f = black_box(f);
        let t0 = Instant::now();
        let mut sum = 0u64;
        for i in 0..calls {
            sum = sum.wrapping_add(f(i));
        }
        let d = t0.elapsed();
        (black_box(sum), d)
    }

    extern "C" fn foreign_main(arg: *mut c_void) {
        // SAFETY: `arg` is the &mut ForeignJob of `foreign_calls`, which waits
        // for the thread's end.
        let job = unsafe { &mut *arg.cast::<ForeignJob>() };
        let cb = black_box(job.cb);
        let t0 = Instant::now();
        job.first = cb(41);
        job.first_time = t0.elapsed();
        (job.cb_sum, job.cb_time) = call_loop(job.cb, job.calls);
        (job.plain_sum, job.plain_time) = call_loop(job.plain, job.calls);
    }

    /// Runs [`foreign_main`] on a thread made by `pthread_create` or
    /// `CreateThread` (not std::thread: nothing of Rust's thread set-up, as
    /// for a C library's thread) and checks what it computed.
    fn foreign_calls(cb: IncFn, calls: u64) -> ForeignJob {
        let mut job = ForeignJob {
            cb,
            plain: plain_inc,
            calls,
            first: 0,
            first_time: Duration::ZERO,
            cb_sum: 0,
            cb_time: Duration::ZERO,
            plain_sum: 0,
            plain_time: Duration::ZERO,
        };
        // SAFETY: `job` outlives the thread (the call waits for its end).
        unsafe { crate::foreign::run_on_foreign_thread(foreign_main, (&raw mut job).cast()) };
        assert_eq!(job.first, 42, "qsort: foreign thread: callback(41) != 42");
        // Sum over i < calls of (i + 1) = sum over i < calls + 1 of i.
        let want = expected_sum(calls + 1);
        assert!(
            job.cb_sum == want && job.plain_sum == want,
            "qsort: foreign loop sums {} / {}, expected {want}",
            job.cb_sum,
            job.plain_sum
        );
        job
    }

    pub fn run_gort(n: u64) -> Report {
        let t0 = Instant::now();
        let len = usize::try_from(n).expect("qsort: N does not fit in usize");
        let mut data = vec![0u64; len];

        fill(&mut data);
        COMPARISONS.store(0, Ordering::Relaxed);
        sort_with(&mut data, counting_cmp);
        check(&data, "count");
        let cmps = COMPARISONS.load(Ordering::Relaxed);

        // SAFETY (both closures): as `compare`; qsort passes u64 pointers.
        let cmp_cb =
            gort::ffi::Callback::<CmpFn>::new(move |a: *const c_void, b: *const c_void| -> c_int {
                unsafe { compare(a, b) }
            })
            .expect("qsort: Callback::new (comparator)");
        let cb_cmp: CmpFn = cmp_cb.as_fn();
        let inc_cb = gort::ffi::Callback::<IncFn>::new(move |x: u64| -> u64 { x.wrapping_add(1) })
            .expect("qsort: Callback::new (x + 1)");
        let cb_inc: IncFn = inc_cb.as_fn();

        let (mut plain_thread, mut plain_g, mut cb_g, mut cb_thread) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SORTS {
            let d;
            (data, d) = sort_on_thread(data, plain_cmp, "plain_thread");
            plain_thread.push(d);
            let (d2, d3);
            (data, d2, d3) = gort::run(move || {
                let d2 = sort_here(&mut data, plain_cmp, "plain_g");
                let d3 = sort_here(&mut data, cb_cmp, "cb_g");
                (data, d2, d3)
            });
            plain_g.push(d2);
            cb_g.push(d3);
            let d;
            (data, d) = sort_on_thread(data, cb_cmp, "cb_thread");
            cb_thread.push(d);
        }

        let calls = n.saturating_mul(CALLS_PER_N);
        let job = foreign_calls(cb_inc, calls);
        let wall = t0.elapsed();
        drop(cmp_cb);
        drop(inc_cb);

        let (plain_thread, plain_g, cb_g, cb_thread) = (
            median(plain_thread),
            median(plain_g),
            median(cb_g),
            median(cb_thread),
        );
        let per_cmp = |ns: f64| ns / cmps.max(1) as f64;
        let per_call = |d: Duration| d.as_nanos() as f64 / calls.max(1) as f64;
        let mut r = Report::new(Workload::Qsort, n, per_cmp(cb_g))
            .with("cb_g_over_plain_g", format!("{:.3}", cb_g / plain_g))
            .with(
                "cb_thread_over_plain_thread",
                format!("{:.3}", cb_thread / plain_thread),
            )
            .with("cmps", cmps);
        for (ms_key, cmp_key, ns) in [
            (
                "plain_thread_ms_per_sort",
                "plain_thread_ns_per_cmp",
                plain_thread,
            ),
            ("plain_g_ms_per_sort", "plain_g_ns_per_cmp", plain_g),
            ("cb_g_ms_per_sort", "cb_g_ns_per_cmp", cb_g),
            ("cb_thread_ms_per_sort", "cb_thread_ns_per_cmp", cb_thread),
        ] {
            r = r
                .with(ms_key, format!("{:.3}", ns / 1e6))
                .with(cmp_key, format!("{:.3}", per_cmp(ns)));
        }
        r.with("cb_thread_n", n)
            .with("cb_thread_sorts", SORTS)
            .with("foreign_calls", calls)
            .with(
                "foreign_cb_ns_per_call",
                format!("{:.3}", per_call(job.cb_time)),
            )
            .with(
                "foreign_plain_ns_per_call",
                format!("{:.3}", per_call(job.plain_time)),
            )
            .with(
                "foreign_first_call_us",
                format!("{:.2}", job.first_time.as_nanos() as f64 / 1e3),
            )
            .with("sorts", SORTS)
            .with("wall_ms", common::ms(wall))
    }
}
