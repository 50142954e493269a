//! Sudogs and wait queues: how a blocked sender or receiver sits on a channel
//! (Go's `sudog` and `waitq`).
//!
//! A `Sudog` lives on the waiter's stack (a goroutine's or a thread's) and is
//! linked into a channel's `recvq` or `sendq` under the channel's lock. A
//! `select` puts one on every channel it waits on, all pointing at the same
//! `Parker`; a waker that pops one must `claim` the parker before touching
//! anything else, and a sudog whose parker someone else won is just unlinked
//! and skipped (`pop_claimed`).

use crate::runtime::parker::Parker;
use core::ptr::null_mut;

pub(crate) struct Sudog {
    pub parker: *const Parker,
    /// Which case of the waiter this is (0 for a plain send or receive).
    pub case: u32,
    /// The waiter's value slot (`*mut MaybeUninit<T>`): the value to take,
    /// for a sender; where to put one, for a receiver.
    pub elem: *mut u8,
    /// Written by the waker that won: true if a value was handed over, false
    /// if the channel was closed.
    pub ok: bool,
    queued: bool,
    next: *mut Sudog,
    prev: *mut Sudog,
}

impl Sudog {
    pub(crate) const fn new() -> Sudog {
        Sudog {
            parker: core::ptr::null(),
            case: 0,
            elem: null_mut(),
            ok: false,
            queued: false,
            next: null_mut(),
            prev: null_mut(),
        }
    }
}

/// A FIFO of sudogs, intrusive and doubly linked (a select's losing sudogs
/// are unlinked from the middle).
pub(crate) struct WaitQ {
    head: *mut Sudog,
    tail: *mut Sudog,
}

impl WaitQ {
    pub(crate) const fn new() -> WaitQ {
        WaitQ {
            head: null_mut(),
            tail: null_mut(),
        }
    }

    /// # Safety
    /// The channel's lock is held; `sg` is not queued and stays put until it
    /// is unlinked.
    pub(crate) unsafe fn push_back(&mut self, sg: *mut Sudog) {
        // SAFETY: per the contract.
        unsafe {
            (*sg).queued = true;
            (*sg).next = null_mut();
            (*sg).prev = self.tail;
            if self.tail.is_null() {
                self.head = sg;
            } else {
                (*self.tail).next = sg;
            }
            self.tail = sg;
        }
    }

    /// Unlinks `sg` if it is still queued here.
    ///
    /// # Safety
    /// The channel's lock is held; `sg` was pushed onto this queue (and is
    /// either still in it or was unlinked by `pop_claimed`).
    pub(crate) unsafe fn remove(&mut self, sg: *mut Sudog) {
        // SAFETY: per the contract.
        unsafe {
            if !(*sg).queued {
                return;
            }
            let (prev, next) = ((*sg).prev, (*sg).next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).prev = prev;
            }
            (*sg).queued = false;
        }
    }

    /// Pops waiters from the front until one whose parker this call wins;
    /// returns it (claimed: the caller must hand over and then wake it), or
    /// null if none is left.
    ///
    /// # Safety
    /// The channel's lock is held.
    pub(crate) unsafe fn pop_claimed(&mut self) -> *mut Sudog {
        loop {
            let sg = self.head;
            if sg.is_null() {
                return sg;
            }
            // SAFETY: queued sudogs stay valid while the lock is held; their
            // waiters cannot leave before unlinking them under this lock.
            unsafe {
                self.remove(sg);
                if (*(*sg).parker).claim((*sg).case) {
                    return sg;
                }
            }
        }
    }
}
