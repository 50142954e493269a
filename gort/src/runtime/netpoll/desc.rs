//! `PollDesc`: a registered socket's two wait slots (Go's `pollDesc`).
//!
//! A slot is `ready` (an edge came while nobody waited), holds the waiting
//! goroutine's `Parker`, or is empty. Everything is under the descriptor's
//! lock, which the poller, the waiting goroutine and a goroutine changing
//! a deadline take for a few loads and stores.
//!
//! - `wait`: consumes `ready` and returns at once, or registers a parker and
//!   parks (the lock is released by the park's unlock step, after the switch,
//!   so the poller cannot wake a goroutine that is still running).
//! - The poller's event (`ready_by_token`): claims the parker (ending the
//!   wait) or, with no waiter or one whose deadline already won, sets
//!   `ready`: the edge is never lost.
//! - `interrupt`: a deadline changed; the waiter wakes and recomputes it.
//!
//! Descriptors are never freed, only reused (a free list): the poller may
//! hold an event for a socket closed meanwhile. The token names the
//! descriptor and its generation (bumped at each reuse, under the lock), so
//! such an event is recognised and dropped.

use crate::runtime::g::WaitReason;
use crate::runtime::lock::Lock;
use crate::runtime::os;
use crate::runtime::parker::{Parker, TIMEOUT};
use core::cell::UnsafeCell;
use core::ptr::null;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The winning case of a wait ended by readiness.
const READY: u32 = 0;
/// The winning case of a wait ended by `interrupt`.
const INTERRUPTED: u32 = 1;

/// Where a socket address lies (x86-64 and AArch64 user space: 48 bits), so
/// the token's top 16 bits hold the generation.
const PTR_BITS: u32 = 48;

/// A direction of readiness.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// How a wait ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wait {
    /// The socket became ready (or was already): retry the syscall.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// The deadline was changed meanwhile: compute it again and retry.
    Interrupted,
}

struct Slot {
    waiter: *const Parker,
    ready: bool,
}

impl Slot {
    const EMPTY: Slot = Slot {
        waiter: null(),
        ready: false,
    };

    /// An edge: the waiter to wake, if one was claimed; else remembered.
    fn fire(&mut self) -> *const Parker {
        let p = self.waiter;
        // SAFETY: a registered parker stays alive until its owner unlinks it
        // under the lock we hold.
        if !p.is_null() && unsafe { (*p).claim(READY) } {
            self.waiter = null();
            return p;
        }
        self.ready = true;
        null()
    }

    /// Ends the wait with `INTERRUPTED`: the waiter to wake, if claimed.
    fn interrupt(&mut self) -> *const Parker {
        let p = self.waiter;
        // SAFETY: as in `fire`.
        if !p.is_null() && unsafe { (*p).claim(INTERRUPTED) } {
            self.waiter = null();
            return p;
        }
        null()
    }
}

pub(crate) struct PollDesc {
    lock: Lock,
    /// Generation, in the token's top bits; changed only by `free`, under
    /// the lock.
    seq: AtomicU32,
    read: UnsafeCell<Slot>,
    write: UnsafeCell<Slot>,
    /// The poller reported the read side closed (end of stream) or an
    /// error: sticky, as both are, until `free`. Such a readiness is not a
    /// new edge for every read, so a stream read that came back short must
    /// still try its syscall (`read_closed`).
    closed: AtomicBool,
    /// Free-list link, under `FREE`'s lock.
    next_free: UnsafeCell<*mut PollDesc>,
}

// SAFETY: the slots and the link are only touched under their locks.
unsafe impl Sync for PollDesc {}
// SAFETY: as above; the raw pointers are parkers and descriptors, which
// outlive their registration.
unsafe impl Send for PollDesc {}

struct FreeList {
    lock: Lock,
    head: UnsafeCell<*mut PollDesc>,
}

// SAFETY: `head` is only touched under `lock`.
unsafe impl Sync for FreeList {}

static FREE: FreeList = FreeList {
    lock: Lock::new(),
    head: UnsafeCell::new(core::ptr::null_mut()),
};

impl PollDesc {
    /// A descriptor with empty slots: reused, or new (and never freed).
    pub(super) fn alloc() -> &'static PollDesc {
        FREE.lock.lock();
        // SAFETY: lock held; listed descriptors are leaked, never freed.
        let pd = unsafe {
            let head = *FREE.head.get();
            if !head.is_null() {
                *FREE.head.get() = *(*head).next_free.get();
            }
            head
        };
        FREE.lock.unlock();
        if !pd.is_null() {
            // SAFETY: leaked, so 'static; off the list, so ours.
            return unsafe { &*pd };
        }
        Box::leak(Box::new(PollDesc {
            lock: Lock::new(),
            seq: AtomicU32::new(0),
            read: UnsafeCell::new(Slot::EMPTY),
            write: UnsafeCell::new(Slot::EMPTY),
            closed: AtomicBool::new(false),
            next_free: UnsafeCell::new(core::ptr::null_mut()),
        }))
    }

    /// Returns `pd` to the free list, with a new generation: events still on
    /// their way for its old socket are dropped.
    pub(super) fn free(pd: &'static PollDesc) {
        pd.lock.lock();
        pd.seq.fetch_add(1, Ordering::Relaxed);
        // SAFETY: lock held. Nobody waits (the owner is going away).
        unsafe {
            *pd.read.get() = Slot::EMPTY;
            *pd.write.get() = Slot::EMPTY;
        }
        pd.closed.store(false, Ordering::Relaxed);
        pd.lock.unlock();
        FREE.lock.lock();
        // SAFETY: lock held.
        unsafe {
            *pd.next_free.get() = *FREE.head.get();
            *FREE.head.get() = pd as *const PollDesc as *mut PollDesc;
        }
        FREE.lock.unlock();
    }

    /// Has the poller seen the read side closed or an error? (See `closed`.)
    pub(crate) fn read_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The poller's token for this descriptor in its current generation.
    pub(super) fn token(&self) -> mio::Token {
        let addr = self as *const PollDesc as usize;
        debug_assert!(addr >> PTR_BITS == 0);
        let seq = (self.seq.load(Ordering::Relaxed) & 0xffff) as usize;
        mio::Token(addr | (seq << PTR_BITS))
    }

    /// The slot for `which`.
    ///
    /// # Safety
    /// The lock is held.
    #[allow(clippy::mut_from_ref)] // guarded by `lock`
    unsafe fn slot(&self, which: Interest) -> &mut Slot {
        // SAFETY: per the contract.
        unsafe {
            match which {
                Interest::Read => &mut *self.read.get(),
                Interest::Write => &mut *self.write.get(),
            }
        }
    }

    /// Waits until the socket is ready for `which`, or until `deadline`
    /// (`nanotime`; 0: none). For a goroutine that may park
    /// (`sched::can_park`); a thread waits with `wait_thread` instead.
    pub(crate) fn wait(&self, which: Interest, deadline: i64) -> Wait {
        let parker = Parker::new();
        self.lock.lock();
        // SAFETY: lock held (until the park's unlock step releases it).
        let slot = unsafe { self.slot(which) };
        if slot.ready {
            slot.ready = false;
            self.lock.unlock();
            return Wait::Ready;
        }
        if deadline != 0 && os::nanotime() >= deadline {
            self.lock.unlock();
            return Wait::TimedOut;
        }
        debug_assert!(slot.waiter.is_null(), "two waiters on one slot");
        slot.waiter = &parker;
        super::count_waiter(1);
        let case = parker.park(
            unlock_desc,
            self as *const PollDesc as *const (),
            deadline,
            WaitReason::IoWait,
        );
        super::count_waiter(-1);
        self.lock.lock();
        // SAFETY: lock held.
        let slot = unsafe { self.slot(which) };
        if core::ptr::eq(slot.waiter, &parker) {
            slot.waiter = null();
        }
        self.lock.unlock();
        match case {
            READY => Wait::Ready,
            TIMEOUT => Wait::TimedOut,
            _ => Wait::Interrupted,
        }
    }

    /// Wakes the goroutines waiting on this descriptor (a deadline changed).
    pub(crate) fn interrupt(&self) {
        self.lock.lock();
        // SAFETY: lock held.
        let woken = unsafe {
            [
                self.slot(Interest::Read).interrupt(),
                self.slot(Interest::Write).interrupt(),
            ]
        };
        self.lock.unlock();
        wake_all(woken);
    }

    /// The poller's event for `token`: ends the waits it readies. Returns how
    /// many goroutines it woke.
    pub(super) fn ready_by_token(
        token: mio::Token,
        read: bool,
        write: bool,
        closed: bool,
    ) -> usize {
        let addr = token.0 & ((1usize << PTR_BITS) - 1);
        let seq = (token.0 >> PTR_BITS) as u32;
        // SAFETY: tokens are made from descriptors, which are never freed.
        let pd = unsafe { &*(addr as *const PollDesc) };
        pd.lock.lock();
        if pd.seq.load(Ordering::Relaxed) & 0xffff != seq {
            // A stale event: the socket it was for is gone.
            pd.lock.unlock();
            return 0;
        }
        if closed {
            // Before the reader is woken, which then sees it.
            pd.closed.store(true, Ordering::Release);
        }
        // SAFETY: lock held.
        let woken = unsafe {
            [
                if read {
                    pd.slot(Interest::Read).fire()
                } else {
                    null()
                },
                if write {
                    pd.slot(Interest::Write).fire()
                } else {
                    null()
                },
            ]
        };
        pd.lock.unlock();
        // Like Go's `injectglist`: to the back of the queue, not `runnext`
        // (a goroutine readied there would inherit the time slice of the
        // one running, and a poll's worth of them would run last-first);
        // the poll's caller starts idle Ps once for all of them.
        let mut n = 0;
        for p in woken {
            if !p.is_null() {
                // SAFETY: claimed by us, and this is its only wake.
                unsafe { Parker::wake_batch(p) };
                n += 1;
            }
        }
        n
    }
}

/// Wakes the claimed parkers (after the descriptor's lock is released: a
/// woken goroutine takes it again at once). Returns how many.
fn wake_all(parkers: [*const Parker; 2]) -> usize {
    let mut n = 0;
    for p in parkers {
        if !p.is_null() {
            // SAFETY: claimed by us, and this is its only wake.
            unsafe { Parker::wake(p) };
            n += 1;
        }
    }
    n
}

/// The park's unlock step: the descriptor whose lock the waiter holds.
unsafe fn unlock_desc(data: *const ()) {
    // SAFETY: `data` is the descriptor `wait` locked; descriptors are never
    // freed.
    unsafe { (*(data as *const PollDesc)).lock.unlock() };
}
