//! `OneShot`: an event set once and waited for by at most one waiter, which may be
//! a goroutine (it parks) or a plain OS thread (it blocks). Used by `join` and
//! `scope`.
//!
//! Protocol: the waiter takes `lock`, re-checks `done`, registers itself and parks
//! through `gopark`'s unlock hand-off (goroutine) or releases the lock and sleeps
//! on its own flag (thread). The setter takes `lock`, sets `done`, takes the waiter
//! out, releases the lock and only then wakes it. After releasing the lock the
//! setter touches nothing of the `OneShot` (the waiter may free it as soon as it
//! sees `done`), only the waiter record it moved out.

use super::g::{G, WaitReason};
use super::lock::Lock;
use super::m::getg;
use super::sched;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;

enum Waiter {
    G(*mut G),
    Thread {
        thread: Thread,
        woken: *const AtomicBool,
    },
}

pub(crate) struct OneShot {
    lock: Lock,
    done: AtomicBool,
    waiter: UnsafeCell<Option<Waiter>>,
}

// SAFETY: `waiter` is only touched with `lock` held; the raw pointers in it refer
// to a parked G (owned by this structure until readied) or a flag on the stack of
// a thread that is blocked until the flag is set.
unsafe impl Sync for OneShot {}
unsafe impl Send for OneShot {}

impl OneShot {
    pub(crate) const fn new() -> OneShot {
        OneShot {
            lock: Lock::new(),
            done: AtomicBool::new(false),
            waiter: UnsafeCell::new(None),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until `set` has been called. At most one waiter at a time.
    pub(crate) fn wait(&self, reason: WaitReason) {
        if self.is_set() {
            return;
        }
        self.lock.lock();
        if self.done.load(Ordering::Acquire) {
            self.lock.unlock();
            return;
        }
        if sched::can_park() {
            // SAFETY: lock held.
            unsafe { *self.waiter.get() = Some(Waiter::G(getg())) };
            sched::unlock_lock_and_park(&self.lock, reason);
            // Readied by `set`, which stored `done` before.
        } else {
            let woken = AtomicBool::new(false);
            // SAFETY: lock held.
            unsafe {
                *self.waiter.get() = Some(Waiter::Thread {
                    thread: std::thread::current(),
                    woken: &woken,
                })
            };
            self.lock.unlock();
            while !woken.load(Ordering::Acquire) {
                std::thread::park();
            }
        }
    }

    /// Sets the event and wakes the waiter, if any. Idempotent.
    pub(crate) fn set(&self) {
        self.lock.lock();
        self.done.store(true, Ordering::Release);
        // SAFETY: lock held.
        let w = unsafe { (*self.waiter.get()).take() };
        self.lock.unlock();
        match w {
            None => {}
            Some(Waiter::G(gp)) => sched::goready(gp),
            Some(Waiter::Thread { thread, woken }) => {
                // SAFETY: the waiting thread keeps `woken` alive until it reads true.
                unsafe { (*woken).store(true, Ordering::Release) };
                thread.unpark();
            }
        }
    }
}
