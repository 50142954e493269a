//! The callback table and its entries, one file per host ABI.
//!
//! Each ABI file provides:
//! - the table: `CAPACITY` entry stubs of `STUB_SIZE` bytes each, emitted with
//!   `global_asm!` into the binary's code (nothing is generated at run time),
//!   starting at `table_base()`. Stub `i` puts slot `i`'s record
//!   (`table::Slot`) in a scratch register that carries no argument and
//!   jumps to the record's `entry`;
//! - `register_entry(ints, args)`: for a signature with `ints`
//!   integer-class arguments of `args`, a shim that passes the record on in
//!   the register the ABI gives one more integer argument, to a thunk
//!   compiled for the signature with that extra parameter; `None` when that
//!   parameter would go on the stack;
//! - `frame_entry()`: the shim for the other signatures, which captures the
//!   argument registers and the address of the stack arguments into a
//!   `Frame`, calls the slot's `FrameThunk` (which decodes them with `Args`
//!   by the ABI's classification rules and stores the result with
//!   `Frame::set_int`/`set_float`), then returns the result registers;
//! - `empty_slot`: the entry of a slot without a callback (aborts);
//! - for tests, `table_len()` and `fast_entries()` (the shims that must lie
//!   in the no-preemption text).
//!
//! Every entry preserves what the ABI makes callee-saved and puts its code
//! in the callback text (`runtime::text`).

#[cfg(all(target_arch = "x86_64", not(windows)))]
mod x86_64_sysv;
#[cfg(all(target_arch = "x86_64", not(windows)))]
pub use x86_64_sysv::*;

#[cfg(all(target_arch = "x86_64", windows))]
mod x86_64_windows;
#[cfg(all(target_arch = "x86_64", windows))]
pub use x86_64_windows::*;
