//! `select!`'s runtime (Go's `selectgo`).
//!
//! The macro evaluates every arm's channel (and send value) in source order,
//! builds one `RecvCase`/`SendCase` per arm on the stack, and calls `select`
//! with them and two scratch index arrays of the same length (so no `select!`
//! allocates, whatever its size). Then:
//!
//! 1. **Poll order**: a uniformly random permutation of the arms; **lock
//!    order**: the arms sorted by channel address (a channel that appears in
//!    several arms is locked once).
//! 2. Lock every channel; try each arm in poll order; the first that can
//!    proceed wins (so among ready arms each is equally likely). Unlock.
//! 3. None ready: `default` wins if there is one. Otherwise one sudog per arm
//!    goes on its channel, all naming one `Parker`, and the caller parks
//!    (with `after`'s deadline, if any). Whoever claims the parker first —
//!    a peer on one of the channels, `close`, or the deadline — wins.
//! 4. Woken: lock everything again and unlink the sudogs still queued.
//!
//! A send arm's value is moved into the channel only if that arm wins;
//! otherwise it is dropped with the arm when `select!` ends.

use super::channel::Chan;
use super::waitq::Sudog;
use super::{Receiver, RecvError, SendError, Sender};
use crate::runtime::g::WaitReason;
use crate::runtime::lock::Lock;
use crate::runtime::parker::{self, Parker, TIMEOUT};
use core::mem::MaybeUninit;
use std::time::Duration;

/// `select` result: the `after` arm won.
pub const AFTER: usize = usize::MAX - 1;
/// `select` result: nothing was ready and there is a `default` arm.
pub const DEFAULT: usize = usize::MAX;

mod sealed {
    pub trait Sealed {}
}

/// One arm of a `select!` (built by the macro; not a public API).
///
/// Parkers cross this trait as `*const ()`: the trait is public (the macro's
/// expansion names it) and the runtime's types are not.
pub trait Case: sealed::Sealed {
    /// The address of the channel's lock (the lock order).
    #[doc(hidden)]
    fn lock_addr(&self) -> usize;
    /// With the channel locked: does the operation if it can proceed now, and
    /// returns the parker to wake once unlocked (null for none).
    ///
    /// # Safety
    /// The channel's lock is held.
    #[doc(hidden)]
    unsafe fn try_locked(&mut self) -> Option<*const ()>;
    /// # Safety
    /// The channel's lock is held; `self` stays put until `dequeue`.
    #[doc(hidden)]
    unsafe fn enqueue(&mut self, parker: *const (), case: u32);
    /// # Safety
    /// The channel's lock is held; `enqueue` was called.
    #[doc(hidden)]
    unsafe fn dequeue(&mut self);
    /// Records the outcome after this arm won while parked.
    ///
    /// # Safety
    /// The arm's sudog was claimed and woken.
    #[doc(hidden)]
    unsafe fn finish(&mut self);
}

/// A `recv(rx) -> v` arm.
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    slot: MaybeUninit<T>,
    sg: Sudog,
    result: Option<Result<T, RecvError>>,
}

/// A `send(tx, value) -> r` arm. Owns the value until the arm wins.
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    slot: MaybeUninit<T>,
    full: bool,
    sg: Sudog,
    result: Option<Result<(), SendError<T>>>,
}

impl<T> Receiver<T> {
    #[doc(hidden)]
    pub fn __select_recv(&self) -> RecvCase<'_, T> {
        RecvCase {
            chan: &self.chan,
            slot: MaybeUninit::uninit(),
            sg: Sudog::new(),
            result: None,
        }
    }
}

impl<T> Sender<T> {
    #[doc(hidden)]
    pub fn __select_send(&self, v: T) -> SendCase<'_, T> {
        SendCase {
            chan: &self.chan,
            slot: MaybeUninit::new(v),
            full: true,
            sg: Sudog::new(),
            result: None,
        }
    }
}

impl<T> RecvCase<'_, T> {
    /// The arm's outcome, once it has won.
    #[doc(hidden)]
    pub fn into_result(mut self) -> Result<T, RecvError> {
        self.result.take().expect("select: the arm did not win")
    }
}

impl<T> SendCase<'_, T> {
    /// The arm's outcome, once it has won.
    #[doc(hidden)]
    pub fn into_result(mut self) -> Result<(), SendError<T>> {
        self.result.take().expect("select: the arm did not win")
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if self.full {
            // SAFETY: `full` says the slot holds the (unsent) value.
            unsafe { self.slot.assume_init_drop() };
        }
    }
}

impl<T> sealed::Sealed for RecvCase<'_, T> {}
impl<T> sealed::Sealed for SendCase<'_, T> {}

impl<T> Case for RecvCase<'_, T> {
    fn lock_addr(&self) -> usize {
        self.chan.lock_ptr() as usize
    }

    unsafe fn try_locked(&mut self) -> Option<*const ()> {
        // SAFETY: per the contract.
        let (v, p) = unsafe { self.chan.try_recv_locked()? };
        self.result = Some(v.ok_or(RecvError));
        Some(p as *const ())
    }

    unsafe fn enqueue(&mut self, parker: *const (), case: u32) {
        self.sg.parker = parker as *const Parker;
        self.sg.case = case;
        self.sg.elem = self.slot.as_mut_ptr() as *mut u8;
        // SAFETY: per the contract.
        unsafe { self.chan.enqueue(&mut self.sg, false) };
    }

    unsafe fn dequeue(&mut self) {
        // SAFETY: per the contract.
        unsafe { self.chan.dequeue(&mut self.sg, false) };
    }

    unsafe fn finish(&mut self) {
        self.result = Some(if self.sg.ok {
            // SAFETY: the winner wrote a value into the slot.
            Ok(unsafe { self.slot.assume_init_read() })
        } else {
            Err(RecvError)
        });
    }
}

impl<T> Case for SendCase<'_, T> {
    fn lock_addr(&self) -> usize {
        self.chan.lock_ptr() as usize
    }

    unsafe fn try_locked(&mut self) -> Option<*const ()> {
        // SAFETY: the slot is full until a send takes it; lock held.
        unsafe {
            let v = self.slot.assume_init_read();
            match self.chan.try_send_locked(v) {
                Ok((p, closed)) => {
                    self.full = false;
                    self.result = Some(match closed {
                        Some(v) => Err(SendError(v)),
                        None => Ok(()),
                    });
                    Some(p as *const ())
                }
                Err(v) => {
                    self.slot.write(v);
                    None
                }
            }
        }
    }

    unsafe fn enqueue(&mut self, parker: *const (), case: u32) {
        self.sg.parker = parker as *const Parker;
        self.sg.case = case;
        self.sg.elem = self.slot.as_mut_ptr() as *mut u8;
        // SAFETY: per the contract.
        unsafe { self.chan.enqueue(&mut self.sg, true) };
    }

    unsafe fn dequeue(&mut self) {
        // SAFETY: per the contract.
        unsafe { self.chan.dequeue(&mut self.sg, true) };
    }

    unsafe fn finish(&mut self) {
        self.full = false;
        self.result = Some(if self.sg.ok {
            Ok(())
        } else {
            // Closed: the value is still ours.
            // SAFETY: nobody took it (`ok` is false).
            Err(SendError(unsafe { self.slot.assume_init_read() }))
        });
    }
}

/// Where `unlock_parked` finds the locks: on the selecting goroutine's stack.
struct SelLocks<'a, 'b> {
    cases: *const [&'a mut (dyn Case + 'b)],
    lockorder: *const [u32],
}

/// Runs a `select!`: returns the index of the winning arm, `AFTER` or
/// `DEFAULT`. `order` and `lockorder` are scratch space, one slot per arm.
#[doc(hidden)]
pub fn select(
    cases: &mut [&mut dyn Case],
    order: &mut [u32],
    lockorder: &mut [u32],
    after: Option<Duration>,
    has_default: bool,
) -> usize {
    let n = cases.len();
    assert!(order.len() == n && lockorder.len() == n && n < TIMEOUT as usize);
    let deadline = after.map(parker::deadline_after);
    if n == 0 {
        return select_no_arms(deadline, has_default);
    }
    // Uniformly random poll order (inside-out Fisher-Yates).
    for i in 0..n {
        let j = ((crate::runtime::fastrand() as u64 * (i as u64 + 1)) >> 32) as usize;
        order[i] = order[j];
        order[j] = i as u32;
    }
    for (i, slot) in lockorder.iter_mut().enumerate() {
        *slot = i as u32;
    }
    lockorder.sort_unstable_by_key(|&i| cases[i as usize].lock_addr());

    lock_all(cases, lockorder);
    for &i in order.iter() {
        // SAFETY: every channel is locked.
        if let Some(p) = unsafe { cases[i as usize].try_locked() } {
            unlock_all(cases, lockorder);
            if !p.is_null() {
                // SAFETY: claimed by `try_locked`, handed over.
                unsafe { Parker::wake(p as *const Parker) };
            }
            return i as usize;
        }
    }
    if has_default {
        unlock_all(cases, lockorder);
        return DEFAULT;
    }
    if let Some(d) = deadline
        && crate::runtime::os::nanotime() >= d
    {
        unlock_all(cases, lockorder);
        return AFTER;
    }

    let parker = Parker::new();
    for &i in lockorder.iter() {
        // SAFETY: locked; the cases stay put until we unlink them below.
        unsafe { cases[i as usize].enqueue(&parker as *const Parker as *const (), i) };
    }
    let locks = SelLocks {
        cases: &*cases,
        lockorder: &*lockorder,
    };
    let won = parker.park(
        unlock_parked,
        &locks as *const SelLocks as *const (),
        deadline.unwrap_or(0),
        WaitReason::Select,
    );
    lock_all(cases, lockorder);
    for &i in lockorder.iter() {
        // SAFETY: locked; every arm was enqueued.
        unsafe { cases[i as usize].dequeue() };
    }
    unlock_all(cases, lockorder);
    if won == TIMEOUT {
        return AFTER;
    }
    // SAFETY: this arm's sudog won and was woken.
    unsafe { cases[won as usize].finish() };
    won as usize
}

/// A `select!` with no channel arms: `default` at once, else `after`'s
/// deadline, else it blocks forever (Go's `select {}`).
fn select_no_arms(deadline: Option<i64>, has_default: bool) -> usize {
    if has_default {
        return DEFAULT;
    }
    let parker = Parker::new();
    unsafe fn nothing(_: *const ()) {}
    let won = parker.park(
        nothing,
        core::ptr::null(),
        deadline.unwrap_or(0),
        WaitReason::SelectNoCases,
    );
    debug_assert_eq!(won, TIMEOUT);
    AFTER
}

fn lock_all(cases: &[&mut dyn Case], lockorder: &[u32]) {
    let mut prev = 0;
    for &i in lockorder {
        let a = cases[i as usize].lock_addr();
        if a != prev {
            // SAFETY: `lock_addr` is a live channel's lock (the arm borrows it).
            unsafe { (*(a as *const Lock)).lock() };
            prev = a;
        }
    }
}

fn unlock_all(cases: &[&mut dyn Case], lockorder: &[u32]) {
    let locks = SelLocks { cases, lockorder };
    // SAFETY: called by the selecting code itself, with every lock held.
    unsafe { unlock_parked(&locks as *const SelLocks as *const ()) };
}

/// Unlocks every channel of a select, for `Parker::park`. Once a lock is
/// released a winner may wake the goroutine, but it cannot finish its select
/// (and free these arrays) before it has taken every lock again: so each next
/// address is read *before* the current lock is released, and nothing after
/// the last release.
unsafe fn unlock_parked(data: *const ()) {
    // SAFETY: see above; `data` is a `SelLocks` on the selecting stack.
    unsafe {
        let d = &*(data as *const SelLocks);
        let (cases, lockorder) = (&*d.cases, &*d.lockorder);
        let n = lockorder.len();
        let addr = |k: usize| cases[lockorder[k] as usize].lock_addr();
        let mut prev = 0;
        let mut next = addr(0);
        for k in 0..n {
            let cur = next;
            if k + 1 < n {
                next = addr(k + 1);
            }
            if cur != prev {
                prev = cur;
                (*(cur as *const Lock)).unlock();
            }
        }
    }
}
