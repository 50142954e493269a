//! `Chan<T>`: the channel itself (Go's `hchan`): a ring buffer, the queues of
//! blocked receivers and senders, and a lock over all of it.
//!
//! The rules, as in Go:
//! - A sender that finds a waiting receiver hands its value straight to it
//!   (the buffer is then empty); otherwise it appends to the buffer if there
//!   is room, else it waits.
//! - A receiver that finds a waiting sender takes the buffer's head and moves
//!   the sender's value to the buffer's tail (FIFO is kept), or, unbuffered,
//!   takes the sender's value directly; otherwise it takes the buffer's head,
//!   or sees the channel closed once the buffer is empty, or waits.
//! - `close` wakes every waiter: receivers see the channel closed, senders get
//!   their value back.
//!
//! Waiting goes through `Parker` (see `runtime::parker` for the protocol that
//! makes timeouts and `select` race-free). The `*_locked` functions are the
//! non-blocking halves shared with `select`.
//!
//! The lock is the runtime's `Lock` (it holds off preemption and may be
//! released on g0 by `gopark`'s unlock step). Critical sections are a few
//! dozen instructions; nothing that can block or run user code happens under
//! it, except dropping nothing: values are moved, never dropped, inside.

use super::waitq::{Sudog, WaitQ};
use crate::runtime::g::WaitReason;
use crate::runtime::lock::Lock;
use crate::runtime::os;
use crate::runtime::parker::{Parker, TIMEOUT};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::{self, null};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How long an operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    No,
    Forever,
    /// Until this `nanotime`.
    Until(i64),
}

pub(crate) enum SendResult<T> {
    Sent,
    Closed(T),
    Full(T),
    Timeout(T),
}

pub(crate) enum RecvResult<T> {
    Received(T),
    Closed,
    Empty,
    Timeout,
}

struct State<T> {
    buf: Box<[MaybeUninit<T>]>,
    /// Index of the oldest buffered value.
    head: usize,
    /// Buffered values.
    len: usize,
    closed: bool,
    recvq: WaitQ,
    sendq: WaitQ,
}

pub(crate) struct Chan<T> {
    /// Not padded to its own cache line: with `Lock`'s Go-style spinning that
    /// measured no faster (18 ns per message either way on `chanthroughput`)
    /// and cost ~290 bytes per channel (`parkedchan`).
    lock: Lock,
    st: UnsafeCell<State<T>>,
    cap: usize,
    /// Mirrors of `st.len` and `st.closed` for `len()` and `is_closed()`
    /// without the lock (written under it).
    len: AtomicUsize,
    closed: AtomicBool,
    /// Live `Sender`s: the last one to go closes the channel.
    pub(crate) senders: AtomicUsize,
}

// SAFETY: `st` is only touched with `lock` held; values of `T` cross threads
// (hence `T: Send`).
unsafe impl<T: Send> Sync for Chan<T> {}
unsafe impl<T: Send> Send for Chan<T> {}

/// `i % cap` for `i < 2 * cap`, without a division (under the lock, a
/// division was a measurable share of a buffered send).
#[inline(always)]
fn wrap(i: usize, cap: usize) -> usize {
    if i >= cap { i - cap } else { i }
}

/// Releases one channel lock: the unlock step of a single send or receive.
unsafe fn unlock_one(lock: *const ()) {
    // SAFETY: `lock` is the channel's `Lock`, held by this M; the channel
    // outlives the wait (the waiter holds a reference).
    unsafe { (*(lock as *const Lock)).unlock() }
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        let buf = (0..cap).map(|_| MaybeUninit::uninit()).collect();
        Chan {
            lock: Lock::new(),
            st: UnsafeCell::new(State {
                buf,
                head: 0,
                len: 0,
                closed: false,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
            }),
            cap,
            len: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The lock's address: `select` locks channels in address order.
    pub(crate) fn lock_ptr(&self) -> *const Lock {
        &self.lock
    }

    /// # Safety
    /// The lock is held, and the returned borrow ends before it is released.
    #[allow(clippy::mut_from_ref)]
    unsafe fn st(&self) -> &mut State<T> {
        // SAFETY: per the contract.
        unsafe { &mut *self.st.get() }
    }

    /// Sends without waiting, with the lock held. `Ok` with the parker to wake
    /// once the lock is released (null for none), or `Err(v)` if the send
    /// would block. A closed channel is `Ok` with `closed` = the value back.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn try_send_locked(&self, v: T) -> Result<(*const Parker, Option<T>), T> {
        // SAFETY: lock held; a claimed sudog's waiter stays put until woken.
        unsafe {
            let st = self.st();
            if st.closed {
                return Ok((null(), Some(v)));
            }
            let sg = st.recvq.pop_claimed();
            if !sg.is_null() {
                ptr::write((*sg).elem as *mut T, v);
                (*sg).ok = true;
                return Ok(((*sg).parker, None));
            }
            if st.len < self.cap {
                let i = wrap(st.head + st.len, self.cap);
                st.buf[i].write(v);
                st.len += 1;
                self.len.store(st.len, Ordering::Relaxed);
                return Ok((null(), None));
            }
            Err(v)
        }
    }

    /// Receives without waiting, with the lock held. `Some((value, parker to
    /// wake))`, with `None` for the value if the channel is closed and
    /// drained; `None` if the receive would block.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn try_recv_locked(&self) -> Option<(Option<T>, *const Parker)> {
        // SAFETY: lock held; a claimed sudog's waiter stays put until woken.
        unsafe {
            let st = self.st();
            let sg = st.sendq.pop_claimed();
            if !sg.is_null() {
                let theirs = ptr::read((*sg).elem as *const T);
                let v = if self.cap == 0 {
                    theirs
                } else {
                    // The buffer is full (senders wait only then): take its
                    // head, and the sender's value takes the freed tail slot.
                    let h = st.head;
                    let v = st.buf[h].assume_init_read();
                    st.buf[h].write(theirs);
                    st.head = wrap(h + 1, self.cap);
                    v
                };
                (*sg).ok = true;
                return Some((Some(v), (*sg).parker));
            }
            if st.len > 0 {
                let h = st.head;
                let v = st.buf[h].assume_init_read();
                st.head = wrap(h + 1, self.cap);
                st.len -= 1;
                self.len.store(st.len, Ordering::Relaxed);
                return Some((Some(v), null()));
            }
            if st.closed {
                return Some((None, null()));
            }
            None
        }
    }

    /// Queues `sg` as a waiting sender (`true`) or receiver.
    ///
    /// # Safety
    /// The lock is held; `sg` stays put until unlinked.
    pub(crate) unsafe fn enqueue(&self, sg: *mut Sudog, send: bool) {
        // SAFETY: per the contract.
        unsafe {
            let st = self.st();
            if send {
                st.sendq.push_back(sg)
            } else {
                st.recvq.push_back(sg)
            }
        }
    }

    /// Unlinks `sg` if still queued.
    ///
    /// # Safety
    /// The lock is held; `sg` was queued on this channel with `enqueue`.
    pub(crate) unsafe fn dequeue(&self, sg: *mut Sudog, send: bool) {
        // SAFETY: per the contract.
        unsafe {
            let st = self.st();
            if send {
                st.sendq.remove(sg)
            } else {
                st.recvq.remove(sg)
            }
        }
    }

    pub(crate) fn send(&self, v: T, wait: Wait) -> SendResult<T> {
        self.lock.lock();
        // SAFETY: lock held.
        let v = match unsafe { self.try_send_locked(v) } {
            Ok((p, closed)) => {
                self.lock.unlock();
                if !p.is_null() {
                    // SAFETY: claimed by `try_send_locked`; handed over.
                    unsafe { Parker::wake(p) };
                }
                return match closed {
                    Some(v) => SendResult::Closed(v),
                    None => SendResult::Sent,
                };
            }
            Err(v) => v,
        };
        let Some(deadline) = self.deadline_or_unlock(wait) else {
            return match wait {
                Wait::No => SendResult::Full(v),
                _ => SendResult::Timeout(v),
            };
        };
        let mut slot = MaybeUninit::new(v);
        // SAFETY: lock held; `slot` holds the value until a receiver takes it
        // (`Some(true)`), and is ours again otherwise.
        unsafe {
            match self.block(slot.as_mut_ptr() as *mut u8, true, deadline) {
                Some(true) => SendResult::Sent,
                Some(false) => SendResult::Closed(slot.assume_init_read()),
                None => SendResult::Timeout(slot.assume_init_read()),
            }
        }
    }

    pub(crate) fn recv(&self, wait: Wait) -> RecvResult<T> {
        self.lock.lock();
        // SAFETY: lock held.
        if let Some((v, p)) = unsafe { self.try_recv_locked() } {
            self.lock.unlock();
            if !p.is_null() {
                // SAFETY: claimed by `try_recv_locked`; handed over.
                unsafe { Parker::wake(p) };
            }
            return match v {
                Some(v) => RecvResult::Received(v),
                None => RecvResult::Closed,
            };
        }
        let Some(deadline) = self.deadline_or_unlock(wait) else {
            return match wait {
                Wait::No => RecvResult::Empty,
                _ => RecvResult::Timeout,
            };
        };
        let mut slot = MaybeUninit::<T>::uninit();
        // SAFETY: lock held; a sender fills `slot` exactly when it reports
        // `Some(true)`.
        unsafe {
            match self.block(slot.as_mut_ptr() as *mut u8, false, deadline) {
                Some(true) => RecvResult::Received(slot.assume_init_read()),
                Some(false) => RecvResult::Closed,
                None => RecvResult::Timeout,
            }
        }
    }

    /// With the lock held and the operation unable to proceed: the park
    /// deadline for `wait` (0 for none), or `None`, lock released, if it must
    /// not wait (non-blocking, or the deadline has passed).
    fn deadline_or_unlock(&self, wait: Wait) -> Option<i64> {
        match wait {
            Wait::Forever => Some(0),
            Wait::Until(d) if os::nanotime() < d => Some(d),
            Wait::No | Wait::Until(_) => {
                self.lock.unlock();
                None
            }
        }
    }

    /// Waits as a sender (`send`) or receiver with `elem` as the value slot:
    /// queues a sudog, parks, and unlinks it again after a timeout. Returns
    /// the sudog's `ok` (true: a value was handed over; false: the channel
    /// closed), or `None` on timeout. Returns with the lock released.
    ///
    /// # Safety
    /// The lock is held; `elem` is a `MaybeUninit<T>` that stays put until
    /// this returns.
    unsafe fn block(&self, elem: *mut u8, send: bool, deadline: i64) -> Option<bool> {
        let parker = Parker::new();
        let mut sg = Sudog::new();
        sg.parker = &parker;
        sg.elem = elem;
        let sgp: *mut Sudog = &mut sg;
        let reason = if send {
            WaitReason::ChanSend
        } else {
            WaitReason::ChanReceive
        };
        // SAFETY: lock held; `sg` stays put until we return, and we unlink it
        // (or a waker has) before that.
        unsafe {
            self.enqueue(sgp, send);
            let won = parker.park(
                unlock_one,
                &self.lock as *const Lock as *const (),
                deadline,
                reason,
            );
            if won == TIMEOUT {
                self.lock.lock();
                self.dequeue(sgp, send);
                self.lock.unlock();
                return None;
            }
            Some((*sgp).ok)
        }
    }

    /// Closes the channel and wakes every waiter. False if already closed.
    pub(crate) fn close(&self) -> bool {
        self.lock.lock();
        // SAFETY: lock held; claimed sudogs stay put until woken, and we read
        // each one's link before waking it.
        unsafe {
            let st = self.st();
            if st.closed {
                self.lock.unlock();
                return false;
            }
            st.closed = true;
            self.closed.store(true, Ordering::Release);
            // Claim every waiter under the lock, wake them after it.
            let mut woken: [*const Parker; 16] = [null(); 16];
            let mut more: Vec<*const Parker> = Vec::new();
            let mut n = 0;
            for q in [&mut st.recvq, &mut st.sendq] {
                loop {
                    let sg = q.pop_claimed();
                    if sg.is_null() {
                        break;
                    }
                    (*sg).ok = false;
                    if n < woken.len() {
                        woken[n] = (*sg).parker;
                    } else {
                        more.push((*sg).parker);
                    }
                    n += 1;
                }
            }
            self.lock.unlock();
            for &p in woken.iter().take(n).chain(more.iter()) {
                Parker::wake(p);
            }
        }
        true
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let st = self.st.get_mut();
        for k in 0..st.len {
            let i = (st.head + k) % self.cap;
            // SAFETY: the `len` slots from `head` hold values.
            unsafe { st.buf[i].assume_init_drop() };
        }
    }
}
