//! The Win64 foreign boundary: callback pointers called by a Win64 caller.
//!
//! - Callee-saved state: `win64_canary_call` (asm) loads canaries into RBX
//!   RBP RDI RSI R12–R15, both halves of XMM6–XMM15, MXCSR and the x87
//!   control word, fills its home space and outgoing arguments with
//!   garbage, guards its own frame, calls a callback whose closure spawns,
//!   parks on a channel, yields and sleeps, and returns a mask of what
//!   changed; through the register path (fewer than four arguments) and the
//!   frame path (six), from a plain thread, goroutines, a `std` thread, a
//!   `CreateThread` thread and inside `gort::blocking`.
//! - Arguments: positional classification (an `f64` second argument in
//!   XMM1), four register positions then the stack above the home space,
//!   every argument and result type, called from Rust and from C
//!   (`c/win64.c`, mingw gcc).
//! - The caller's frame: guards in a C frame around both paths.
//! - Win32 calling back synchronously on the goroutine's thread: msvcrt
//!   `qsort` and `EnumSystemLocalesEx`.

#![cfg(all(target_arch = "x86_64", windows))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Callee-saved registers.

#[track_caller]
fn assert_mask(mask: u64, what: &str) {
    assert_eq!(
        mask,
        0,
        "{what}: callback did not preserve {:?} (mask {mask:#x})",
        win64_mask_names(mask)
    );
}

/// A closure that switches goroutines in every way; counts its runs and
/// the runs that were not goroutine code or lost a value.
fn busy(runs: Arc<AtomicU64>, bad: Arc<AtomicU64>) -> impl Fn() + Send + Sync + 'static {
    move || {
        if gort::current_id().is_none() {
            bad.fetch_add(1, Ordering::SeqCst);
        }
        let h = gort::go(|| {
            gort::yield_now();
            7u32
        });
        if h.join().ok() != Some(7) {
            bad.fetch_add(1, Ordering::SeqCst);
        }
        let (tx, rx) = gort::chan::<u32>(0);
        let sender = gort::go(move || {
            gort::sleep(Duration::from_micros(500));
            tx.send(11).unwrap();
        });
        if rx.recv_timeout(Duration::from_secs(20)) != Ok(11) {
            bad.fetch_add(1, Ordering::SeqCst);
        }
        sender.join().unwrap();
        gort::yield_now();
        gort::sleep(Duration::from_millis(1));
        runs.fetch_add(1, Ordering::SeqCst);
    }
}

extern "C" fn nothing() {}

#[test]
fn canary_caller_itself_is_sound() {
    assert_mask(win64_canary_call(nothing), "plain Rust function");
}

/// The register path (no arguments: the record goes in RCX) and the frame
/// path (six arguments), each from every kind of thread.
#[test]
fn switching_callback_preserves_the_callers_registers_everywhere() {
    let _w = Watchdog::new("switching_callback_preserves", TEST_LIMIT);
    let runs = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let reg = Callback::<extern "C" fn()>::new(busy(runs.clone(), bad.clone())).unwrap();
    let body = busy(runs.clone(), bad.clone());
    let frame =
        Callback::<extern "C" fn(i64, f64, i64, i64, f32, i64)>::new(move |_, _, _, _, _, _| {
            body()
        })
        .unwrap();
    let fr = reg.as_fn();
    // SAFETY: the caller passes garbage in every argument register and
    // slot, which the closure ignores; the same ABI otherwise.
    let ff: extern "C" fn() = unsafe { core::mem::transmute(frame.as_fn()) };
    let both = move |what: &str| {
        for (path, f) in [("register path", fr), ("frame path", ff)] {
            for i in 0..3 {
                assert_mask(win64_canary_call(f), &format!("{what}, {path}, call {i}"));
            }
        }
    };
    both("test thread");
    gort::run(move || {
        both("goroutine");
        // Many at once, so that some are switched around meanwhile.
        let hs: Vec<_> = (0..16)
            .map(|_| {
                gort::go(move || {
                    win64_canary_call(fr) | win64_canary_call(ff) | win64_canary_call(fr)
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_mask(h.join().unwrap(), &format!("goroutine {i} of 16"));
        }
        let hs: Vec<_> = (0..4)
            .map(|_| {
                gort::go(move || gort::blocking(|| win64_canary_call(fr) | win64_canary_call(ff)))
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_mask(h.join().unwrap(), &format!("goroutine {i} in blocking"));
        }
    });
    std::thread::spawn(move || both("std thread"))
        .join()
        .unwrap();
    on_win_thread(move || both("CreateThread thread"));
    assert_eq!(runs.load(Ordering::SeqCst), 6 * 4 + 16 * 3 + 4 * 2);
    assert_eq!(bad.load(Ordering::SeqCst), 0, "closure misbehaved");
}

/// A trivial closure, many times, from each kind of caller.
#[test]
fn trivial_callback_many_times() {
    let _w = Watchdog::new("trivial_callback_many_times", TEST_LIMIT);
    let hits = Arc::new(AtomicU64::new(0));
    let h2 = hits.clone();
    let cb = Callback::<extern "C" fn()>::new(move || {
        h2.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let f = cb.as_fn();
    let run = move |n: usize| (0..n).map(|_| win64_canary_call(f)).fold(0, |a, m| a | m);
    assert_mask(run(500), "test thread");
    assert_mask(gort::run(move || run(500)), "goroutine");
    assert_mask(on_win_thread(move || run(500)), "CreateThread thread");
    assert_mask(
        std::thread::spawn(move || run(500)).join().unwrap(),
        "std thread",
    );
    assert_eq!(hits.load(Ordering::Relaxed), 2000);
}

// ---------------------------------------------------------------------------
// Arguments and results.

type Mixed8 = (i32, f64, i8, f32, u64, f64, *const u8, bool);

/// The values `w_call_mixed8_c_values` writes in C.
const MIXED8_C_VALUES: Mixed8 = (
    -123_456_789,
    2.5,
    -7,
    0.75,
    0xF0E1_D2C3_B4A5_9687,
    -1e300,
    0x1234_5671 as *const u8,
    true,
);

fn mixed8_result(a: Mixed8) -> f64 {
    a.0 as f64 * 3.0
        + a.1 * 5.0
        + a.2 as f64 * 7.0
        + a.3 as f64 * 11.0
        + (a.4 >> 40) as f64
        + a.5 * 0.5
        + (a.6 as usize & 0xFFFF) as f64
        + if a.7 { 1000.0 } else { -1000.0 }
}

#[test]
fn mixed_arguments_by_position_in_registers_and_on_the_stack() {
    let _w = Watchdog::new("mixed_arguments", TEST_LIMIT);
    everywhere(|place| {
        let seen: Arc<Mutex<Option<[u64; 8]>>> = Arc::default();
        let s2 = seen.clone();
        let cb = Callback::<WMixed8Fn>::new(move |a, b, c, d, e, g, h, i| {
            *s2.lock().unwrap() = Some([
                a as u64,
                b.to_bits(),
                c as u64,
                d.to_bits() as u64,
                e,
                g.to_bits(),
                h as u64,
                i as u64,
            ]);
            mixed8_result((a, b, c, d, e, g, h, i))
        })
        .unwrap();
        let f = cb.as_fn();
        let sets = [
            MIXED8_C_VALUES,
            (
                i32::MIN,
                -0.0,
                i8::MIN,
                f32::MAX,
                u64::MAX,
                f64::MIN_POSITIVE,
                core::ptr::without_provenance(1),
                false,
            ),
            (
                i32::MAX,
                1e-300,
                i8::MAX,
                -0.0,
                0,
                12345.678,
                usize::MAX as *const u8,
                true,
            ),
        ];
        let bits = |a: Mixed8| {
            [
                a.0 as u64,
                a.1.to_bits(),
                a.2 as u64,
                a.3.to_bits() as u64,
                a.4,
                a.5.to_bits(),
                a.6 as u64,
                a.7 as u64,
            ]
        };
        for (n, a) in sets.into_iter().enumerate() {
            let r = f(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7);
            assert_eq!(
                seen.lock().unwrap().take(),
                Some(bits(a)),
                "{place}, set {n}, from Rust"
            );
            assert_eq!(
                r.to_bits(),
                mixed8_result(a).to_bits(),
                "{place}, set {n}: result"
            );
            // SAFETY: f matches the C prototype.
            let r = unsafe { w_call_mixed8(f, a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7) };
            assert_eq!(
                seen.lock().unwrap().take(),
                Some(bits(a)),
                "{place}, set {n}, from C"
            );
            assert_eq!(
                r.to_bits(),
                mixed8_result(a).to_bits(),
                "{place}, set {n}, C: result"
            );
        }
        // SAFETY: as above.
        let r = unsafe { w_call_mixed8_c_values(f) };
        assert_eq!(
            seen.lock().unwrap().take(),
            Some(bits(MIXED8_C_VALUES)),
            "{place}, C values"
        );
        assert_eq!(r.to_bits(), mixed8_result(MIXED8_C_VALUES).to_bits());

        // Three arguments: the record in R9 after float and integer ones.
        let cb = Callback::<extern "C" fn(f64, i32, f32) -> i64>::new(|a, b, c| {
            (a * 1000.0) as i64 + b as i64 * 10 + (c * 4.0) as i64
        })
        .unwrap();
        // SAFETY: matching prototype.
        assert_eq!(
            unsafe { w_call_f64_i32_f32(cb.as_fn(), 2.5, -7, 0.75) },
            2500 - 70 + 3
        );
        assert_eq!(cb.as_fn()(2.5, -7, 0.75), 2500 - 70 + 3, "{place}");
        let cb =
            Callback::<extern "C" fn(f64, f64, f64) -> f64>::new(|a, b, c| a - 2.0 * b + 4.0 * c)
                .unwrap();
        // SAFETY: matching prototype.
        assert_eq!(
            unsafe { w_call_f64x3(cb.as_fn(), 1.0, 10.0, 100.0) },
            381.0,
            "{place}"
        );
        let cb = Callback::<extern "C" fn(f32, u8) -> f32>::new(|a, b| a * b as f32).unwrap();
        // SAFETY: matching prototype.
        assert_eq!(
            unsafe { w_call_f32_u8(cb.as_fn(), 1.5, 200) },
            300.0,
            "{place}"
        );
        // Four floats: the frame path with XMM0-3 and no stack argument.
        let cb = Callback::<extern "C" fn(f64, f64, f64, f64) -> f64>::new(|a, b, c, d| {
            a + 10.0 * b + 100.0 * c + 1000.0 * d
        })
        .unwrap();
        // SAFETY: matching prototype.
        assert_eq!(
            unsafe { w_call_f64x4(cb.as_fn(), 1.0, 2.0, 3.0, 4.0) },
            4321.0,
            "{place}"
        );
        assert_eq!(cb.as_fn()(4.0, 3.0, 2.0, 1.0), 1234.0, "{place}");
    });
}

#[test]
fn sixteen_mixed_arguments() {
    let _w = Watchdog::new("sixteen_mixed_arguments", TEST_LIMIT);
    everywhere(|place| {
        let cb = Callback::<WMixed16Fn>::new(|a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q| {
            let v = [
                a as f64,
                b as f64,
                c,
                d as f64,
                e as f64,
                g as f64,
                h,
                i as f64,
                j as f64,
                k as f64,
                l,
                m as usize as f64,
                n as f64,
                o as f64,
                p,
                q as f64,
            ];
            v.iter()
                .enumerate()
                .map(|(i, x)| x * (i as f64 + 1.0))
                .sum()
        })
        .unwrap();
        let want: f64 = [
            1.5, -2.0, 3.25, 4.0, 5.5, -6.0, 7.125, 8.0, 9.5, 10.0, 11.25, 12.0, 13.5, 14.0, 15.75,
            16.5,
        ]
        .iter()
        .enumerate()
        .map(|(i, x)| x * (i as f64 + 1.0))
        .sum();
        let args = (
            1.5f32,
            -2i8,
            3.25,
            4u16,
            5.5f32,
            -6i32,
            7.125,
            8i64,
            9.5f32,
            10u8,
            11.25,
            12 as *const u8,
            13.5f32,
            14u64,
            15.75,
            16.5f32,
        );
        let f = cb.as_fn();
        let a = args;
        let r = f(
            a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, a.13, a.14, a.15,
        );
        assert_eq!(r, want, "{place}, from Rust");
        // SAFETY: matching prototype.
        let r = unsafe {
            w_call_mixed16(
                f, a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, a.13, a.14,
                a.15,
            )
        };
        assert_eq!(r, want, "{place}, from C");
    });
}

/// Every argument and result type, as the only argument (register path)
/// and as the fifth (frame path, on the stack), from Rust and from C.
#[test]
fn every_type_as_argument_and_result() {
    let _w = Watchdog::new("every_type", TEST_LIMIT);
    macro_rules! ids {
        ($place:expr; $($t:ty, $c1:ident, $c5:ident: [$($v:expr),*]);* $(;)?) => {$({
            let one = Callback::<extern "C" fn($t) -> $t>::new(|x| x).unwrap();
            let five = Callback::<extern "C" fn(f64, i32, f32, i64, $t) -> $t>::new(|a, b, c, d, x| {
                assert_eq!((a, b, c, d), (1.5, -2, 3.25, 4), "the four register arguments");
                x
            })
            .unwrap();
            for v in [$($v),*] {
                let v: $t = v;
                let what = format!("{}: {} {:?}", $place, stringify!($t), v);
                assert!(one.as_fn()(v) == v, "{what} (1 arg, Rust)");
                assert!(five.as_fn()(1.5, -2, 3.25, 4, v) == v, "{what} (5 args, Rust)");
                // SAFETY: matching prototypes.
                unsafe {
                    assert!($c1(one.as_fn(), v) == v, "{what} (1 arg, C)");
                    assert!($c5(five.as_fn(), v) == v, "{what} (5 args, C)");
                }
            }
        })*};
    }
    everywhere(|place| {
        ids!(place;
            i8, w_id1_i8, w_id5_i8: [i8::MIN, -1, 0, i8::MAX];
            i16, w_id1_i16, w_id5_i16: [i16::MIN, -1, 0, i16::MAX];
            i32, w_id1_i32, w_id5_i32: [i32::MIN, -1, 0, i32::MAX];
            i64, w_id1_i64, w_id5_i64: [i64::MIN, -1, 0, i64::MAX];
            u8, w_id1_u8, w_id5_u8: [0, 0x80, u8::MAX];
            u16, w_id1_u16, w_id5_u16: [0, 0x8000, u16::MAX];
            u32, w_id1_u32, w_id5_u32: [0, 0x8000_0000, u32::MAX];
            u64, w_id1_u64, w_id5_u64: [0, 1 << 63, u64::MAX];
            bool, w_id1_bool, w_id5_bool: [false, true];
            f32, w_id1_f32, w_id5_f32: [0.0, -1.5, f32::MAX, f32::MIN_POSITIVE];
            f64, w_id1_f64, w_id5_f64: [0.0, -1.5, f64::MAX, 1e-300];
            *mut c_void, w_id1_ptr, w_id5_ptr: [core::ptr::null_mut(), core::ptr::without_provenance_mut(1), usize::MAX as *mut c_void];
        );
        let neg = Callback::<extern "C" fn() -> i8>::new(|| -3).unwrap();
        // SAFETY: matching prototypes.
        assert_eq!(unsafe { w_ret_i8_widened(neg.as_fn()) }, -3, "{place}");
        let big = Callback::<extern "C" fn() -> u16>::new(|| 0xFFFE).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { w_ret_u16_widened(big.as_fn()) }, 0xFFFE, "{place}");
        let t = Callback::<extern "C" fn() -> bool>::new(|| true).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { w_ret_bool_as_int(t.as_fn()) }, 1, "{place}");
        let unit = Callback::<extern "C" fn(u64)>::new(|x| assert_eq!(x, 99)).unwrap();
        unit.as_fn()(99);
    });
}

/// `extern "system"` is `extern "C"` here: both spellings, either pointer.
#[test]
fn extern_system_is_extern_c() {
    let _w = Watchdog::new("extern_system", TEST_LIMIT);
    let s = Callback::<extern "system" fn(i32, f64, i32, f64, i32) -> f64>::new(|a, b, c, d, e| {
        a as f64 + b * 10.0 + c as f64 * 100.0 + d * 1000.0 + e as f64 * 10000.0
    })
    .unwrap();
    let f: extern "system" fn(i32, f64, i32, f64, i32) -> f64 = s.as_fn();
    assert_eq!(f(1, 2.0, 3, 4.0, 5), 54321.0);
    // SAFETY: the same ABI on x86-64 Windows.
    let c: extern "C" fn(i32, f64, i32, f64, i32) -> f64 = unsafe { core::mem::transmute(f) };
    assert_eq!(gort::run(move || c(5, 4.0, 3, 2.0, 1)), 12345.0);
    let g = Callback::<extern "system" fn(u32) -> u32>::new(|x| x * 2).unwrap();
    assert_eq!(on_win_thread(move || g.as_fn()(21)), 42);
}

// ---------------------------------------------------------------------------
// The caller's frame.

/// The entries keep nothing in the caller's home space and write nothing
/// above it: guards in a C frame and in the canary caller's frame survive
/// calls through both paths, whose closures switch and whose Rust callees
/// may write their home space (and a closure that takes its arguments by
/// address makes the thunk spill them).
#[test]
fn the_callers_frame_survives_both_paths() {
    let _w = Watchdog::new("the_callers_frame", TEST_LIMIT);
    everywhere(|place| {
        let f6 = Callback::<I64x6Fn>::new(|a, b, c, d, e, g| {
            let v = [&a, &b, &c, &d, &e, &g];
            gort::yield_now();
            v.iter().map(|x| **x * 3).sum::<i64>() + std::hint::black_box(&v).len() as i64
        })
        .unwrap();
        let f2 = Callback::<I64x2Fn>::new(|a, b| {
            let v = [&a, &b];
            gort::yield_now();
            *std::hint::black_box(v[0]) * 100 + *v[1]
        })
        .unwrap();
        // SAFETY: matching prototypes.
        let r = unsafe { w_guarded_calls(f6.as_fn(), f2.as_fn()) };
        assert_eq!(r, 21 * 3 + 6 + 708, "{place}");
    });
}

// ---------------------------------------------------------------------------
// Win32 and the CRT calling back on the goroutine's own thread.

type Cmp = extern "C" fn(*const c_void, *const c_void) -> i32;

unsafe extern "C" {
    // msvcrt.
    fn qsort(base: *mut c_void, n: usize, size: usize, cmp: Cmp);
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn EnumSystemLocalesEx(
        f: extern "system" fn(*const u16, u32, isize) -> i32,
        flags: u32,
        param: isize,
        reserved: *mut c_void,
    ) -> i32;
    fn GetCurrentThreadId() -> u32;
}

#[test]
fn msvcrt_qsort_with_a_switching_comparator() {
    let _w = Watchdog::new("msvcrt_qsort", TEST_LIMIT);
    let sort = |yield_every: u64| {
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let tid = Arc::new(AtomicU64::new(0));
        let t2 = tid.clone();
        let cmp = Callback::<Cmp>::new(move |a, b| {
            let n = c2.fetch_add(1, Ordering::Relaxed) + 1;
            // SAFETY: no preconditions.
            let now = unsafe { GetCurrentThreadId() } as u64;
            if t2.swap(now, Ordering::Relaxed) != now && n > 1 {
                panic!("the comparator moved to another thread");
            }
            if yield_every > 0 && n.is_multiple_of(yield_every) {
                gort::yield_now();
            }
            // SAFETY: qsort passes pointers to two u64 elements.
            let (a, b) = unsafe { (*(a as *const u64), *(b as *const u64)) };
            b.cmp(&a) as i32
        })
        .unwrap();
        let mut v = pseudo_random(42 + yield_every, 5000);
        // SAFETY: a u64 array and a u64 comparator.
        unsafe { qsort(v.as_mut_ptr().cast(), v.len(), 8, cmp.as_fn()) };
        assert!(v.windows(2).all(|w| w[0] >= w[1]), "sorted descending");
        assert!(calls.load(Ordering::Relaxed) > 5000);
    };
    sort(0);
    gort::run(move || {
        sort(0);
        let hs: Vec<_> = (1..=8).map(|k| gort::go(move || sort(k * 7))).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    on_win_thread(move || sort(13));
}

#[test]
fn enum_system_locales_calls_back_on_the_goroutines_thread() {
    let _w = Watchdog::new("enum_system_locales", TEST_LIMIT);
    gort::run(|| {
        let hs: Vec<_> = (0..4)
            .map(|k| {
                gort::go(move || {
                    let names = Arc::new(Mutex::new(Vec::<String>::new()));
                    let n2 = names.clone();
                    // SAFETY: no preconditions.
                    let tid = unsafe { GetCurrentThreadId() };
                    let cb = Callback::<extern "system" fn(*const u16, u32, isize) -> i32>::new(
                        move |name, _flags, param| {
                            assert_eq!(param, 0x5EED + k, "lParam passed through");
                            // SAFETY: no preconditions.
                            assert_eq!(
                                unsafe { GetCurrentThreadId() },
                                tid,
                                "on the caller's thread"
                            );
                            // SAFETY: a NUL-terminated UTF-16 string from Windows.
                            let s = unsafe {
                                let len = (0..).take_while(|&i| *name.add(i) != 0).count();
                                String::from_utf16_lossy(std::slice::from_raw_parts(name, len))
                            };
                            let mut v = n2.lock().unwrap();
                            v.push(s);
                            if v.len().is_multiple_of(16) {
                                drop(v);
                                gort::yield_now();
                                gort::sleep(Duration::from_micros(100));
                            }
                            1
                        },
                    )
                    .unwrap();
                    // SAFETY: a valid callback; LOCALE_ALL = 0.
                    let ok = unsafe {
                        EnumSystemLocalesEx(cb.as_fn(), 0, 0x5EED + k, core::ptr::null_mut())
                    };
                    assert_ne!(ok, 0, "EnumSystemLocalesEx failed");
                    let names = names.lock().unwrap();
                    assert!(names.len() > 10, "{} locales", names.len());
                    assert!(
                        names.iter().any(|n| n == "en-US"),
                        "en-US among {:?}",
                        &names[..10]
                    );
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}
