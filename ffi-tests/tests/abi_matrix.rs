//! Argument passing and results through `gort::ffi::Callback` pointers, called
//! both from Rust (the fn pointer itself) and from C (`c/callbacks.c`, so the C
//! compiler sets up the call), on a plain thread, inside a goroutine and on a
//! thread created by C: 12 integers (6 in registers, 6 on the stack) of every
//! width, 10 doubles (8 in XMM registers, 2 on the stack), mixed arguments,
//! every supported result and argument type (MIN/MAX, negative values, NaN
//! payloads, null and odd pointers, `Option<extern "C" fn>` both ways),
//! `extern "system"`, and every arity from 0 to the maximum, 16.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use gort::ffi::Callback;
use gort_ffi_tests::*;
use std::ffi::c_void;
use std::fmt::Debug;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Bit-exact equality (floats by bit pattern: -0.0 ≠ 0.0, NaN payloads count).
trait Same: Copy + Debug {
    fn same(self, other: Self) -> bool;
}
macro_rules! same_eq {
    ($($t:ty),*) => { $(impl Same for $t { fn same(self, o: Self) -> bool { self == o } })* };
}
same_eq!(i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, bool);
impl Same for f32 {
    fn same(self, o: Self) -> bool {
        self.to_bits() == o.to_bits()
    }
}
impl Same for f64 {
    fn same(self, o: Self) -> bool {
        self.to_bits() == o.to_bits()
    }
}

#[track_caller]
fn assert_same<T: Same>(got: T, want: T, what: &str) {
    assert!(
        got.same(want),
        "{what}: got {got:?}, want {want:?} (bit-exact)"
    );
}

// ---------------------------------------------------------------------------
// 12 integers: 6 in registers, 6 on the stack.

type Int12 = (i8, i16, i32, i64, u8, u16, u32, u64, i8, i16, i32, i64);

/// The values `call_int12_c_values` writes in C.
const INT12_C_VALUES: Int12 = (
    -7,
    -1234,
    -123_456_789,
    -1_234_567_890_123,
    200,
    60000,
    4_000_000_000,
    0xF0E1_D2C3_B4A5_9687,
    i8::MIN,
    i16::MAX,
    i32::MIN,
    i64::MAX,
);

const INT12_SETS: [Int12; 4] = [
    INT12_C_VALUES,
    (
        i8::MAX,
        i16::MIN,
        i32::MAX,
        i64::MIN,
        u8::MAX,
        u16::MAX,
        u32::MAX,
        u64::MAX,
        -1,
        -1,
        -1,
        -1,
    ),
    (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
    (
        -1,
        -2,
        -3,
        -4,
        0x80,
        0x8000,
        0x8000_0000,
        0x8000_0000_0000_0000,
        i8::MIN,
        i16::MIN,
        i32::MAX,
        i64::MIN,
    ),
];

/// What the closure returns: every argument, widened, weighted by position.
fn combine12(a: Int12) -> i64 {
    let v: [i64; 12] = [
        a.0 as i64,
        a.1 as i64,
        a.2 as i64,
        a.3,
        a.4 as i64,
        a.5 as i64,
        a.6 as i64,
        a.7 as i64,
        a.8 as i64,
        a.9 as i64,
        a.10 as i64,
        a.11,
    ];
    v.iter().enumerate().fold(0i64, |acc, (i, x)| {
        acc.rotate_left(5) ^ x.wrapping_mul(2 * i as i64 + 1)
    })
}

/// Every argument compared individually; names the ones that differ.
fn check12(got: Int12, want: Int12, what: &str) {
    let mut bad = Vec::new();
    macro_rules! cmp {
        ($($i:tt),*) => {$(
            if got.$i != want.$i {
                bad.push(format!("arg {} ({}): got {:?}, want {:?}", $i + 1, std::any::type_name_of_val(&got.$i), got.$i, want.$i));
            }
        )*};
    }
    cmp!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    assert!(bad.is_empty(), "{what}: {}", bad.join("; "));
}

fn int12_callback(seen: Arc<Mutex<Option<Int12>>>) -> Callback<Int12Fn> {
    Callback::<Int12Fn>::new(move |a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12| {
        let args = (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
        *seen.lock().unwrap() = Some(args);
        combine12(args)
    })
    .expect("Callback::new")
}

#[test]
fn twelve_integers_of_every_width() {
    let _w = Watchdog::new("twelve_integers_of_every_width", TEST_LIMIT);
    everywhere(|place| {
        let seen = Arc::new(Mutex::new(None));
        let cb = int12_callback(seen.clone());
        let f = cb.as_fn();
        for (n, a) in INT12_SETS.iter().copied().enumerate() {
            let r = f(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11);
            let got = seen.lock().unwrap().take().expect("closure ran");
            check12(got, a, &format!("{place}, set {n}, called from Rust"));
            assert_eq!(r, combine12(a), "{place}, set {n}, from Rust: result");

            // SAFETY: f matches the C prototype.
            let r = unsafe {
                call_int12(
                    f, a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11,
                )
            };
            let got = seen.lock().unwrap().take().expect("closure ran");
            check12(got, a, &format!("{place}, set {n}, called from C"));
            assert_eq!(r, combine12(a), "{place}, set {n}, from C: result");
        }
        // SAFETY: as above.
        let r = unsafe { call_int12_c_values(f) };
        let got = seen.lock().unwrap().take().expect("closure ran");
        check12(
            got,
            INT12_C_VALUES,
            &format!("{place}, values written in C"),
        );
        assert_eq!(r, combine12(INT12_C_VALUES), "{place}, C values: result");
    });
}

// ---------------------------------------------------------------------------
// 10 doubles: 8 in XMM registers, 2 on the stack.

type F64x10 = [f64; 10];

/// The values `call_f64x10_c_values` writes in C.
const F64X10_C_VALUES: F64x10 = [
    1.5,
    -2.25,
    3.125,
    -4.0625,
    1e300,
    -1e-300,
    0.1,
    -0.0,
    123456.789,
    -98765.4321,
];

fn f64x10_sets() -> Vec<F64x10> {
    vec![
        F64X10_C_VALUES,
        [
            f64::MIN_POSITIVE,
            5e-324, // the smallest subnormal
            f64::MAX,
            -f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(0x7FF8_0000_DEAD_BEEF), // quiet NaN with a payload
            1.0,
            -0.0,
            f64::from_bits(0xFFF8_0000_0000_1234), // negative NaN with a payload
        ],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
    ]
}

/// An exact (bit-level) combination of every argument, so nothing depends on
/// the rounding mode.
fn combine_f64(v: &[f64]) -> f64 {
    let bits = v.iter().enumerate().fold(0u64, |acc, (i, x)| {
        acc ^ x.to_bits().rotate_left(7 * i as u32 + 3)
    });
    // Keep the result an ordinary number (no NaN canonicalisation questions).
    f64::from_bits(bits & 0x3FFF_FFFF_FFFF_FFFF)
}

fn check_f64s(got: &[f64], want: &[f64], what: &str) {
    let bad: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
        .map(|(i, (g, w))| {
            format!(
                "arg {}: got {g:?} ({:#x}), want {w:?} ({:#x})",
                i + 1,
                g.to_bits(),
                w.to_bits()
            )
        })
        .collect();
    assert!(bad.is_empty(), "{what}: {}", bad.join("; "));
}

#[test]
fn ten_doubles() {
    let _w = Watchdog::new("ten_doubles", TEST_LIMIT);
    everywhere(|place| {
        let seen: Arc<Mutex<Option<F64x10>>> = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let cb = Callback::<F64x10Fn>::new(move |a, b, c, d, e, f, g, h, i, j| {
            let v = [a, b, c, d, e, f, g, h, i, j];
            *s2.lock().unwrap() = Some(v);
            combine_f64(&v)
        })
        .unwrap();
        let f = cb.as_fn();
        for (n, v) in f64x10_sets().into_iter().enumerate() {
            let r = f(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);
            check_f64s(
                &seen.lock().unwrap().take().unwrap(),
                &v,
                &format!("{place}, set {n}, from Rust"),
            );
            assert_same(
                r,
                combine_f64(&v),
                &format!("{place}, set {n}, from Rust: result"),
            );
            // SAFETY: f matches the C prototype.
            let r = unsafe {
                call_f64x10(
                    f, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                )
            };
            check_f64s(
                &seen.lock().unwrap().take().unwrap(),
                &v,
                &format!("{place}, set {n}, from C"),
            );
            assert_same(
                r,
                combine_f64(&v),
                &format!("{place}, set {n}, from C: result"),
            );
        }
        // SAFETY: as above.
        let r = unsafe { call_f64x10_c_values(f) };
        check_f64s(
            &seen.lock().unwrap().take().unwrap(),
            &F64X10_C_VALUES,
            &format!("{place}, values written in C"),
        );
        assert_same(
            r,
            combine_f64(&F64X10_C_VALUES),
            &format!("{place}, C values: result"),
        );
    });
}

// ---------------------------------------------------------------------------
// Mixed arguments.

static BYTES: [u8; 4] = [0xAB, 0xCD, 0xEF, 0x01];

/// The arguments of `Mixed8Fn`.
type Mixed8Args = (i8, u16, i32, f32, *const u8, bool, u64, f64);

/// (i8, u16, i32, f32, pointer as usize, first byte behind it, bool, u64, f64)
type Mixed8 = (i8, u16, i32, f32, usize, Option<u8>, bool, u64, f64);

#[test]
fn eight_mixed_arguments() {
    let _w = Watchdog::new("eight_mixed_arguments", TEST_LIMIT);
    everywhere(|place| {
        let seen: Arc<Mutex<Option<Mixed8>>> = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let cb = Callback::<Mixed8Fn>::new(move |a, b, c, d, p, g, h, i| {
            // SAFETY: the tests pass null or a pointer into BYTES.
            let byte = (!p.is_null()).then(|| unsafe { *p });
            *s2.lock().unwrap() = Some((a, b, c, d, p as usize, byte, g, h, i));
            a as f64 * 1e6 + b as f64 * 1e3 + c as f64 + d as f64 + g as u8 as f64 + h as f64 + i
        })
        .unwrap();
        let f = cb.as_fn();
        let sets: [Mixed8Args; 3] = [
            (
                -100,
                65535,
                -2_000_000_000,
                -1.25,
                BYTES.as_ptr(),
                true,
                u64::MAX - 1,
                -6.5e-10,
            ),
            (
                i8::MIN,
                0,
                i32::MAX,
                f32::MAX,
                std::ptr::null(),
                false,
                0,
                f64::MIN,
            ),
            (
                127,
                0x8000,
                -1,
                -0.0,
                BYTES[2..].as_ptr(),
                true,
                1 << 63,
                2.5,
            ),
        ];
        for (n, (a, b, c, d, p, g, h, i)) in sets.into_iter().enumerate() {
            let want_byte = (!p.is_null()).then(|| unsafe { *p });
            let want_r = a as f64 * 1e6
                + b as f64 * 1e3
                + c as f64
                + d as f64
                + g as u8 as f64
                + h as f64
                + i;
            for from_c in [false, true] {
                let r = if from_c {
                    // SAFETY: f matches the C prototype.
                    unsafe { call_mixed8(f, a, b, c, d, p, g, h, i) }
                } else {
                    f(a, b, c, d, p, g, h, i)
                };
                let what = format!(
                    "{place}, set {n}, from {}",
                    if from_c { "C" } else { "Rust" }
                );
                let got = seen.lock().unwrap().take().expect("closure ran");
                assert_eq!(got.0, a, "{what}: i8");
                assert_eq!(got.1, b, "{what}: u16");
                assert_eq!(got.2, c, "{what}: i32");
                assert_same(got.3, d, &format!("{what}: f32"));
                assert_eq!(got.4, p as usize, "{what}: pointer");
                assert_eq!(got.5, want_byte, "{what}: byte behind the pointer");
                assert_eq!(got.6, g, "{what}: bool");
                assert_eq!(got.7, h, "{what}: u64");
                assert_same(got.8, i, &format!("{what}: f64"));
                assert_same(r, want_r, &format!("{what}: result"));
            }
        }
    });
}

/// The maximum arity, 16, mixing classes so that both an integer and an SSE
/// argument go on the stack.
#[test]
fn sixteen_mixed_arguments() {
    let _w = Watchdog::new("sixteen_mixed_arguments", TEST_LIMIT);
    everywhere(|place| {
        type Seen = (
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
            usize,
            f32,
            u64,
            f64,
            f32,
        );
        let seen: Arc<Mutex<Option<Seen>>> = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let cb =
            Callback::<Mixed16Fn>::new(move |a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q| {
                *s2.lock().unwrap() =
                    Some((a, b, c, d, e, g, h, i, j, k, l, m as usize, n, o, p, q));
                // The stack-passed ones (m: 7th integer, q: 9th SSE) decide the result.
                q as f64 * 2.0 + (m as usize & 0xFFFF) as f64
            })
            .unwrap();
        let f = cb.as_fn();
        let want: Seen = (
            1.25,
            -3,
            -2.5e100,
            65000,
            -7.75,
            -100_000,
            1e-200,
            i64::MIN,
            3.5,
            255,
            -0.0,
            BYTES.as_ptr() as usize,
            1e30,
            u64::MAX,
            6.25,
            -9.5,
        );
        let w = want;
        let want_r = w.15 as f64 * 2.0 + (w.11 & 0xFFFF) as f64;
        let p = w.11 as *const u8;
        let r1 = f(
            w.0, w.1, w.2, w.3, w.4, w.5, w.6, w.7, w.8, w.9, w.10, p, w.12, w.13, w.14, w.15,
        );
        let got_rust = seen.lock().unwrap().take().expect("closure ran");
        // SAFETY: f matches the C prototype.
        let r2 = unsafe {
            call_mixed16(
                f, w.0, w.1, w.2, w.3, w.4, w.5, w.6, w.7, w.8, w.9, w.10, p, w.12, w.13, w.14,
                w.15,
            )
        };
        let got_c = seen.lock().unwrap().take().expect("closure ran");
        for (got, r, from) in [(got_rust, r1, "Rust"), (got_c, r2, "C")] {
            let what = format!("{place}, from {from}");
            assert_same(got.0, w.0, &format!("{what}: arg 1 f32"));
            assert_eq!(got.1, w.1, "{what}: arg 2 i8");
            assert_same(got.2, w.2, &format!("{what}: arg 3 f64"));
            assert_eq!(got.3, w.3, "{what}: arg 4 u16");
            assert_same(got.4, w.4, &format!("{what}: arg 5 f32"));
            assert_eq!(got.5, w.5, "{what}: arg 6 i32");
            assert_same(got.6, w.6, &format!("{what}: arg 7 f64"));
            assert_eq!(got.7, w.7, "{what}: arg 8 i64");
            assert_same(got.8, w.8, &format!("{what}: arg 9 f32"));
            assert_eq!(got.9, w.9, "{what}: arg 10 u8");
            assert_same(got.10, w.10, &format!("{what}: arg 11 f64"));
            assert_eq!(got.11, w.11, "{what}: arg 12 pointer (stack)");
            assert_same(got.12, w.12, &format!("{what}: arg 13 f32"));
            assert_eq!(got.13, w.13, "{what}: arg 14 u64");
            assert_same(got.14, w.14, &format!("{what}: arg 15 f64"));
            assert_same(got.15, w.15, &format!("{what}: arg 16 f32 (stack)"));
            assert_same(r, want_r, &format!("{what}: result"));
        }
    });
}

/// 16 × u64: 6 in registers, 10 on the stack; from C with values that wrap.
#[test]
fn sixteen_u64_arguments() {
    let _w = Watchdog::new("sixteen_u64_arguments", TEST_LIMIT);
    everywhere(|place| {
        let seen: Arc<Mutex<Option<[u64; 16]>>> = Arc::new(Mutex::new(None));
        let s2 = seen.clone();
        let cb =
            Callback::<U64x16Fn>::new(move |a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p| {
                let v = [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p];
                *s2.lock().unwrap() = Some(v);
                weighted(&v)
            })
            .unwrap();
        let f = cb.as_fn();
        for base in [0u64, 1000, u64::MAX - 7, 0x8000_0000_0000_0000] {
            let v: [u64; 16] = std::array::from_fn(|i| base.wrapping_add(i as u64));
            let r = f(
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
                v[13], v[14], v[15],
            );
            assert_eq!(
                seen.lock().unwrap().take(),
                Some(v),
                "{place}, base {base:#x}, from Rust"
            );
            assert_eq!(
                r,
                weighted(&v),
                "{place}, base {base:#x}, from Rust: result"
            );
            // SAFETY: f matches the C prototype.
            let r = unsafe { call_u64x16(f, base) };
            assert_eq!(
                seen.lock().unwrap().take(),
                Some(v),
                "{place}, base {base:#x}, from C"
            );
            assert_eq!(r, weighted(&v), "{place}, base {base:#x}, from C: result");
        }
    });
}

fn weighted(v: &[u64]) -> u64 {
    v.iter().enumerate().fold(0u64, |acc, (i, x)| {
        acc.wrapping_add(x.wrapping_mul(i as u64 + 1))
    })
}

// ---------------------------------------------------------------------------
// Every type as result (arity 0) and as argument (identity), from Rust and C.

macro_rules! id_and_ret_test {
    ($name:ident, $t:ty, $call_id:ident, $call_ret:ident, [$($v:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            let _w = Watchdog::new(stringify!($name), TEST_LIMIT);
            everywhere(|place| {
                let values: Vec<$t> = vec![$($v),*];
                let id = Callback::<extern "C" fn($t) -> $t>::new(|x| x).unwrap();
                let idf = id.as_fn();
                for v in values {
                    let what = format!("{place}: {} {v:?}", stringify!($t));
                    assert_same(idf(v), v, &format!("{what}: identity from Rust"));
                    // SAFETY: the pointer matches the C prototype.
                    assert_same(unsafe { $call_id(idf, v) }, v, &format!("{what}: identity from C"));
                    let ret = Callback::<extern "C" fn() -> $t>::new(move || v).unwrap();
                    let retf = ret.as_fn();
                    assert_same(retf(), v, &format!("{what}: result from Rust"));
                    // SAFETY: as above.
                    assert_same(unsafe { $call_ret(retf) }, v, &format!("{what}: result from C"));
                }
            });
        }
    };
}

id_and_ret_test!(
    type_i8,
    i8,
    call_id_i8,
    call_ret_i8,
    [0, 1, -1, -100, i8::MIN, i8::MAX]
);
id_and_ret_test!(
    type_i16,
    i16,
    call_id_i16,
    call_ret_i16,
    [0, -1, -12345, i16::MIN, i16::MAX]
);
id_and_ret_test!(
    type_i32,
    i32,
    call_id_i32,
    call_ret_i32,
    [0, -1, -123_456_789, i32::MIN, i32::MAX]
);
id_and_ret_test!(
    type_i64,
    i64,
    call_id_i64,
    call_ret_i64,
    [0, -1, -1_234_567_890_123_456_789, i64::MIN, i64::MAX]
);
id_and_ret_test!(
    type_u8,
    u8,
    call_id_u8,
    call_ret_u8,
    [0, 1, 0x7F, 0x80, u8::MAX]
);
id_and_ret_test!(
    type_u16,
    u16,
    call_id_u16,
    call_ret_u16,
    [0, 1, 0x8000, u16::MAX]
);
id_and_ret_test!(
    type_u32,
    u32,
    call_id_u32,
    call_ret_u32,
    [0, 1, 0x8000_0000, u32::MAX]
);
id_and_ret_test!(
    type_u64,
    u64,
    call_id_u64,
    call_ret_u64,
    [0, 1, 1 << 63, 0xDEAD_BEEF_CAFE_F00D, u64::MAX]
);
id_and_ret_test!(
    type_isize,
    isize,
    call_id_isize,
    call_ret_isize,
    [0, -1, isize::MIN, isize::MAX]
);
id_and_ret_test!(
    type_usize,
    usize,
    call_id_usize,
    call_ret_usize,
    [0, 1, 1 << 63, usize::MAX]
);
id_and_ret_test!(type_bool, bool, call_id_bool, call_ret_bool, [true, false]);
id_and_ret_test!(
    type_f32,
    f32,
    call_id_f32,
    call_ret_f32,
    [
        0.0,
        -0.0,
        1.5,
        -3.25e30,
        f32::MIN_POSITIVE,
        1e-45, // subnormal
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7FC0_1234), // NaN with a payload
    ]
);
id_and_ret_test!(
    type_f64,
    f64,
    call_id_f64,
    call_ret_f64,
    [
        0.0,
        -0.0,
        0.1,
        -1.0e300,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(0x7FF8_0000_DEAD_BEEF),
    ]
);

/// Narrow results read by C after widening them itself (the callee defines
/// only the low bits; C's `(int64_t)` conversion must see the right ones).
#[test]
fn narrow_results_widened_by_c() {
    let _w = Watchdog::new("narrow_results_widened_by_c", TEST_LIMIT);
    everywhere(|place| {
        for v in [-1i8, i8::MIN, i8::MAX, 0, -42] {
            let cb = Callback::<extern "C" fn() -> i8>::new(move || v).unwrap();
            // SAFETY: matches the C prototype.
            assert_eq!(
                unsafe { call_ret_i8_widened(cb.as_fn()) },
                v as i64,
                "{place}: i8 {v}"
            );
        }
        for v in [-1i16, i16::MIN, i16::MAX, 0, -4242] {
            let cb = Callback::<extern "C" fn() -> i16>::new(move || v).unwrap();
            // SAFETY: as above.
            assert_eq!(
                unsafe { call_ret_i16_widened(cb.as_fn()) },
                v as i64,
                "{place}: i16 {v}"
            );
        }
        for v in [0u8, 0x80, u8::MAX] {
            let cb = Callback::<extern "C" fn() -> u8>::new(move || v).unwrap();
            // SAFETY: as above.
            assert_eq!(
                unsafe { call_ret_u8_widened(cb.as_fn()) },
                v as u64,
                "{place}: u8 {v}"
            );
        }
        for v in [0u16, 0x8000, u16::MAX] {
            let cb = Callback::<extern "C" fn() -> u16>::new(move || v).unwrap();
            // SAFETY: as above.
            assert_eq!(
                unsafe { call_ret_u16_widened(cb.as_fn()) },
                v as u64,
                "{place}: u16 {v}"
            );
        }
        for v in [true, false] {
            let cb = Callback::<extern "C" fn() -> bool>::new(move || v).unwrap();
            // SAFETY: as above.
            assert_eq!(
                unsafe { call_ret_bool_as_int(cb.as_fn()) },
                v as i32,
                "{place}: bool {v}"
            );
        }
    });
}

#[test]
fn pointers() {
    let _w = Watchdog::new("pointers", TEST_LIMIT);
    everywhere(|place| {
        // *mut c_void through C, with null and odd addresses (never dereferenced).
        let id = Callback::<extern "C" fn(*mut c_void) -> *mut c_void>::new(|p| p).unwrap();
        let mut local = 5u64;
        for p in [
            std::ptr::null_mut(),
            &mut local as *mut u64 as *mut c_void,
            usize::MAX as *mut c_void,
            0x8000_0000_0000_0001usize as *mut c_void,
        ] {
            assert_eq!(id.as_fn()(p), p, "{place}: identity from Rust");
            // SAFETY: matches the C prototype.
            assert_eq!(
                unsafe { call_id_ptr(id.as_fn(), p) },
                p,
                "{place}: identity from C"
            );
        }
        // A pointer result built in the closure (addresses captured as usize).
        let addr = BYTES.as_ptr() as usize;
        let ret =
            Callback::<extern "C" fn() -> *mut c_void>::new(move || (addr + 1) as *mut c_void)
                .unwrap();
        assert_eq!(
            ret.as_fn()() as usize,
            addr + 1,
            "{place}: result from Rust"
        );
        // SAFETY: as above.
        assert_eq!(
            unsafe { call_ret_ptr(ret.as_fn()) } as usize,
            addr + 1,
            "{place}: result from C"
        );
        let null = Callback::<extern "C" fn() -> *const u8>::new(std::ptr::null).unwrap();
        assert!(null.as_fn()().is_null(), "{place}: null result");
        // *const T argument read through, *mut T argument written through, () result.
        let read = Callback::<extern "C" fn(*const u8, usize) -> u32>::new(|p, n| {
            // SAFETY: the caller passes a valid slice.
            unsafe { std::slice::from_raw_parts(p, n) }
                .iter()
                .map(|&b| b as u32)
                .sum()
        })
        .unwrap();
        assert_eq!(
            read.as_fn()(BYTES.as_ptr(), 4),
            0xAB + 0xCD + 0xEF + 0x01,
            "{place}: *const u8 read"
        );
        let write = Callback::<extern "C" fn(*mut u64, u64)>::new(|p, v| {
            // SAFETY: the caller passes a valid, exclusive pointer.
            unsafe { *p = v }
        })
        .unwrap();
        let mut target = 0u64;
        write.as_fn()(&mut target, 0x0123_4567_89AB_CDEF);
        assert_eq!(target, 0x0123_4567_89AB_CDEF, "{place}: *mut u64 write");
        let mutp =
            Callback::<extern "C" fn(*mut u8) -> *const u8>::new(|p| p as *const u8).unwrap();
        let mut byte = 9u8;
        assert_eq!(
            mutp.as_fn()(&mut byte) as usize,
            &byte as *const u8 as usize,
            "{place}: *mut → *const"
        );
    });
}

extern "C" fn triple(x: i32) -> i32 {
    x * 3
}

/// `Option<extern "C" fn>` as argument (the closure calls it) and as result,
/// with plain C-ABI Rust functions and other callbacks' pointers, Some and None.
#[test]
fn function_pointers() {
    let _w = Watchdog::new("function_pointers", TEST_LIMIT);
    everywhere(|place| {
        let apply = Callback::<extern "C" fn(Option<I32Fn>, i32) -> i32>::new(|g, x| match g {
            Some(g) => g(x),
            None => -1,
        })
        .unwrap();
        let plus = Callback::<extern "C" fn(i32) -> i32>::new(|x| x + 1000).unwrap();
        let af = apply.as_fn();
        for (g, x, want) in [
            (Some(triple as I32Fn), 7, 21),
            (Some(triple as I32Fn), -5, -15),
            (Some(plus.as_fn()), 5, 1005),
            (None, 5, -1),
        ] {
            assert_eq!(af(g, x), want, "{place}: apply from Rust ({x})");
            // SAFETY: matches the C prototype.
            assert_eq!(
                unsafe { call_apply(af, g, x) },
                want,
                "{place}: apply from C ({x})"
            );
        }
        let id = Callback::<extern "C" fn(Option<I32Fn>) -> Option<I32Fn>>::new(|g| g).unwrap();
        for g in [Some(triple as I32Fn), Some(plus.as_fn()), None] {
            let want = g.map(|g| g as usize);
            assert_eq!(
                id.as_fn()(g).map(|g| g as usize),
                want,
                "{place}: fn identity from Rust"
            );
            // SAFETY: as above.
            let back = unsafe { call_id_fnptr(id.as_fn(), g) };
            assert_eq!(
                back.map(|g| g as usize),
                want,
                "{place}: fn identity from C"
            );
            if let Some(back) = back {
                assert_eq!(back(4), g.unwrap()(4), "{place}: returned pointer callable");
            }
        }
        let plus_fn = plus.as_fn();
        let ret_some =
            Callback::<extern "C" fn() -> Option<I32Fn>>::new(move || Some(plus_fn)).unwrap();
        let ret_triple =
            Callback::<extern "C" fn() -> Option<I32Fn>>::new(|| Some(triple)).unwrap();
        let ret_none = Callback::<extern "C" fn() -> Option<I32Fn>>::new(|| None).unwrap();
        assert_eq!(ret_some.as_fn()().expect("Some")(1), 1001, "{place}");
        assert_eq!(ret_triple.as_fn()().expect("Some")(2), 6, "{place}");
        assert!(ret_none.as_fn()().is_none(), "{place}");
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                call_ret_fnptr(ret_some.as_fn()).expect("Some")(1),
                1001,
                "{place}: from C"
            );
            assert_eq!(
                call_ret_fnptr(ret_triple.as_fn()).expect("Some")(3),
                9,
                "{place}: from C"
            );
            assert!(
                call_ret_fnptr(ret_none.as_fn()).is_none(),
                "{place}: None from C"
            );
        }
    });
}

/// `()` results, arity 0 and 1, from Rust and C.
#[test]
fn unit_results() {
    let _w = Watchdog::new("unit_results", TEST_LIMIT);
    everywhere(|place| {
        let hits = Arc::new(AtomicU32::new(0));
        let h2 = hits.clone();
        let zero = Callback::<extern "C" fn()>::new(move || {
            h2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        zero.as_fn()();
        // SAFETY: matches the C prototype.
        unsafe { call_void0(zero.as_fn()) };
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "{place}: arity 0, () result"
        );
        let last = Arc::new(AtomicI32::new(0));
        let l2 = last.clone();
        let one =
            Callback::<extern "C" fn(i32)>::new(move |x| l2.store(x, Ordering::SeqCst)).unwrap();
        one.as_fn()(-17);
        assert_eq!(last.load(Ordering::SeqCst), -17, "{place}: from Rust");
        // SAFETY: as above.
        unsafe { call_void_i32(one.as_fn(), i32::MIN) };
        assert_eq!(last.load(Ordering::SeqCst), i32::MIN, "{place}: from C");
    });
}

/// `extern "system"` callbacks (the C ABI on Linux).
#[test]
fn extern_system() {
    let _w = Watchdog::new("extern_system", TEST_LIMIT);
    everywhere(|place| {
        let cb = Callback::<extern "system" fn(i32, i32) -> i32>::new(|a, b| a * 1000 + b).unwrap();
        let f: extern "system" fn(i32, i32) -> i32 = cb.as_fn();
        assert_eq!(f(-3, 7), -2993, "{place}: from Rust");
        // SAFETY: matches the C prototype (`extern "system"` is the C ABI here).
        assert_eq!(
            unsafe { call_binop_i32(f, 12, -5) },
            11995,
            "{place}: from C"
        );
        let zero = Callback::<extern "system" fn() -> u64>::new(|| u64::MAX - 1).unwrap();
        assert_eq!(zero.as_fn()(), u64::MAX - 1, "{place}: arity 0");
        let unit = Callback::<extern "system" fn(f64)>::new(|_| {}).unwrap();
        unit.as_fn()(1.0);
        let sixteen = Callback::<
            extern "system" fn(
                i8,
                i16,
                i32,
                i64,
                u8,
                u16,
                u32,
                u64,
                f32,
                f64,
                bool,
                isize,
                usize,
                *const u8,
                *mut u8,
                i32,
            ) -> i64,
        >::new(|a, b, c, d, e, f, g, h, i, j, k, l, m, _n, _o, p| {
            a as i64
                + b as i64
                + c as i64
                + d
                + e as i64
                + f as i64
                + g as i64
                + h as i64
                + i as i64
                + j as i64
                + k as i64
                + l as i64
                + m as i64
                + p as i64
        })
        .unwrap();
        let r = sixteen.as_fn()(
            -1,
            -2,
            -3,
            -4,
            5,
            6,
            7,
            8,
            9.0,
            10.0,
            true,
            -12,
            13,
            std::ptr::null(),
            std::ptr::null_mut(),
            -16,
        );
        assert_eq!(
            r,
            -1 - 2 - 3 - 4 + 5 + 6 + 7 + 8 + 9 + 10 + 1 - 12 + 13 - 16,
            "{place}: arity 16"
        );
    });
}

// ---------------------------------------------------------------------------
// Every arity, 0 ..= 16, C and system ABIs.

macro_rules! u64_ty {
    ($a:ident) => {
        u64
    };
}

macro_rules! arity_case {
    ($abi:tt; $($a:ident),*) => {{
        let cb = Callback::<extern $abi fn($(u64_ty!($a)),*) -> u64>::new(|$($a),*| {
            let args: Vec<u64> = vec![$($a),*];
            weighted(&args) ^ ((args.len() as u64) << 56)
        })
        .unwrap();
        let f = cb.as_fn();
        #[allow(unused_mut, unused_variables)]
        let mut k = 0u64;
        let args: Vec<u64> = vec![$({
            let _ = stringify!($a);
            k += 1;
            k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }),*];
        #[allow(unused_mut, unused_variables)]
        let mut it = args.iter().copied();
        let got = f($({
            let _ = stringify!($a);
            it.next().unwrap()
        }),*);
        (got, weighted(&args) ^ ((args.len() as u64) << 56), args.len())
    }};
}

macro_rules! all_arities {
    ($abi:tt) => {
        vec![
            arity_case!($abi;),
            arity_case!($abi; a),
            arity_case!($abi; a, b),
            arity_case!($abi; a, b, c),
            arity_case!($abi; a, b, c, d),
            arity_case!($abi; a, b, c, d, e),
            arity_case!($abi; a, b, c, d, e, f),
            arity_case!($abi; a, b, c, d, e, f, g),
            arity_case!($abi; a, b, c, d, e, f, g, h),
            arity_case!($abi; a, b, c, d, e, f, g, h, i),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k, l),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k, l, m),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k, l, m, n),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k, l, m, n, o),
            arity_case!($abi; a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p),
        ]
    };
}

#[test]
fn every_arity_0_to_16() {
    let _w = Watchdog::new("every_arity_0_to_16", TEST_LIMIT);
    everywhere(|place| {
        for (abi, results) in [("C", all_arities!("C")), ("system", all_arities!("system"))] {
            assert_eq!(results.len(), 17);
            for (n, (got, want, len)) in results.into_iter().enumerate() {
                assert_eq!(len, n);
                assert_eq!(got, want, "{place}: extern {abi:?}, arity {n}");
            }
        }
    });
}

/// A closure capturing owned state (a `Vec`, a `String`) sees it intact on
/// every call, and it is dropped with the `Callback`.
#[test]
fn captured_state_lives_with_the_callback() {
    let _w = Watchdog::new("captured_state_lives_with_the_callback", TEST_LIMIT);
    struct DropFlag(Arc<AtomicU32>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicU32::new(0));
    let flag = DropFlag(drops.clone());
    let table: Vec<i64> = (0..1000).map(|i| i * i).collect();
    let name = String::from("callback state");
    let cb = Callback::<extern "C" fn(usize) -> i64>::new(move |i| {
        let _keep = &flag;
        table[i] + name.len() as i64
    })
    .unwrap();
    for i in [0usize, 1, 999, 500] {
        assert_eq!(cb.as_fn()(i), (i * i) as i64 + 14);
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "state dropped while the callback lives"
    );
    drop(cb);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "state not dropped with the callback"
    );
}

/// Callback is Send + Sync: created on one thread, called and dropped on others.
#[test]
fn callback_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let _w = Watchdog::new("callback_is_send_and_sync", TEST_LIMIT);
    let cb = Callback::<extern "C" fn(u32) -> u32>::new(|x| x.wrapping_mul(3)).unwrap();
    assert_send_sync(&cb);
    let cb = Arc::new(cb);
    let hs: Vec<_> = (0..4u32)
        .map(|t| {
            let cb = cb.clone();
            std::thread::spawn(move || {
                (0..1000u32)
                    .map(|i| cb.as_fn()(i + t))
                    .fold(0u32, u32::wrapping_add)
            })
        })
        .collect();
    for (t, h) in hs.into_iter().enumerate() {
        let want = (0..1000u32)
            .map(|i| (i + t as u32).wrapping_mul(3))
            .fold(0u32, u32::wrapping_add);
        assert_eq!(h.join().unwrap(), want);
    }
    let Ok(cb) = Arc::try_unwrap(cb) else {
        panic!("the threads still hold the callback");
    };
    let moved = gort::run(move || {
        let r = cb.as_fn()(5);
        drop(cb);
        r
    });
    assert_eq!(moved, 15);
}
