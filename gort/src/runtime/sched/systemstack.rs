//! `systemstack(f)`: run `f` on the M's g0 stack (Go's `systemstack`).
//!
//! For work that needs more stack than a goroutine may have left (formatting a
//! panic backtrace: symbolisation takes tens of KiB) or must not run on a goroutine
//! stack at all. The goroutine cannot be switched out while `f` runs, so `f` must
//! not park, yield or sleep; a panic in `f` aborts (it runs behind an `extern "C"`
//! frame, which cannot unwind).

use crate::runtime::m::NoPreempt;
use crate::runtime::{arch, sanitizer};

pub(crate) fn systemstack<F: FnOnce() -> R, R>(f: F) -> R {
    // Held throughout: a goroutine preempted between here and the switch
    // could be released to another thread and switch to this one's g0 stack.
    let hold = NoPreempt::new();
    let m = hold.m();
    let here = &m as *const _ as usize;
    // SAFETY: the current thread's own M and its running G's descriptor.
    let on_goroutine_stack = !m.is_null()
        && unsafe {
            let gp = (*m).curg;
            !gp.is_null() && (*gp).stack.lo <= here && here < (*gp).stack.hi
        };
    if !on_goroutine_stack {
        // Already on g0 (or a plain thread's own stack).
        return f();
    }
    struct Env<F, R> {
        f: Option<F>,
        r: Option<R>,
        gp: *mut crate::runtime::g::G,
    }
    unsafe extern "C" fn tramp<F: FnOnce() -> R, R>(arg: *mut u8) {
        sanitizer::enter_g0();
        // SAFETY: `arg` is the `Env` on the goroutine stack below, which stays
        // live (and untouched by anyone else) until `systemstack_switch` returns.
        let env = unsafe { &mut *(arg as *mut Env<F, R>) };
        let f = env.f.take().expect("systemstack: closure taken twice");
        env.r = Some(f());
        // SAFETY: the goroutine we came from, resumed by the asm's return.
        unsafe { sanitizer::leave_g0(env.gp) };
    }
    // SAFETY: the current M's running goroutine (checked above).
    let gp = unsafe { (*m).curg };
    let mut env = Env {
        f: Some(f),
        r: None,
        gp,
    };
    // SAFETY: we are on a goroutine stack of this M (checked above), so nothing is
    // live on g0; the goroutine cannot move to another M during `f`.
    unsafe {
        sanitizer::leave_goroutine(gp, m, sanitizer::Leaving::Resumable);
        arch::systemstack_switch(
            &mut env as *mut Env<F, R> as *mut u8,
            tramp::<F, R>,
            (*m).g0_sp,
        );
        sanitizer::enter_goroutine(gp);
    }
    env.r.expect("systemstack: no result")
}
