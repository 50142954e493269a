//! How every `gort::sync` primitive waits: wait lists of on-stack waiter
//! records (Go's `sudog` queues of `runtime/sema.go`), and the counting
//! semaphore built on them (Go's `semacquire` / `semrelease`).
//!
//! Two layers, so that the waiting logic exists exactly once:
//!
//! - **`WaitList<S>`**: a runtime `Lock` guarding a FIFO of `Waiter`s and a
//!   small state `S` that must change atomically with the queue (a barrier's
//!   arrival count, say). A waiter builds a `Waiter` on its stack (it owns a
//!   `Parker`), takes the lock, decides under it that it must wait, and calls
//!   `Locked::park`: that queues the record and parks through `Parker::park`,
//!   whose unlock step releases the lock only once the goroutine is parked (a
//!   thread: just before it sleeps), so a waker that finds the record under
//!   the lock can never lose the wake-up. A waker pops records under the lock,
//!   writes what it hands over into them (`ticket`), releases the lock and
//!   then calls `wake`. The record stays valid until then: its owner cannot
//!   return from `park` before `wake`.
//! - **`Sema`**: a permit count plus a `WaitList` (Go keeps one hashed table
//!   of queues for all semaphores; here every primitive owns its queue).
//!   `acquire` takes a permit with one CAS when there is one. Otherwise it
//!   registers in `nwait` under the lock, re-checks the count (a `release` that
//!   added a permit before seeing `nwait` non-zero left it for us), and parks.
//!   `release` adds a permit and, only if `nwait` is non-zero, pops the first
//!   waiter and wakes it; the woken waiter then competes for the permit again
//!   (newcomers may barge: that keeps throughput up) unless the release was a
//!   *hand-off*, which takes the permit on the waiter's behalf and yields the
//!   processor to it (Go's starving-mutex path). `acquire(lifo)` queues at the
//!   front instead: a waiter that was already woken and lost the race goes
//!   back first (Go's mutex does that).
//!
//! The `count`/`nwait` pair is a Dekker handshake: `release` writes `count`
//! then reads `nwait`, `acquire` writes `nwait` then reads `count`, all
//! sequentially consistent, so at least one of the two sees the other. `nwait`
//! equals the queue length whenever the lock is free (both change together
//! under it).
//!
//! Lock order: a wait list's lock is a leaf — nothing else is locked under it
//! and nobody is woken under it (`wake` runs after the unlock).

use crate::runtime::fatal;
use crate::runtime::g::WaitReason;
use crate::runtime::lock::Lock;
use crate::runtime::parker::Parker;
use crate::runtime::sched;
use core::cell::UnsafeCell;
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// One blocked goroutine or thread (Go's `sudog`), on its own stack. Its
/// address is what the wait list holds, so it must not move while queued.
pub(crate) struct Waiter {
    parker: Parker,
    /// Next in the wait list; only touched under the list's lock.
    next: *mut Waiter,
    /// What the waker hands over, written before `wake`: for `Sema`, 1 if the
    /// permit was already taken on the waiter's behalf; for `Cond`, the
    /// waiter's notify ticket (written by the waiter before queueing).
    pub(crate) ticket: u32,
}

impl Waiter {
    /// A record for the calling goroutine (or thread, if it may not park).
    /// Built before taking a wait list's lock: it looks up the current G (or
    /// thread handle), which need not happen inside the critical section.
    pub(crate) fn new() -> Waiter {
        Waiter {
            parker: Parker::new(),
            next: null_mut(),
            ticket: 0,
        }
    }
}

/// An intrusive singly linked FIFO of waiters (push at either end, pop at the
/// front, unlink by ticket).
struct Queue {
    head: *mut Waiter,
    tail: *mut Waiter,
}

/// Waiters popped from a list, not yet woken: the caller must `wake_all`
/// them (after releasing the lock).
pub(crate) struct Chain(*mut Waiter);

/// A runtime lock over a queue of waiters and a state `S` that changes with it.
pub(crate) struct WaitList<S = ()> {
    lock: Lock,
    queue: UnsafeCell<Queue>,
    state: UnsafeCell<S>,
}

// SAFETY: `queue` and `state` are only touched with `lock` held (through a
// `Locked`); the queued records belong to waiters that cannot leave before
// being woken, and `S` moves between threads with the lock (hence `S: Send`).
unsafe impl<S: Send> Sync for WaitList<S> {}
unsafe impl<S: Send> Send for WaitList<S> {}

/// A held `WaitList` lock: released on drop, or by `park` once parked.
pub(crate) struct Locked<'a, S> {
    list: &'a WaitList<S>,
}

impl<S> WaitList<S> {
    pub(crate) const fn new(state: S) -> WaitList<S> {
        WaitList {
            lock: Lock::new(),
            queue: UnsafeCell::new(Queue {
                head: null_mut(),
                tail: null_mut(),
            }),
            state: UnsafeCell::new(state),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Locked<'_, S> {
        self.lock.lock();
        Locked { list: self }
    }
}

impl<S> Drop for Locked<'_, S> {
    #[inline]
    fn drop(&mut self) {
        self.list.lock.unlock();
    }
}

/// The unlock step of a wait-list park: releases the list's lock.
unsafe fn unlock_list(lock: *const ()) {
    // SAFETY: `lock` is the list's `Lock`, held by this M (taken by `lock()`,
    // whose `Locked` was forgotten by `park`); the list outlives the wait
    // (the waiter holds a reference to its primitive).
    unsafe { (*(lock as *const Lock)).unlock() }
}

impl<S> Locked<'_, S> {
    /// The state guarded by the lock.
    #[inline]
    pub(crate) fn state(&mut self) -> &mut S {
        // SAFETY: the lock is held, and `&mut self` makes this the only borrow.
        unsafe { &mut *self.list.state.get() }
    }

    #[inline]
    fn queue(&mut self) -> &mut Queue {
        // SAFETY: the lock is held, and `&mut self` makes this the only borrow.
        unsafe { &mut *self.list.queue.get() }
    }

    /// Queues `w` (at the front if `lifo`) and parks until a waker pops it and
    /// calls `wake`. The lock is released by the park, once the caller is
    /// parked (a thread: before it sleeps).
    ///
    /// # Safety
    /// `w` comes from `Waiter::new()` on the caller's own stack (the caller
    /// is the waiter), is not queued anywhere, and is not moved or used by the
    /// caller other than through `w` until this returns.
    pub(crate) unsafe fn park(mut self, w: *mut Waiter, lifo: bool, reason: WaitReason) {
        let q = self.queue();
        // SAFETY: lock held; `w` is valid and stays put until a waker pops it
        // (under this lock) and wakes it, which is when `park` returns.
        unsafe {
            (*w).next = null_mut();
            if q.head.is_null() {
                q.head = w;
                q.tail = w;
            } else if lifo {
                (*w).next = q.head;
                q.head = w;
            } else {
                (*q.tail).next = w;
                q.tail = w;
            }
        }
        let lock = &self.list.lock as *const Lock as *const ();
        // The park's unlock step releases the lock from here on.
        core::mem::forget(self);
        // SAFETY: `w` is ours (per the contract); the parker is claimed and
        // woken only by whoever pops `w`. No deadline: only a wake ends it.
        unsafe { (*w).parker.park(unlock_list, lock, 0, reason) };
    }

    /// Pops the first waiter. It is the caller's to hand over to and `wake`.
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<Waiter>> {
        let q = self.queue();
        let w = NonNull::new(q.head)?;
        // SAFETY: queued records are valid while the lock is held.
        unsafe {
            q.head = (*w.as_ptr()).next;
            (*w.as_ptr()).next = null_mut();
        }
        if q.head.is_null() {
            q.tail = null_mut();
        }
        Some(w)
    }

    /// Unlinks the first waiter whose `ticket` is `t` (Go's
    /// `notifyListNotifyOne` search).
    pub(crate) fn remove_ticket(&mut self, t: u32) -> Option<NonNull<Waiter>> {
        let q = self.queue();
        let mut prev: *mut Waiter = null_mut();
        let mut cur = q.head;
        // SAFETY: queued records are valid while the lock is held.
        unsafe {
            while !cur.is_null() {
                let next = (*cur).next;
                if (*cur).ticket == t {
                    if prev.is_null() {
                        q.head = next;
                    } else {
                        (*prev).next = next;
                    }
                    if next.is_null() {
                        q.tail = prev;
                    }
                    (*cur).next = null_mut();
                    return NonNull::new(cur);
                }
                prev = cur;
                cur = next;
            }
        }
        None
    }

    /// Pops every waiter, in order. The caller must `wake_all` the chain.
    pub(crate) fn take_all(&mut self) -> Chain {
        let q = self.queue();
        let head = core::mem::replace(&mut q.head, null_mut());
        q.tail = null_mut();
        Chain(head)
    }
}

/// Lets a popped waiter go, after whatever it was handed was written into it.
///
/// # Safety
/// `w` was popped from a wait list by this caller (so nobody else wakes it)
/// and has not been woken yet. It may be freed as soon as this begins.
#[inline]
pub(crate) unsafe fn wake(w: NonNull<Waiter>) {
    // SAFETY: per the contract the record is alive (its owner is parked until
    // woken); `Parker::wake` reads all it needs before releasing it.
    unsafe {
        let p = &raw const (*w.as_ptr()).parker;
        // Sync waits have no deadline, so the popper is the only claimant.
        if !(*p).claim(0) {
            fatal("sync: a waiter was woken twice");
        }
        Parker::wake(p);
    }
}

impl Chain {
    /// Wakes every waiter of the chain, in order.
    ///
    /// # Safety
    /// As for `wake`, for each record of the chain (popped by `take_all`).
    pub(crate) unsafe fn wake_all(self) {
        let mut cur = self.0;
        while let Some(w) = NonNull::new(cur) {
            // SAFETY: per the contract; `next` is read before the record can
            // be freed by its woken owner.
            unsafe {
                cur = (*w.as_ptr()).next;
                wake(w);
            }
        }
    }
}

/// A counting semaphore whose waiters park (Go's `semacquire`/`semrelease`).
pub(crate) struct Sema {
    /// Free permits.
    count: AtomicUsize,
    /// Waiters queued or about to queue (see the essay: it gates `release`'s
    /// slow path and equals the queue length while the lock is free).
    nwait: AtomicU32,
    list: WaitList,
}

impl Sema {
    pub(crate) const fn new(permits: usize) -> Sema {
        Sema {
            count: AtomicUsize::new(permits),
            nwait: AtomicU32::new(0),
            list: WaitList::new(()),
        }
    }

    /// Free permits right now (a hint: it may change at once).
    pub(crate) fn permits(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Takes a permit if there is one (Go's `cansemacquire`).
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // SeqCst: the load is the second half of `acquire`'s Dekker handshake.
        let mut v = self.count.load(Ordering::SeqCst);
        loop {
            if v == 0 {
                return false;
            }
            match self
                .count
                .compare_exchange_weak(v, v - 1, Ordering::AcqRel, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Takes a permit, parking (or blocking the thread) until there is one.
    /// `lifo`: queue at the front (a waiter that already waited once).
    #[inline]
    pub(crate) fn acquire(&self, lifo: bool, reason: WaitReason) {
        if !self.try_acquire() {
            self.acquire_slow(lifo, reason);
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, lifo: bool, reason: WaitReason) {
        loop {
            // A fresh record each round: a woken parker cannot be reused.
            let mut w = Waiter::new();
            let wp: *mut Waiter = &mut w;
            let l = self.list.lock();
            // Announce ourselves before the last look at the count: a release
            // that adds a permit after this look sees `nwait` and wakes us.
            self.nwait.fetch_add(1, Ordering::SeqCst);
            if self.try_acquire() {
                self.nwait.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            // SAFETY: `w` is our own fresh record, used only through `wp`
            // until `park` returns.
            unsafe { l.park(wp, lifo, reason) };
            // SAFETY: the waker is done with `w` (it woke us).
            if unsafe { (*wp).ticket } != 0 || self.try_acquire() {
                return;
            }
        }
    }

    /// Adds a permit and wakes the first waiter, if any. `handoff`: take the
    /// permit for that waiter and yield the processor to it, so that it runs
    /// at once with the permit (a starving mutex).
    #[inline]
    pub(crate) fn release(&self, handoff: bool) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.nwait.load(Ordering::SeqCst) != 0 {
            self.release_slow(handoff);
        }
    }

    #[cold]
    #[inline(never)]
    fn release_slow(&self, handoff: bool) {
        let mut l = self.list.lock();
        // A waiter may have taken the permit itself meanwhile (and left).
        if self.nwait.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(w) = l.pop_front() else {
            fatal("sync: semaphore waiter count without waiters");
        };
        self.nwait.fetch_sub(1, Ordering::Relaxed);
        drop(l);
        let handed = handoff && self.try_acquire();
        // SAFETY: popped by us; the hand-over is written before the wake.
        unsafe {
            (*w.as_ptr()).ticket = handed as u32;
            wake(w);
        }
        if handed && sched::can_park() {
            // The waiter sits in our P's `runnext`: yield so it runs now with
            // the rest of our time slice (Go's direct G hand-off); otherwise a
            // lock handed to a waiter would stay unused until we block.
            sched::gosched();
        }
    }
}
