//! The argument and result types a callback may have, and how each is read
//! from and written to the ABI's registers (`abi::Args`, `abi::Frame`).

use super::abi::{Args, Frame};

pub(crate) mod sealed {
    use super::{Args, Frame};

    pub trait ArgSealed: Sized {
        /// Passed in floating-point registers (SSE class on x86-64), not
        /// general ones.
        const FLOAT: bool = false;

        /// Reads the next argument of this type.
        ///
        /// # Safety
        /// The foreign caller passed an argument of this type here.
        unsafe fn decode(args: &mut Args<'_>) -> Self;
    }

    pub trait RetSealed {
        fn encode(self, frame: &mut Frame);
    }
}

/// A type a callback can take as an argument: integers of every width, `bool`,
/// `usize`/`isize`, `f32`, `f64`, raw pointers and `Option<extern fn>`
/// (sealed: these are the types the ABI layer knows how to read).
pub trait Arg: sealed::ArgSealed {}

/// A type a callback can return: the `Arg` types and `()`.
pub trait Ret: sealed::RetSealed {}

macro_rules! int_types {
    ($($t:ty => $wide:ty),* $(,)?) => {$(
        impl sealed::ArgSealed for $t {
            #[inline(always)]
            unsafe fn decode(args: &mut Args<'_>) -> $t {
                // The low bits are the argument; the rest is undefined.
                args.int() as $t
            }
        }
        impl sealed::RetSealed for $t {
            #[inline(always)]
            fn encode(self, frame: &mut Frame) {
                // Extended to the full register by the type's signedness, as
                // compilers expect of narrow results.
                frame.set_int(self as $wide as u64);
            }
        }
        impl Arg for $t {}
        impl Ret for $t {}
    )*};
}

int_types! {
    i8 => i64, i16 => i64, i32 => i64, i64 => i64, isize => i64,
    u8 => u64, u16 => u64, u32 => u64, u64 => u64, usize => u64,
}

impl sealed::ArgSealed for bool {
    #[inline(always)]
    unsafe fn decode(args: &mut Args<'_>) -> bool {
        // A C `_Bool` is 0 or 1 in the low byte; anything else non-zero is
        // taken as true rather than made into an invalid `bool`.
        args.int() as u8 != 0
    }
}
impl sealed::RetSealed for bool {
    #[inline(always)]
    fn encode(self, frame: &mut Frame) {
        frame.set_int(self as u64);
    }
}
impl Arg for bool {}
impl Ret for bool {}

impl sealed::ArgSealed for f32 {
    const FLOAT: bool = true;
    #[inline(always)]
    unsafe fn decode(args: &mut Args<'_>) -> f32 {
        f32::from_bits(args.float() as u32)
    }
}
impl sealed::RetSealed for f32 {
    #[inline(always)]
    fn encode(self, frame: &mut Frame) {
        frame.set_float(u64::from(self.to_bits()));
    }
}
impl Arg for f32 {}
impl Ret for f32 {}

impl sealed::ArgSealed for f64 {
    const FLOAT: bool = true;
    #[inline(always)]
    unsafe fn decode(args: &mut Args<'_>) -> f64 {
        f64::from_bits(args.float())
    }
}
impl sealed::RetSealed for f64 {
    #[inline(always)]
    fn encode(self, frame: &mut Frame) {
        frame.set_float(self.to_bits());
    }
}
impl Arg for f64 {}
impl Ret for f64 {}

impl sealed::RetSealed for () {
    #[inline(always)]
    fn encode(self, _frame: &mut Frame) {}
}
impl Ret for () {}

macro_rules! pointer_types {
    ($($p:ty),*) => {$(
        impl<T> sealed::ArgSealed for $p {
            #[inline(always)]
            unsafe fn decode(args: &mut Args<'_>) -> $p {
                core::ptr::with_exposed_provenance::<T>(args.int() as usize) as $p
            }
        }
        impl<T> sealed::RetSealed for $p {
            #[inline(always)]
            fn encode(self, frame: &mut Frame) {
                frame.set_int(self.expose_provenance() as u64);
            }
        }
        impl<T> Arg for $p {}
        impl<T> Ret for $p {}
    )*};
}

pointer_types!(*const T, *mut T);

/// `Option<fn pointer>` of every ABI spelling and arity the table supports:
/// pointer-sized, `None` is null.
macro_rules! fn_pointer_types {
    ($($a:ident),*) => {
        fn_pointer_types!(@one extern "C" fn($($a),*) -> R; $($a),*);
        fn_pointer_types!(@one unsafe extern "C" fn($($a),*) -> R; $($a),*);
        fn_pointer_types!(@one extern "system" fn($($a),*) -> R; $($a),*);
        fn_pointer_types!(@one unsafe extern "system" fn($($a),*) -> R; $($a),*);
    };
    (@one $f:ty; $($a:ident),*) => {
        impl<R, $($a),*> sealed::ArgSealed for Option<$f> {
            #[inline(always)]
            unsafe fn decode(args: &mut Args<'_>) -> Option<$f> {
                let addr = args.int() as usize;
                // SAFETY: `Option<fn>` is a nullable code pointer; the caller
                // passed one of this type (per the contract).
                unsafe { core::mem::transmute::<usize, Option<$f>>(addr) }
            }
        }
        impl<R, $($a),*> sealed::RetSealed for Option<$f> {
            #[inline(always)]
            fn encode(self, frame: &mut Frame) {
                frame.set_int(self.map_or(0, |f| f as usize) as u64);
            }
        }
        impl<R, $($a),*> Arg for Option<$f> {}
        impl<R, $($a),*> Ret for Option<$f> {}
    };
}

fn_pointer_types!();
fn_pointer_types!(A1);
fn_pointer_types!(A1, A2);
fn_pointer_types!(A1, A2, A3);
fn_pointer_types!(A1, A2, A3, A4);
fn_pointer_types!(A1, A2, A3, A4, A5);
fn_pointer_types!(A1, A2, A3, A4, A5, A6);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7, A8);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
fn_pointer_types!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);
