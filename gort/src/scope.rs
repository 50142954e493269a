//! Scoped goroutines: `scope(|s| { s.go(|| ...); })` may borrow from the enclosing
//! stack frame because `scope` does not return until every goroutine spawned in it
//! has finished — the same contract and the same shape as `std::thread::scope`.
//!
//! Accounting is split so that spawning and finishing do not write the same
//! cache line (in a spawn loop the spawner and the goroutines run on different
//! cores, and one shared counter moved between them twice per goroutine):
//!
//! - `spawned` counts goroutines spawned in the scope; only spawners write it.
//! - `pending` is decremented by each finishing goroutine (when its packet is
//!   dropped, i.e. after its result, which may borrow the environment, is gone);
//!   it goes negative while the body runs.
//! - When the body has returned, the owner flips `WAITING` in `spawned`, which
//!   atomically takes a snapshot `s` of the spawns so far, and adds `s + SETTLED`
//!   to `pending`. From then on `pending - SETTLED` is the number of goroutines
//!   still running; a spawn after the snapshot (by a scoped goroutine) sees
//!   `WAITING` and adds one to `pending` itself. The goroutine whose decrement
//!   takes `pending` from `SETTLED + 1` to `SETTLED` sets `done`.
//!
//! `SETTLED` is far above any count, so no value reached before the owner's
//! addition can look like the last decrement. Nothing touches `ScopeData` after
//! its own decrement except the last goroutine's `done.set()`, and the owner
//! cannot return before that `set` (it either saw zero pending at its addition,
//! so no decrement can be the last one after it, or it waits on `done`). So
//! `ScopeData` lives in `scope`'s frame, with no reference count per spawn.
//!
//! A goroutine that panicked and was not joined makes `scope` panic after all
//! have finished.

use crate::runtime::g::WaitReason;
use crate::runtime::loom::{AtomicIsize, AtomicUsize};
use crate::runtime::waiter::OneShot;
use crate::spawn::{GoroutineId, ScopeMarker, TaskHandle, spawn_task};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use crossbeam_utils::CachePadded;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::thread;

/// Flag in `spawned`: the body has returned and the owner is waiting.
const WAITING: usize = 1 << (usize::BITS - 1);
/// Added to `pending` with the owner's snapshot.
const SETTLED: isize = 1 << (isize::BITS - 2);

/// The lock-free accounting (see the module comment), apart so that it can be
/// model-checked with loom.
struct Counts {
    spawned: CachePadded<AtomicUsize>,
    pending: CachePadded<AtomicIsize>,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            spawned: CachePadded::new(AtomicUsize::new(0)),
            pending: CachePadded::new(AtomicIsize::new(0)),
        }
    }

    /// Counts a goroutine about to be spawned (it will call `finished` once).
    fn spawning(&self) {
        if self.spawned.fetch_add(1, Ordering::AcqRel) & WAITING != 0 {
            // After the owner's snapshot: count ourselves in `pending`. Only a
            // scoped goroutine can spawn now, and it is still running (not yet
            // decremented), so `pending` cannot reach the settled zero before this.
            self.pending.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// One goroutine is done. True if it was the last after the owner settled:
    /// the caller must then wake the owner. Touches nothing after its decrement.
    fn finished(&self) -> bool {
        self.pending.fetch_sub(1, Ordering::AcqRel) == SETTLED + 1
    }

    /// Called once by the owner after the body returned. True if every goroutine
    /// has already finished (nobody will wake the owner); false if the last one
    /// to finish will.
    fn settle(&self) -> bool {
        let s = self.spawned.fetch_or(WAITING, Ordering::AcqRel) & !WAITING;
        let before = self
            .pending
            .fetch_add(s as isize + SETTLED, Ordering::AcqRel);
        before + s as isize == 0
    }
}

pub(crate) struct ScopeData {
    counts: Counts,
    a_goroutine_panicked: AtomicBool,
    done: OneShot,
}

impl ScopeData {
    fn new() -> ScopeData {
        ScopeData {
            counts: Counts::new(),
            a_goroutine_panicked: AtomicBool::new(false),
            done: OneShot::new(),
        }
    }

    /// A scoped goroutine's packet is gone. The owner may free `self` as soon as
    /// the decrement in `finished` is done, unless this was the last goroutine,
    /// whose `done.set()` the owner waits for (`set` touches the event's state
    /// and the waiter record, never the event after the store that releases it).
    pub(crate) fn finished(&self, panicked: bool) {
        if panicked {
            self.a_goroutine_panicked.store(true, Ordering::Relaxed);
        }
        if self.counts.finished() {
            self.done.set();
        }
    }

    /// Called by the owner once the body has returned: waits for every goroutine.
    fn wait_all(&self) {
        if !self.counts.settle() {
            self.done.wait(WaitReason::Scope);
        }
    }
}

/// A scope to spawn goroutines that borrow from outside it; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: ScopeData,
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
        data: ScopeData::new(),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.data.wait_all();
    match result {
        Err(e) => {
            // A panic that skips the hook: own the thread for it first (see
            // `runtime::panic`).
            crate::runtime::sched::locked::wire_for_panic();
            resume_unwind(e)
        }
        Ok(_) if scope.data.a_goroutine_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped goroutine panicked")
        }
        Ok(r) => r,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a goroutine that may borrow anything that outlives the scope.
    /// Panics if the goroutine cannot be created (like `std::thread::Scope::spawn`).
    #[track_caller]
    pub fn go<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.data.counts.spawning();
        // SAFETY: `scope` waits until every packet of this scope has been dropped,
        // which happens after the goroutine has finished with `f` and the result;
        // `self.data` lives until then (see the module comment).
        let site = core::panic::Location::caller();
        match unsafe { spawn_task(f, Some(NonNull::from(&self.data)), None, None, site) } {
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
        self.task.join()
    }

    /// True once the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The goroutine's id.
    pub fn id(&self) -> GoroutineId {
        self.id
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field(
                "spawned",
                &(self.data.counts.spawned.load(Ordering::Relaxed) & !WAITING),
            )
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

#[cfg(all(test, loom))]
mod loom_scope {
    use super::{Counts, SETTLED, WAITING};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// Two goroutines spawned by the body; one of them spawns a third, before or
    /// after the owner settles. If the owner need not wait, all three have
    /// finished; if it must, exactly one wake-up comes, after the last
    /// decrement (an early wake would be followed by a second one).
    #[test]
    fn owner_waits_for_late_spawns_and_is_woken_once() {
        loom::model(|| {
            struct Shared {
                counts: Counts,
                woken: AtomicUsize,
            }
            let sh = Arc::new(Shared {
                counts: Counts::new(),
                woken: AtomicUsize::new(0),
            });
            fn finish(sh: &Shared) {
                if sh.counts.finished() {
                    sh.woken.fetch_add(1, Ordering::SeqCst);
                }
            }
            sh.counts.spawning();
            sh.counts.spawning();
            let a = {
                let sh = sh.clone();
                thread::spawn(move || {
                    sh.counts.spawning();
                    let sh2 = sh.clone();
                    let g = thread::spawn(move || finish(&sh2));
                    finish(&sh);
                    g
                })
            };
            let b = {
                let sh = sh.clone();
                thread::spawn(move || finish(&sh))
            };
            let waited = !sh.counts.settle();
            if !waited {
                // `scope` would return now: nothing may be pending, and every
                // spawn (including the late one) must be counted.
                assert_eq!(sh.counts.pending.load(Ordering::SeqCst), SETTLED);
                assert_eq!(sh.counts.spawned.load(Ordering::SeqCst), 3 | WAITING);
            }
            a.join().unwrap().join().unwrap();
            b.join().unwrap();
            assert_eq!(sh.counts.pending.load(Ordering::SeqCst), SETTLED);
            // A wake before a late spawn was counted would be followed by a
            // second one when that goroutine finished.
            assert_eq!(sh.woken.load(Ordering::SeqCst), waited as usize);
        });
    }
}
