//! `Callback<F>`: a closure behind a C-callable function pointer.

use super::abi::{self, Args, Frame, FrameThunk};
use super::table::{self, CAPACITY, Slot};
use super::types::sealed::{ArgSealed, RetSealed};
use super::types::{Arg, Ret};
use crate::runtime::sched::cgocallback::{cgocallback, cgocallback_marked};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;

/// A closure callable from foreign code through a plain function pointer of
/// type `F`: `extern "C" fn(A1, …, An) -> R` or `extern "system" fn(…) -> R`,
/// with up to 16 arguments of the types listed in the [module
/// documentation](super).
///
/// The pointer (`as_fn`) is one of the binary's pre-built entry points; it
/// runs the closure for as long as the `Callback` lives. Dropping the
/// `Callback` frees the entry point for reuse. See the [module
/// documentation](super) for where the closure runs and what it may do.
pub struct Callback<F> {
    slot: u32,
    /// The closure, boxed (its type is erased here).
    data: NonNull<()>,
    /// Frees `data`.
    drop_data: unsafe fn(NonNull<()>),
    _f: PhantomData<F>,
}

// SAFETY: the closure is `Send + Sync` (required by every `new`), and the
// slot is released through the table's lock.
unsafe impl<F> Send for Callback<F> {}
// SAFETY: as above; `&Callback` only reads the slot number.
unsafe impl<F> Sync for Callback<F> {}

/// No entry point was free: every slot of the table belongs to a live
/// `Callback`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackError {
    capacity: usize,
}

impl CallbackError {
    /// The table's capacity ([`CAPACITY`](super::CAPACITY)).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the callback table is full: all {} entry points belong to live Callbacks",
            self.capacity
        )
    }
}

impl std::error::Error for CallbackError {}

impl<F> Callback<F> {
    /// Publishes `closure` in a free slot: the slot's stub will run
    /// `register_thunk` or `fast_thunk` if the ABI can pass them the slot
    /// record in a register (`abi::register_entry`, by the number of
    /// integer-class arguments and of all arguments), else `frame_thunk`.
    fn install<C>(
        closure: C,
        ints: usize,
        args: usize,
        register_thunk: *const u8,
        fast_thunk: *const u8,
        frame_thunk: FrameThunk,
    ) -> Result<Self, CallbackError> {
        let data = NonNull::from(Box::leak(Box::new(closure))).cast::<()>();
        let (entry, thunk, fast) = match abi::register_entry(ints, args) {
            Some(entry) => (entry, register_thunk, fast_thunk),
            None => (
                abi::frame_entry(),
                frame_thunk as *const u8,
                core::ptr::null(),
            ),
        };
        match table::alloc(entry, thunk, fast, data.as_ptr()) {
            Some(slot) => Ok(Callback {
                slot,
                data,
                drop_data: drop_box::<C>,
                _f: PhantomData,
            }),
            None => {
                // SAFETY: just leaked above, never published.
                unsafe { drop_box::<C>(data) };
                Err(CallbackError { capacity: CAPACITY })
            }
        }
    }

    /// The entry point's address.
    fn addr(&self) -> usize {
        table::stub_addr(self.slot)
    }
}

/// # Safety
/// `data` is a leaked `Box<C>` that nothing can reach any more.
unsafe fn drop_box<C>(data: NonNull<()>) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(data.cast::<C>().as_ptr()) });
}

impl<F> Drop for Callback<F> {
    fn drop(&mut self) {
        // Emptied first: a call that starts from now on aborts instead of
        // reaching freed memory.
        table::free(self.slot);
        // SAFETY: the closure was ours and is no longer published.
        unsafe { (self.drop_data)(self.data) };
    }
}

impl<F> fmt::Debug for Callback<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("slot", &self.slot)
            .field("addr", &(self.addr() as *const u8))
            .finish()
    }
}

/// One inherent `new`/`as_fn` pair per arity and ABI spelling, so that the
/// closure's parameter types are inferred from `F`.
macro_rules! arity {
    ($($a:ident),*) => {
        arity!(@abi "C"; $($a),*);
        arity!(@abi "system"; $($a),*);
    };
    (@abi $abi:literal; $($a:ident),*) => {
        impl<R: Ret, $($a: Arg),*> Callback<extern $abi fn($($a),*) -> R> {
            /// Makes `closure` callable through [`as_fn`](Self::as_fn).
            /// `Err` when the table is full (all
            /// [`CAPACITY`](super::CAPACITY) entry points are taken).
            pub fn new<C>(closure: C) -> Result<Self, CallbackError>
            where
                C: Fn($($a),*) -> R + Send + Sync + 'static,
            {
                /// The register path: the compiler reads the arguments
                /// (the ABI's own rules) and the slot record comes last.
                #[allow(non_snake_case)]
                #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
                #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
                unsafe extern $abi fn register_thunk<C, R: Ret, $($a: Arg),*>(
                    $($a: $a,)* rec: *const Slot,
                ) -> R
                where
                    C: Fn($($a),*) -> R,
                {
                    // SAFETY: `rec` is the record of a slot that `new` below
                    // filled with this thunk and a `C`.
                    let closure = unsafe { &*(*rec).data.load(Ordering::Relaxed).cast::<C>() };
                    cgocallback(|| closure($($a),*))
                }

                /// The register path once the entry shim has found and
                /// marked the goroutine `g` itself (`abi`).
                #[allow(non_snake_case)]
                #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
                #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
                unsafe extern $abi fn fast_thunk<C, R: Ret, $($a: Arg),*>(
                    $($a: $a,)* rec: *const Slot, g: *mut (),
                ) -> R
                where
                    C: Fn($($a),*) -> R,
                {
                    // SAFETY: as in `register_thunk`; the shim passes the
                    // goroutine it marked.
                    unsafe {
                        let closure = &*(*rec).data.load(Ordering::Relaxed).cast::<C>();
                        cgocallback_marked(g, || closure($($a),*))
                    }
                }

                /// The frame path (see `abi`).
                #[allow(non_snake_case)]
                #[cfg_attr(target_os = "linux", unsafe(link_section = "gort_callback"))]
                #[cfg_attr(windows, unsafe(link_section = ".text$gortc_m"))]
                unsafe fn frame_thunk<C, R: Ret, $($a: Arg),*>(data: *mut (), frame: *mut Frame)
                where
                    C: Fn($($a),*) -> R,
                {
                    // SAFETY: `data` is the `C` that `new` below published
                    // with this thunk, and the caller called through an
                    // `extern fn($($a),*)` pointer.
                    unsafe {
                        let closure = &*data.cast::<C>();
                        #[allow(unused_mut, unused_variables)]
                        let mut args = Args::new(&*frame);
                        $(let $a = <$a as ArgSealed>::decode(&mut args);)*
                        let r = cgocallback(|| closure($($a),*));
                        RetSealed::encode(r, &mut *frame);
                    }
                }

                let ints = 0 $(+ usize::from(!<$a as ArgSealed>::FLOAT))*;
                let args = <[&str]>::len(&[$(stringify!($a)),*]);
                Self::install(
                    closure,
                    ints,
                    args,
                    register_thunk::<C, R, $($a),*> as *const u8,
                    fast_thunk::<C, R, $($a),*> as *const u8,
                    frame_thunk::<C, R, $($a),*>,
                )
            }

            /// The C-callable function pointer. It is valid while `self`
            /// lives; calling it after `self` is dropped is a contract
            /// violation (caught with an abort until the entry point is
            /// reused).
            pub fn as_fn(&self) -> extern $abi fn($($a),*) -> R {
                // SAFETY: the stub is code that behaves as a function of this
                // signature (it runs `invoke`).
                unsafe { core::mem::transmute::<usize, extern $abi fn($($a),*) -> R>(self.addr()) }
            }
        }
    };
}

arity!();
arity!(A1);
arity!(A1, A2);
arity!(A1, A2, A3);
arity!(A1, A2, A3, A4);
arity!(A1, A2, A3, A4, A5);
arity!(A1, A2, A3, A4, A5, A6);
arity!(A1, A2, A3, A4, A5, A6, A7);
arity!(A1, A2, A3, A4, A5, A6, A7, A8);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13);
arity!(A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14);
arity!(
    A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15
);
arity!(
    A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16
);

#[cfg(test)]
mod tests {
    //! The runtime's share of a callback on a goroutine (`cgocallback`'s
    //! case 1, done by the register shims in asm on Linux and by
    //! `enter_fast` elsewhere and on the frame path): the outermost call
    //! marks the goroutine (`lockint`), a switch inside it wires the
    //! goroutine to its thread, and the end of the outermost call clears
    //! the mark and unwires it unless `lock_os_thread` holds it.

    use super::Callback;
    use crate::runtime::m::getg;
    use std::hint::black_box;
    use std::sync::{Arc, Mutex};

    /// The running goroutine's (`lockint`, `locked`).
    fn wiring() -> (u8, bool) {
        let g = getg();
        assert!(!g.is_null(), "not on a goroutine");
        // SAFETY: the running goroutine, read by itself.
        unsafe { ((*g).lockint, (*g).locked) }
    }

    type Log = Arc<Mutex<Vec<(&'static str, (u8, bool))>>>;

    /// A callback that logs the wiring before and after a yield (a switch).
    fn switching(log: &Log, name: &'static str) -> Callback<extern "C" fn(u64) -> u64> {
        let log = log.clone();
        Callback::<extern "C" fn(u64) -> u64>::new(move |x| {
            log.lock().unwrap().push((name, wiring()));
            crate::yield_now();
            log.lock().unwrap().push((name, wiring()));
            x + 1
        })
        .unwrap()
    }

    /// Integer-class argument counts 0 to 6 take every kind of entry: the
    /// five register shims with the fast path, the one without (five
    /// arguments), the frame shim (six).
    #[test]
    fn a_switch_inside_a_callback_wires_the_goroutine_until_the_callback_returns() {
        crate::run(|| {
            let log: Log = Arc::default();
            let cb = switching(&log, "cb");
            let f = black_box(cb.as_fn());
            assert_eq!(f(1), 2);
            assert_eq!(wiring(), (0, false), "after the callback");
            assert_eq!(
                *log.lock().unwrap(),
                [("cb", (1, false)), ("cb", (1, true))]
            );

            // Signatures of every shim: the mark is set and cleared the same.
            macro_rules! each {
                ($($t:ty => ($($a:expr),*)),*) => {$({
                    let cb = Callback::<$t>::new(|$(_ignore_arg!($a)),*| wiring().0 as u64).unwrap();
                    let f = black_box(cb.as_fn());
                    assert_eq!(f($($a),*), 1, "{}", stringify!($t));
                    assert_eq!(wiring(), (0, false), "{}", stringify!($t));
                })*};
            }
            macro_rules! _ignore_arg {
                ($e:expr) => {
                    _
                };
            }
            each!(
                extern "C" fn() -> u64 => (),
                extern "C" fn(u64) -> u64 => (1),
                extern "C" fn(u64, f64, u64) -> u64 => (1, 2.0, 3),
                extern "C" fn(u64, u64, u64, u64) -> u64 => (1, 2, 3, 4),
                extern "C" fn(u64, u64, u64, u64, u64) -> u64 => (1, 2, 3, 4, 5),
                extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64 => (1, 2, 3, 4, 5, 6)
            );
        });
    }

    /// A callback nested in another leaves the outer one's mark standing;
    /// the outer one clears it.
    #[test]
    fn a_nested_callback_leaves_the_mark_to_the_outermost() {
        crate::run(|| {
            let log: Log = Arc::default();
            let inner = switching(&log, "inner");
            let fi = black_box(inner.as_fn());
            let log2 = log.clone();
            let outer = Callback::<extern "C" fn(u64) -> u64>::new(move |x| {
                let r = fi(x);
                log2.lock().unwrap().push(("outer", wiring()));
                r * 10
            })
            .unwrap();
            let fo = black_box(outer.as_fn());
            assert_eq!(fo(1), 20);
            assert_eq!(wiring(), (0, false));
            assert_eq!(
                *log.lock().unwrap(),
                [
                    ("inner", (1, false)),
                    ("inner", (1, true)),
                    ("outer", (1, true))
                ]
            );
        });
    }

    /// A goroutine the user wired itself stays wired after a callback that
    /// switched.
    #[test]
    fn a_callback_leaves_the_users_wiring_alone() {
        crate::run(|| {
            let log: Log = Arc::default();
            let cb = switching(&log, "cb");
            let f = black_box(cb.as_fn());
            crate::lock_os_thread();
            assert_eq!(f(1), 2);
            assert_eq!(wiring(), (0, true), "still the user's");
            crate::unlock_os_thread();
            assert_eq!(wiring(), (0, false));
        });
    }
}
