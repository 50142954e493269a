//! Synchronization primitives that park the goroutine, never the OS thread
//! (Go's `sync` package, with std's shapes where std has the type).
//!
//! Every type here works from a goroutine and from a plain thread alike: a
//! goroutine that must wait is parked (its thread runs other goroutines), a
//! thread is blocked. The two may wait on the same lock.
//!
//! | type | Go | notes |
//! |---|---|---|
//! | [`Mutex<T>`], [`MutexGuard`] | `sync.Mutex` | spin briefly, then park; after 1 ms a waiter gets hand-off (starvation mode) |
//! | [`RwLock<T>`], [`RwLockReadGuard`], [`RwLockWriteGuard`] | `sync.RWMutex` | writer preference, no writer starvation |
//! | [`Cond`] | `sync.Cond` | with gort's `Mutex`; no lost wake-ups |
//! | [`WaitGroup`] | `sync.WaitGroup` | `add(isize)`, `done`, `wait`; reusable at once |
//! | [`Once`] | `sync.Once` | `call_once`, `is_completed` |
//! | [`Semaphore`] | (x/sync/semaphore) | `acquire`, `try_acquire`, `release` |
//! | [`Barrier`], [`BarrierWaitResult`] | (std's `Barrier`) | reusable round after round |
//!
//! Guards are returned directly: there is no poisoning (a panic while a lock
//! is held unlocks it, as in Go).
//!
//! Inside, one waiting mechanism serves all of them (`sema`): queues of
//! on-stack waiter records under a runtime lock, parked and woken through
//! the runtime's `Parker`, and Go's counting semaphore on top. `Mutex` and
//! `RwLock` are Go's state machines, written against `env::Env` so that loom
//! model-checks the same code.

mod barrier;
mod cond;
mod env;
mod mutex;
mod once;
mod rwlock;
mod sema;
mod semaphore;
mod waitgroup;

pub use barrier::{Barrier, BarrierWaitResult};
pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;
pub use waitgroup::WaitGroup;
