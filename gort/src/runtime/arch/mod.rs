//! Context switching, one file per host ABI.
//!
//! Each ABI file provides the same primitives, named after Go's:
//! - `Gobuf`: the saved context of a goroutine that is not running — exactly the
//!   state the ABI says a callee must preserve, plus SP and PC;
//! - `gogo(buf) -> !`: restore a `Gobuf` and jump to it (resume a goroutine);
//! - `mcall(save, g0_sp, f, gp)`: save the running goroutine's context into `save`,
//!   switch to the M's g0 stack at `g0_sp` and call `f(gp)`, which never returns
//!   (it ends in `gogo` of some goroutine, possibly this one);
//! - `systemstack_switch(arg, f, g0_sp)`: call `f(arg)` on the g0 stack and come back;
//! - `mstart_on_g0(g0_sp_out, f, m)`: record the top of the current OS thread's
//!   stack as the M's g0 stack and call `f(m)` there (`f` never returns);
//! - `mexit(g0_sp) -> !`: drop the g0 stack and return from `mstart_on_g0`
//!   (the thread is ending: `lock_os_thread`);
//! - `gogo_start(sp, gp) -> !`: start a new goroutine: call
//!   `sched::goroutine_main(gp)` on a fresh stack whose top is `sp`, with the
//!   ABI's default floating-point control state;
//! - `cgocallback_switch(arg, f, stack, g0_sp_out)`: for a callback on a
//!   foreign thread: make the stack below the caller the M's g0, call `f(arg)`
//!   on the goroutine stack `stack`, and come back;
//! - `current_sp()`: the stack pointer (stack headroom checks).
//!
//! Only the asm lives here; what runs on each side of a switch is in `sched`.

#[cfg(all(target_arch = "x86_64", not(windows)))]
mod x86_64_sysv;
#[cfg(all(target_arch = "x86_64", not(windows)))]
pub(crate) use x86_64_sysv::*;

#[cfg(all(target_arch = "x86_64", windows))]
mod x86_64_windows;
#[cfg(all(target_arch = "x86_64", windows))]
pub(crate) use x86_64_windows::*;
