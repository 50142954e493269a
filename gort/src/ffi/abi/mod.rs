//! The callback table and its common entry, one file per host ABI.
//!
//! Each ABI file provides:
//! - the table: `CAPACITY` entry stubs of `STUB_SIZE` bytes each, emitted with
//!   `global_asm!` into the binary's code (nothing is generated at run time),
//!   starting at `table_base()`. Stub `i` puts `i` in a scratch register that
//!   carries no argument and jumps to the common entry;
//! - the common entry: saves what the ABI makes callee-saved, captures the
//!   argument registers and the address of the stack arguments into a
//!   `Frame`, calls `table::dispatch(slot, frame)`, then loads the result
//!   registers from the frame and returns to the foreign caller;
//! - `Args`: reads the arguments of a given signature out of a `Frame` by the
//!   ABI's classification rules, and `Frame::set_int`/`set_float` for the
//!   result.

#[cfg(all(target_arch = "x86_64", not(windows)))]
mod x86_64_sysv;
#[cfg(all(target_arch = "x86_64", not(windows)))]
pub use x86_64_sysv::*;
