//! AddressSanitizer's view of the stack switches (a build with
//! `RUSTFLAGS="-Zsanitizer=address --cfg gort_asan"`, nightly; see the
//! README). ASan keeps shadow state per stack — which bytes of the current
//! stack are live, and the "fake stack" it moves frames to for
//! use-after-return checks — and must be told when the thread starts
//! running on another one, or it reports false errors (and warns
//! "ASan is ignoring requested __asan_handle_no_return" on every unwind).
//!
//! Every switch is announced with `__sanitizer_start_switch_fiber` (the
//! stack it goes to) just before the asm switch and confirmed with
//! `__sanitizer_finish_switch_fiber` first thing on the other side:
//!
//! - goroutine → g0 (`mcall`, `systemstack`): `leave_goroutine`, then
//!   `enter_g0`; a goroutine keeps its fake stack while switched out, except
//!   one that exits (`Exit`: its frames are dead);
//! - g0 → goroutine (`execute`, the end of `systemstack`): `leave_g0`, then
//!   `enter_goroutine` (or `enter_new_goroutine` in `goroutine_main`). g0 is
//!   always re-entered at the top of its stack, so its frames are dead each
//!   time it leaves: it keeps no fake stack.
//!
//! g0's bounds are the M thread's own stack (`init_g0`). In every other
//! build each function is an empty inline one.

use super::g::G;
use super::m::M;

/// Whether the goroutine leaving comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(gort_asan), allow(dead_code))]
pub(crate) enum Leaving {
    /// It will be resumed: ASan keeps its fake stack for `enter_goroutine`.
    Resumable,
    /// It exits: its frames are dead.
    Exit,
}

#[cfg(gort_asan)]
mod imp {
    use super::{G, Leaving, M};
    use core::ffi::c_void;
    use core::ptr::null_mut;
    use core::sync::atomic::{AtomicBool, Ordering};

    unsafe extern "C" {
        fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
    }

    /// Per goroutine: ASan's fake stack while it is switched out.
    pub(crate) struct Fiber(core::cell::Cell<*mut c_void>);

    impl Fiber {
        pub(crate) const fn new() -> Fiber {
            Fiber(core::cell::Cell::new(null_mut()))
        }
    }

    /// Per M: its g0 stack, `[lo, lo + size)`, and whether a switch to a
    /// goroutine is announced but not yet confirmed.
    pub(crate) struct G0 {
        lo: core::cell::Cell<usize>,
        size: core::cell::Cell<usize>,
        pending: AtomicBool,
        /// A foreign thread's fake stack while its callback runs (extra Ms).
        thread_fake: core::cell::Cell<*mut c_void>,
    }

    impl G0 {
        pub(crate) const fn new() -> G0 {
            G0 {
                lo: core::cell::Cell::new(0),
                size: core::cell::Cell::new(0),
                pending: AtomicBool::new(false),
                thread_fake: core::cell::Cell::new(null_mut()),
            }
        }
    }

    /// A switch to a goroutine is announced and not yet confirmed: `gogo`
    /// ends the switch hold as it jumps, before the goroutine can call
    /// `enter_goroutine`, and a preemption there would announce a second
    /// switch inside the first (ASan aborts: "starting fiber switch while in
    /// fiber switch"). Async-signal-safe.
    ///
    /// # Safety
    /// `m` is a live M.
    pub(crate) unsafe fn switch_pending(m: *mut M) -> bool {
        // SAFETY: per the contract.
        unsafe { (*m).asan_g0.pending.load(Ordering::Relaxed) }
    }

    /// Records the current thread's stack as `m`'s g0 (on that thread).
    ///
    /// # Safety
    /// `m` is the current thread's M.
    pub(crate) unsafe fn init_g0(m: *mut M) {
        // SAFETY: pthread_getattr_np on the calling thread, with an attr
        // object initialised by it and destroyed here.
        unsafe {
            let mut attr: libc::pthread_attr_t = core::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return;
            }
            let mut addr: *mut c_void = null_mut();
            let mut size = 0usize;
            libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            (*m).asan_g0.lo.set(addr as usize);
            (*m).asan_g0.size.set(size);
        }
    }

    /// # Safety
    /// `gp` is running on `m`, about to switch to `m`'s g0.
    #[inline]
    pub(crate) unsafe fn leave_goroutine(gp: *mut G, m: *mut M, why: Leaving) {
        // SAFETY: per the contract.
        unsafe {
            let save = match why {
                Leaving::Resumable => (*gp).asan_fiber.0.as_ptr(),
                Leaving::Exit => null_mut(),
            };
            let g0 = &(*m).asan_g0;
            __sanitizer_start_switch_fiber(save, g0.lo.get() as *const c_void, g0.size.get());
        }
    }

    unsafe extern "C" {
        fn __asan_handle_no_return();
    }

    /// The stack is about to be cut back past live frames (`mexit` returns
    /// from `mstart_on_g0` over g0's frames): their poisoning is dropped.
    #[inline]
    pub(crate) fn before_longjmp() {
        // SAFETY: no preconditions.
        unsafe { __asan_handle_no_return() };
    }

    /// A foreign thread enters its callback goroutine `gp` (extra M `m`,
    /// `cgocallback`): the thread's own stack, whose frames stay live, is
    /// left for the goroutine's, entered afresh (`enter_new_goroutine`).
    ///
    /// # Safety
    /// On the foreign thread bound to `m`, about to switch to `gp`'s stack.
    pub(crate) unsafe fn leave_thread_stack(m: *mut M, gp: *mut G) {
        // SAFETY: per the contract.
        unsafe {
            init_g0(m);
            let s = &(*gp).stack;
            __sanitizer_start_switch_fiber(
                (*m).asan_g0.thread_fake.as_ptr(),
                s.lo as *const c_void,
                s.hi - s.lo,
            );
        }
    }

    /// The callback is over: back to the thread's stack (its frames die on
    /// the goroutine's stack).
    ///
    /// # Safety
    /// On `m`'s callback goroutine, about to switch back.
    pub(crate) unsafe fn leave_callback(m: *mut M) {
        // SAFETY: per the contract.
        unsafe {
            let g0 = &(*m).asan_g0;
            __sanitizer_start_switch_fiber(null_mut(), g0.lo.get() as *const c_void, g0.size.get());
        }
    }

    /// Back on the foreign thread's stack after `leave_callback`.
    ///
    /// # Safety
    /// `m` is the current thread's extra M.
    pub(crate) unsafe fn enter_thread_stack(m: *mut M) {
        // SAFETY: per the contract.
        unsafe {
            let fake = (*m).asan_g0.thread_fake.replace(null_mut());
            __sanitizer_finish_switch_fiber(fake, core::ptr::null_mut(), null_mut());
        }
    }

    /// First thing on g0 after `leave_goroutine`.
    #[inline]
    pub(crate) fn enter_g0() {
        // SAFETY: a fresh entry to g0 (its frames are dead: no fake stack).
        unsafe { __sanitizer_finish_switch_fiber(null_mut(), core::ptr::null_mut(), null_mut()) };
    }

    /// # Safety
    /// On g0 of `(*gp).m`, about to switch to `gp`'s stack.
    #[inline]
    pub(crate) unsafe fn leave_g0(gp: *mut G) {
        // SAFETY: per the contract; g0's frames die with the switch.
        unsafe {
            (*(*gp).m).asan_g0.pending.store(true, Ordering::Relaxed);
            let s = &(*gp).stack;
            __sanitizer_start_switch_fiber(null_mut(), s.lo as *const c_void, s.hi - s.lo);
        }
    }

    /// First thing in a resumed goroutine.
    ///
    /// # Safety
    /// `gp` is the goroutine now running.
    #[inline]
    pub(crate) unsafe fn enter_goroutine(gp: *mut G) {
        // SAFETY: per the contract; its fake stack was saved when it left.
        unsafe {
            let fake = (*gp).asan_fiber.0.replace(null_mut());
            __sanitizer_finish_switch_fiber(fake, core::ptr::null_mut(), null_mut());
            (*(*gp).m).asan_g0.pending.store(false, Ordering::Relaxed);
        }
    }

    /// First thing in a new goroutine (`goroutine_main`), on `m`.
    ///
    /// # Safety
    /// `m` is the current M.
    #[inline]
    pub(crate) unsafe fn enter_new_goroutine(m: *mut M) {
        // SAFETY: a new fiber has no fake stack; per the contract.
        unsafe {
            __sanitizer_finish_switch_fiber(null_mut(), core::ptr::null_mut(), null_mut());
            (*m).asan_g0.pending.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(gort_asan)]
pub(crate) use imp::{
    Fiber, G0, before_longjmp, enter_g0, enter_goroutine, enter_new_goroutine, enter_thread_stack,
    init_g0, leave_callback, leave_g0, leave_goroutine, leave_thread_stack, switch_pending,
};

#[cfg(not(gort_asan))]
mod imp {
    use super::{G, Leaving, M};

    /// Nothing to keep without ASan.
    pub(crate) struct Fiber;
    impl Fiber {
        pub(crate) const fn new() -> Fiber {
            Fiber
        }
    }
    /// Nothing to keep without ASan.
    pub(crate) struct G0;
    impl G0 {
        pub(crate) const fn new() -> G0 {
            G0
        }
    }
    #[inline(always)]
    pub(crate) unsafe fn init_g0(_: *mut M) {}
    #[inline(always)]
    pub(crate) unsafe fn leave_goroutine(_: *mut G, _: *mut M, _: Leaving) {}
    #[inline(always)]
    pub(crate) fn enter_g0() {}
    #[inline(always)]
    pub(crate) fn before_longjmp() {}
    #[inline(always)]
    pub(crate) unsafe fn leave_thread_stack(_: *mut M, _: *mut G) {}
    #[inline(always)]
    pub(crate) unsafe fn leave_callback(_: *mut M) {}
    #[inline(always)]
    pub(crate) unsafe fn enter_thread_stack(_: *mut M) {}
    #[inline(always)]
    pub(crate) unsafe fn leave_g0(_: *mut G) {}
    #[inline(always)]
    pub(crate) unsafe fn enter_goroutine(_: *mut G) {}
    #[inline(always)]
    pub(crate) unsafe fn enter_new_goroutine(_: *mut M) {}
    #[inline(always)]
    pub(crate) unsafe fn switch_pending(_: *mut M) -> bool {
        false
    }
}

#[cfg(not(gort_asan))]
pub(crate) use imp::{
    Fiber, G0, before_longjmp, enter_g0, enter_goroutine, enter_new_goroutine, enter_thread_stack,
    init_g0, leave_callback, leave_g0, leave_goroutine, leave_thread_stack, switch_pending,
};
