//! The current thread's M: the one thread-local word the runtime keeps.
//!
//! Rust code reads it through `m::getm` and friends. Where hand-written asm
//! must read it too (the foreign-callback entry shims in `ffi::abi`, which
//! find the running goroutine before any Rust code runs), the word is
//! defined in asm, as a symbol that both the asm and `get`/`set` here name
//! (`linux_x86_64.rs`); on Windows it is a TEB slot read with one `GS:` load
//! (`windows_x86_64.rs`: `thread_local!` there calls into std); elsewhere it
//! is a plain `thread_local!` and the asm side does without it (the shims
//! then always take the Rust path).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux_x86_64;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) use linux_x86_64::*;

#[cfg(all(windows, target_arch = "x86_64"))]
mod windows_x86_64;
#[cfg(all(windows, target_arch = "x86_64"))]
pub(crate) use windows_x86_64::*;

#[cfg(not(all(any(target_os = "linux", windows), target_arch = "x86_64")))]
mod portable;
#[cfg(not(all(any(target_os = "linux", windows), target_arch = "x86_64")))]
pub(crate) use portable::*;
