//! The one place lock-free runtime structures take their atomics from, so that the
//! same code is model-checked by `loom` under `--cfg loom` (see tests/loom_runq.rs).
//! Stack switching stays outside: loom cannot model it.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32};
