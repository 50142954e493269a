//! Scoped goroutines: `scope(|s| { s.go(|| ...); })` may borrow from the enclosing
//! stack frame because `scope` does not return until every goroutine spawned in it
//! has finished — the same contract and the same shape as `std::thread::scope`.
//!
//! Accounting: `running` starts at 1 (the scope body itself) and each spawned
//! goroutine's packet adds one; a packet decrements when it is dropped, i.e. after
//! its result (which may borrow from the environment) is gone. Whoever brings it
//! to zero sets `done`. A goroutine that panicked and was not joined makes `scope`
//! panic after all have finished.

use crate::runtime::g::WaitReason;
use crate::runtime::waiter::OneShot;
use crate::spawn::{GoroutineId, ScopeMarker, TaskHandle, spawn_task};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::thread;

pub(crate) struct ScopeData {
    running: AtomicUsize,
    a_goroutine_panicked: AtomicBool,
    done: OneShot,
}

impl ScopeData {
    pub(crate) fn decrement_running(&self, panicked: bool) {
        if panicked {
            self.a_goroutine_panicked.store(true, Ordering::Relaxed);
        }
        if self.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.set();
        }
    }
}

/// A scope to spawn goroutines that borrow from outside it; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Owned permission to join a scoped goroutine.
pub struct ScopedJoinHandle<'scope, T> {
    task: TaskHandle<T>,
    id: GoroutineId,
    _scope: ScopeMarker<'scope>,
}

/// Creates a scope for spawning goroutines that borrow local data.
///
/// All goroutines spawned in the scope are joined before `scope` returns. If one
/// of them panicked and was not joined, `scope` panics after all have finished.
/// Works inside a goroutine (it parks) and on a plain thread (it blocks).
///
/// ```
/// let mut counts = [0u32; 4];
/// gort::scope(|s| {
///     for (i, c) in counts.iter_mut().enumerate() {
///         s.go(move || *c = i as u32 * 10);
///     }
/// });
/// assert_eq!(counts, [0, 10, 20, 30]);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(1),
            a_goroutine_panicked: AtomicBool::new(false),
            done: OneShot::new(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // The body's own count.
    if scope.data.running.fetch_sub(1, Ordering::AcqRel) != 1 {
        scope.data.done.wait(WaitReason::Scope);
    }
    match result {
        Err(e) => resume_unwind(e),
        Ok(_) if scope.data.a_goroutine_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped goroutine panicked")
        }
        Ok(r) => r,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a goroutine that may borrow anything that outlives the scope.
    /// Panics if the goroutine cannot be created (like `std::thread::Scope::spawn`).
    pub fn go<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.data.running.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `scope` waits until every packet of this scope has been dropped,
        // which happens after the goroutine has finished with `f` and the result.
        match unsafe { spawn_task(f, Some(self.data.clone()), None, None) } {
            Ok((task, id)) => ScopedJoinHandle {
                task,
                id,
                _scope: PhantomData,
            },
            Err(e) => {
                // The task (and its packet) was dropped, undoing the count.
                panic!("failed to spawn goroutine: {e}")
            }
        }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the goroutine and returns its result or panic payload.
    pub fn join(self) -> thread::Result<T> {
        self.task.packet().join()
    }

    /// True once the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.task.packet().is_finished()
    }

    /// The goroutine's id.
    pub fn id(&self) -> GoroutineId {
        self.id
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("id", &self.id)
            .finish()
    }
}
