//! The Linux side: `c/callbacks.c` and `c/canary.S`, declared, and the
//! helpers that need Linux (thread ids, `/proc`, pthreads).

use std::ffi::c_void;

/// A plain C function pointer taking and returning an `int32_t`.
pub type I32Fn = extern "C" fn(i32) -> i32;

/// The 12-integer signature of `call_int12`.
pub type Int12Fn = extern "C" fn(i8, i16, i32, i64, u8, u16, u32, u64, i8, i16, i32, i64) -> i64;
/// The 10-double signature of `call_f64x10`.
pub type F64x10Fn = extern "C" fn(f64, f64, f64, f64, f64, f64, f64, f64, f64, f64) -> f64;
/// The mixed 8-argument signature of `call_mixed8`.
pub type Mixed8Fn = extern "C" fn(i8, u16, i32, f32, *const u8, bool, u64, f64) -> f64;
/// The mixed 16-argument signature of `call_mixed16` (7 integer-class, 9 SSE-class).
pub type Mixed16Fn = extern "C" fn(
    f32,
    i8,
    f64,
    u16,
    f32,
    i32,
    f64,
    i64,
    f32,
    u8,
    f64,
    *const u8,
    f32,
    u64,
    f64,
    f32,
) -> f64;
/// 16 × `u64`.
pub type U64x16Fn = extern "C" fn(
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
) -> u64;

unsafe extern "C" {
    // ---- argument passing ----
    /// Forwards its 12 integer arguments to `f` (6 in registers, 6 on the stack).
    pub fn call_int12(
        f: Int12Fn,
        a1: i8,
        a2: i16,
        a3: i32,
        a4: i64,
        a5: u8,
        a6: u16,
        a7: u32,
        a8: u64,
        a9: i8,
        a10: i16,
        a11: i32,
        a12: i64,
    ) -> i64;
    /// Calls `f` with 12 integer values written in C (see the C source).
    pub fn call_int12_c_values(f: Int12Fn) -> i64;
    /// Forwards 10 doubles to `f` (8 in XMM registers, 2 on the stack).
    pub fn call_f64x10(
        f: F64x10Fn,
        a1: f64,
        a2: f64,
        a3: f64,
        a4: f64,
        a5: f64,
        a6: f64,
        a7: f64,
        a8: f64,
        a9: f64,
        a10: f64,
    ) -> f64;
    /// Calls `f` with 10 doubles written in C (see the C source).
    pub fn call_f64x10_c_values(f: F64x10Fn) -> f64;
    /// Forwards 8 mixed arguments to `f`.
    pub fn call_mixed8(
        f: Mixed8Fn,
        a: i8,
        b: u16,
        c: i32,
        d: f32,
        e: *const u8,
        g: bool,
        h: u64,
        i: f64,
    ) -> f64;
    /// Forwards 16 mixed arguments to `f`.
    pub fn call_mixed16(
        f: Mixed16Fn,
        a: f32,
        b: i8,
        c: f64,
        d: u16,
        e: f32,
        g: i32,
        h: f64,
        i: i64,
        j: f32,
        k: u8,
        l: f64,
        m: *const u8,
        n: f32,
        o: u64,
        p: f64,
        q: f32,
    ) -> f64;
    /// `f(base + 0, ..., base + 15)`.
    pub fn call_u64x16(f: U64x16Fn, base: u64) -> u64;

    // ---- every type: identity (`call_id_*(f, x)` = `f(x)`) and result (`call_ret_*(f)` = `f()`) ----
    pub fn call_id_i8(f: extern "C" fn(i8) -> i8, x: i8) -> i8;
    pub fn call_id_i16(f: extern "C" fn(i16) -> i16, x: i16) -> i16;
    pub fn call_id_i32(f: extern "C" fn(i32) -> i32, x: i32) -> i32;
    pub fn call_id_i64(f: extern "C" fn(i64) -> i64, x: i64) -> i64;
    pub fn call_id_u8(f: extern "C" fn(u8) -> u8, x: u8) -> u8;
    pub fn call_id_u16(f: extern "C" fn(u16) -> u16, x: u16) -> u16;
    pub fn call_id_u32(f: extern "C" fn(u32) -> u32, x: u32) -> u32;
    pub fn call_id_u64(f: extern "C" fn(u64) -> u64, x: u64) -> u64;
    pub fn call_id_isize(f: extern "C" fn(isize) -> isize, x: isize) -> isize;
    pub fn call_id_usize(f: extern "C" fn(usize) -> usize, x: usize) -> usize;
    pub fn call_id_bool(f: extern "C" fn(bool) -> bool, x: bool) -> bool;
    pub fn call_id_f32(f: extern "C" fn(f32) -> f32, x: f32) -> f32;
    pub fn call_id_f64(f: extern "C" fn(f64) -> f64, x: f64) -> f64;
    pub fn call_id_ptr(f: extern "C" fn(*mut c_void) -> *mut c_void, x: *mut c_void)
    -> *mut c_void;
    pub fn call_id_fnptr(
        f: extern "C" fn(Option<I32Fn>) -> Option<I32Fn>,
        x: Option<I32Fn>,
    ) -> Option<I32Fn>;
    pub fn call_ret_i8(f: extern "C" fn() -> i8) -> i8;
    pub fn call_ret_i16(f: extern "C" fn() -> i16) -> i16;
    pub fn call_ret_i32(f: extern "C" fn() -> i32) -> i32;
    pub fn call_ret_i64(f: extern "C" fn() -> i64) -> i64;
    pub fn call_ret_u8(f: extern "C" fn() -> u8) -> u8;
    pub fn call_ret_u16(f: extern "C" fn() -> u16) -> u16;
    pub fn call_ret_u32(f: extern "C" fn() -> u32) -> u32;
    pub fn call_ret_u64(f: extern "C" fn() -> u64) -> u64;
    pub fn call_ret_isize(f: extern "C" fn() -> isize) -> isize;
    pub fn call_ret_usize(f: extern "C" fn() -> usize) -> usize;
    pub fn call_ret_bool(f: extern "C" fn() -> bool) -> bool;
    pub fn call_ret_f32(f: extern "C" fn() -> f32) -> f32;
    pub fn call_ret_f64(f: extern "C" fn() -> f64) -> f64;
    pub fn call_ret_ptr(f: extern "C" fn() -> *mut c_void) -> *mut c_void;
    pub fn call_ret_fnptr(f: extern "C" fn() -> Option<I32Fn>) -> Option<I32Fn>;
    /// `(int64_t)f()`: the C compiler sign-extends the 8-bit result.
    pub fn call_ret_i8_widened(f: extern "C" fn() -> i8) -> i64;
    /// `(int64_t)f()`.
    pub fn call_ret_i16_widened(f: extern "C" fn() -> i16) -> i64;
    /// `(uint64_t)f()`.
    pub fn call_ret_u8_widened(f: extern "C" fn() -> u8) -> u64;
    /// `(uint64_t)f()`.
    pub fn call_ret_u16_widened(f: extern "C" fn() -> u16) -> u64;
    /// `f() ? 1 : 0`.
    pub fn call_ret_bool_as_int(f: extern "C" fn() -> bool) -> i32;
    /// `f(g, x)`.
    pub fn call_apply(f: extern "C" fn(Option<I32Fn>, i32) -> i32, g: Option<I32Fn>, x: i32)
    -> i32;
    /// `f()`.
    pub fn call_void0(f: extern "C" fn());
    /// `f(x)`.
    pub fn call_void_i32(f: extern "C" fn(i32), x: i32);
    /// `f(a, b)` (declared with `extern "system"`: the same ABI on Linux).
    pub fn call_binop_i32(f: extern "system" fn(i32, i32) -> i32, a: i32, b: i32) -> i32;

    // ---- threads created by C ----
    /// `nthreads` pthreads each calling `f(thread, i)` for `i in 0..ncalls`; the
    /// sum of every result goes to `*sum_out`. Returns 0 or an errno.
    pub fn call_n_times_in_pthreads(
        nthreads: i32,
        ncalls: i32,
        f: extern "C" fn(i32, i32) -> i32,
        sum_out: *mut i64,
    ) -> i32;
    /// `total` short-lived pthreads, `at_once` (≤ 64) at a time, each calling
    /// `f(i)` once. Returns 0 or an errno.
    pub fn spawn_short_threads(total: i32, at_once: i32, f: extern "C" fn(i32)) -> i32;
    /// Runs `f(arg)` on a new pthread and joins it. Returns 0 or an errno.
    pub fn run_on_pthread(f: extern "C" fn(*mut c_void), arg: *mut c_void) -> i32;

    // ---- nesting ----
    /// `cb(depth) + 1` (or -1000000 if a C local did not survive the call).
    pub fn nest(depth: i32, cb: extern "C" fn(i32) -> i32) -> i32;

    // ---- thread-owned state across a callback ----
    /// `f(a, b)`: a comparator called through C (for nesting).
    pub fn call_cmp(
        f: extern "C" fn(*const c_void, *const c_void) -> i32,
        a: *const c_void,
        b: *const c_void,
    ) -> i32;
    /// `f(arg)` with recursive mutex `slot` (of 64) held by the calling
    /// thread around the call; -1 if `f` returned on another thread, -2 if
    /// the mutex could then not be unlocked.
    pub fn locked_call(slot: i32, f: extern "C" fn(i64) -> i64, arg: i64) -> i64;

    // ---- canaries (c/canary.S) ----
    /// Calls `f` with canaries in RBX RBP R12–R15, MXCSR and the x87 control
    /// word; returns the mask of what was not preserved (see [`canary_mask_names`]).
    pub fn canary_call(f: extern "C" fn()) -> u64;
}

/// Names of the bits of a `canary_call` mask.
pub fn canary_mask_names(mask: u64) -> Vec<&'static str> {
    const NAMES: [&str; 10] = [
        "RBX", "RBP", "R12", "R13", "R14", "R15", "MXCSR", "x87 CW", "DF", "RSP",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// glibc's `qsort` (`windows.rs` declares msvcrt's under this name).
pub use libc::qsort;

/// Whether the calling thread is the process's main thread.
pub fn is_main_thread() -> bool {
    // SAFETY: no preconditions.
    crate::os_tid() == unsafe { libc::getpid() } as u64
}

/// The process's thread count (the `Threads:` line of `/proc/self/status`).
pub fn thread_count() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .expect("Threads: line")
        .trim()
        .parse()
        .expect("thread count")
}

/// Runs `f` on a thread created by C (`pthread_create` in `run_on_pthread`) and
/// returns its result; a panic in `f` is resumed here.
pub fn on_c_thread<T>(f: impl FnOnce() -> T) -> T {
    struct Job<'a, T> {
        f: Option<Box<dyn FnOnce() -> T + 'a>>,
        result: Option<std::thread::Result<T>>,
    }
    extern "C" fn trampoline<T>(arg: *mut c_void) {
        // SAFETY: `arg` is the `Job` below, alive until `run_on_pthread` returns.
        let job = unsafe { &mut *(arg as *mut Job<'_, T>) };
        let f = job.f.take().expect("job runs once");
        job.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    }
    let mut job: Job<'_, T> = Job {
        f: Some(Box::new(f)),
        result: None,
    };
    // SAFETY: the trampoline matches `void (*)(void *)`; `job` outlives the join.
    let rc = unsafe { run_on_pthread(trampoline::<T>, &mut job as *mut Job<'_, T> as *mut c_void) };
    assert_eq!(rc, 0, "run_on_pthread: errno {rc}");
    match job.result.take().expect("the C thread ran the job") {
        Ok(v) => v,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Runs `f` on the calling (plain) thread, then inside a goroutine
/// (`gort::run`), then on a thread created by C; `f` gets the place's name
/// ("plain thread", "goroutine", "C thread") for its messages.
pub fn everywhere<F: Fn(&'static str) + Send + Sync + 'static>(f: F) {
    assert!(
        gort::current_id().is_none(),
        "everywhere() is meant to be called from a plain thread"
    );
    f("plain thread");
    let f = std::sync::Arc::new(f);
    let g = f.clone();
    gort::run(move || g("goroutine"));
    on_c_thread(|| f("C thread"));
}
