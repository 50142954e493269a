//! The one place lock-free runtime structures take their atomics from, so that the
//! same code is model-checked by `loom` under `--cfg loom` (the `loom_*` test
//! modules: `sched::runq`, `scope`).
//! Stack switching stays outside: loom cannot model it.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicIsize, AtomicPtr, AtomicU32, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicIsize, AtomicPtr, AtomicU32, AtomicUsize};
