//! Creating goroutines (`newproc`) and recycling their descriptors and stacks.
//!
//! A finished G keeps its stack and goes on its P's free list (up to
//! `LOCAL_MAX`); spawning on that P takes it back without any lock or syscall. Half
//! of an overflowing local list moves to the global list, which Ps with an empty
//! list refill from. Spawning and exiting never make a syscall for memory once
//! stacks are warm: the hot path only moves Gs between lists.
//!
//! Memory goes back to the kernel in the background: sysmon calls `scavenge`
//! every `SCAVENGE_PERIOD_NS`, which trims the global list to `GLOBAL_STACK_KEEP`
//! Gs with stacks; the rest give their stack memory back (`stackfree`:
//! `MADV_DONTNEED`) and are kept as bare descriptors (up to `GLOBAL_NOSTACK_MAX`,
//! then freed). Releasing in the hot path instead cost a syscall and a TLB
//! shoot-down per goroutine in a spawn burst (measured: 4 µs per spawn, against
//! ~150 ns with background release). So RSS after a burst falls back within a
//! scavenge period.
//!
//! Only Gs with the default stack size are cached with their stack; others
//! release it on exit.

use super::{SCHED, globrunqput, runqput, wakep};
use crate::runtime::g::{G, Status, TaskRef};
use crate::runtime::lock::Lock;
use crate::runtime::m::Pinned;
use crate::runtime::p::P;
use crate::runtime::stack::{self, Stack};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::Ordering;
use std::io;

/// Free Gs per P: Go's bound (64; half moves to the global list on overflow).
const LOCAL_MAX: u32 = 64;
/// Gs whose stacks the global list keeps across scavenges (warm stacks for reuse:
/// 256 × a few resident KiB).
const GLOBAL_STACK_KEEP: usize = 256;
/// How often sysmon trims the global list.
pub(crate) const SCAVENGE_PERIOD_NS: i64 = 500_000_000;
/// Bare descriptors kept for reuse (≈200 bytes each).
const GLOBAL_NOSTACK_MAX: usize = 65536;

struct GList {
    head: *mut G,
    n: usize,
}

impl GList {
    unsafe fn push(&mut self, gp: *mut G) {
        // SAFETY: the caller owns `gp`.
        unsafe { (*gp).schedlink = self.head };
        self.head = gp;
        self.n += 1;
    }
    unsafe fn pop(&mut self) -> *mut G {
        let gp = self.head;
        if !gp.is_null() {
            // SAFETY: Gs on the list are owned by the list.
            unsafe {
                self.head = (*gp).schedlink;
                (*gp).schedlink = null_mut();
            }
            self.n -= 1;
        }
        gp
    }
}

/// Free Gs with stacks, kept as the batches Ps spilled them in, so a P refills
/// its local list by taking one batch (O(1)) instead of walking a linked list of
/// descriptors last written by other cores (one cache miss each).
struct Batches {
    v: Vec<GList>,
    n: usize,
}

impl Batches {
    fn push(&mut self, b: GList) {
        if b.n > 0 {
            self.n += b.n;
            self.v.push(b);
        }
    }
    fn pop(&mut self) -> Option<GList> {
        let b = self.v.pop()?;
        self.n -= b.n;
        Some(b)
    }
}

struct GlobalFree {
    lock: Lock,
    lists: UnsafeCell<(Batches, GList)>, // (with stack, without stack)
}

// SAFETY: `lists` is only touched with `lock` held.
unsafe impl Sync for GlobalFree {}

static GFREE: GlobalFree = GlobalFree {
    lock: Lock::new(),
    lists: UnsafeCell::new((
        Batches {
            v: Vec::new(),
            n: 0,
        },
        GList {
            head: null_mut(),
            n: 0,
        },
    )),
};

/// Creates a goroutine running `task` and makes it runnable. Returns its id.
/// `pin` (taken by the caller, which allocated the task under the same hold)
/// is released before any switch.
pub(crate) fn newproc(
    pin: Pinned,
    task: TaskRef,
    stack_size: usize,
    name: Option<Box<str>>,
    site: &'static core::panic::Location<'static>,
) -> io::Result<u64> {
    let (m, pp) = (pin.m, pin.p);
    let gp = gfget(pp, stack_size)?;
    let id = newgoid(pp);
    // SAFETY: `gp` came off a free list or was just created: we own it.
    unsafe {
        // `sched` is not set up here: `execute` starts a fresh G with
        // `gogo_start`, on the stack it has then. A free G has no name.
        (*gp).id = id;
        (*gp).entry = Some(task);
        (*gp).spawn_site = Some(site);
        if name.is_some() {
            (*gp).name = name;
        }
        (*gp).fresh = true;
        (*gp)
            .status
            .store(Status::Runnable as u32, Ordering::Release);
    }
    if pp.is_null() {
        super::count_goroutines(1);
        SCHED.lock.lock();
        // SAFETY: lock held; `gp` is Runnable and ours.
        unsafe { globrunqput(gp) };
        SCHED.lock.unlock();
        wakep();
        drop(pin);
        return Ok(id);
    }
    // SAFETY: this M holds `pp` (and no preemption: `pin`).
    let spilled = unsafe {
        super::count_goroutines_on(pp, 1);
        runqput(pp, gp, true)
    };
    // Still held: a goroutine preempted between winning the spinning slot
    // and starting the M would leave idle Ps idle (Go's wakep holds too).
    wakep();
    drop(pin);
    // Spawn back-pressure. The local queue was full: this goroutine creates
    // goroutines faster than the other Ps take them. Yield the P after
    // queueing (to the back of the local queue), so the P runs what was just
    // created while it is in this core's cache, and the spawner gets
    // another turn after them (≥ RUNQ_LEN / 2 more spawns per turn).
    // Without it a spawn loop builds an unbounded backlog, each waiting
    // goroutine holding a descriptor and a stack: a 1 M spawn burst made
    // ~20 k fresh stacks (an madvise each) and took ~110 ns per goroutine,
    // against ~70 ns with it (bench/ spawn, 2 cores). Go has no such rule
    // but preempts a spawner every 10 ms, which bounds its backlog too.
    if spilled && super::park::can_park() {
        super::park::gosched_global();
    } else {
        // SAFETY: the current M, which holds `pp`.
        unsafe { crate::runtime::preempt::check_on(m, pp) };
    }
    Ok(id)
}

/// A goroutine for an extra M (see `cgocallback`): registered in `allgs` (so
/// `debug::dump` lists it while it runs a callback), with a stack of the
/// default size, and Dead (not counted, not runnable) until a callback starts
/// on it. It is never freed: extra Ms and their goroutines are pooled.
pub(crate) fn new_extra_g() -> io::Result<*mut G> {
    let s = stack::stackalloc(stack::default_size())?;
    let gp = Box::into_raw(Box::new(G::new()));
    // SAFETY: just made: ours.
    unsafe {
        (*gp).stack = s;
        (*gp).status.store(Status::Dead as u32, Ordering::Release);
        crate::runtime::g::allgs_add(gp);
    }
    Ok(gp)
}

/// Ids are reserved from the global counter this many at a time per P (Go's
/// `_GoidCacheBatch`): ids stay unique and roughly increasing, and spawning does
/// not bounce the counter's cache line between cores.
const GOID_BATCH: u64 = 16;

/// A fresh goroutine id, from `pp`'s reserved range when there is a P.
fn newgoid(pp: *mut P) -> u64 {
    if pp.is_null() {
        return SCHED.goidgen.fetch_add(1, Ordering::Relaxed) + 1;
    }
    // SAFETY: this M holds `pp`; the id cache is owner-only.
    unsafe {
        if (*pp).goidcache == (*pp).goidcacheend {
            (*pp).goidcache = SCHED.goidgen.fetch_add(GOID_BATCH, Ordering::Relaxed) + 1;
            (*pp).goidcacheend = (*pp).goidcache + GOID_BATCH;
        }
        let id = (*pp).goidcache;
        (*pp).goidcache += 1;
        id
    }
}

/// Takes a free G with a stack of `size` bytes, or makes one.
fn gfget(pp: *mut P, size: usize) -> io::Result<*mut G> {
    let default = size == stack::default_size();
    // SAFETY: `pp` is held by this M (or null); the global lists are locked.
    unsafe {
        if default {
            if !pp.is_null() {
                if (*pp).gfree.is_null() {
                    refill(pp);
                }
                let gp = (*pp).gfree;
                if !gp.is_null() {
                    (*pp).gfree = (*gp).schedlink;
                    (*gp).schedlink = null_mut();
                    (*pp).ngfree -= 1;
                    return Ok(gp);
                }
            } else {
                GFREE.lock.lock();
                let with = &mut (*GFREE.lists.get()).0;
                let gp = match with.pop() {
                    Some(mut b) => {
                        let gp = b.pop();
                        with.push(b);
                        gp
                    }
                    None => null_mut(),
                };
                GFREE.lock.unlock();
                if !gp.is_null() {
                    return Ok(gp);
                }
            }
        }
        GFREE.lock.lock();
        let mut gp = (*GFREE.lists.get()).1.pop();
        GFREE.lock.unlock();
        if gp.is_null() {
            gp = Box::into_raw(Box::new(G::new()));
            crate::runtime::g::allgs_add(gp);
        }
        match stack::stackalloc(size) {
            Ok(s) => {
                (*gp).stack = s;
                Ok(gp)
            }
            Err(e) => {
                put_nostack(gp);
                Err(e)
            }
        }
    }
}

/// A goroutine about to run for the first time on `pp` swaps its stack for the
/// one of the G that most recently exited on `pp`: that stack's top is still in
/// this core's cache and TLB, while the new goroutine's stack was picked by
/// whichever thread spawned it and is cold here. In a spawn-heavy program the
/// running P then cycles through one hot stack instead of touching a different
/// one per goroutine (measured: the first stack write was ~40% of the cycles of
/// a spawn+run+exit).
///
/// # Safety
/// The caller's M holds `pp`; `gp` is Runnable, has never run, and is owned by
/// the caller.
pub(crate) unsafe fn take_hot_stack(pp: *mut P, gp: *mut G) {
    // SAFETY: per the contract; free Gs on `pp`'s list belong to `pp`.
    unsafe {
        let donor = (*pp).gfree;
        if donor.is_null() || (*donor).stack.size() != (*gp).stack.size() {
            return;
        }
        core::mem::swap(&mut (*donor).stack, &mut (*gp).stack);
    }
}

/// Refills an empty local list with one batch of Gs (with stacks) from the
/// global list.
unsafe fn refill(pp: *mut P) {
    GFREE.lock.lock();
    // SAFETY: lock held; this M holds `pp`, whose list is empty.
    unsafe {
        if let Some(b) = (*GFREE.lists.get()).0.pop() {
            (*pp).gfree = b.head;
            (*pp).ngfree = b.n as u32;
        }
    }
    GFREE.lock.unlock();
}

/// Recycles a finished G.
///
/// # Safety
/// `gp` is Dead and owned by the caller; the caller's M holds `pp`.
pub(crate) unsafe fn gfput(pp: *mut P, gp: *mut G) {
    // SAFETY: per the contract.
    unsafe {
        if (*gp).stack.size() != stack::default_size() {
            stack::stackfree((*gp).stack);
            (*gp).stack = Stack::NONE;
            put_nostack(gp);
            return;
        }
        (*gp).schedlink = (*pp).gfree;
        (*pp).gfree = gp;
        (*pp).ngfree += 1;
        if (*pp).ngfree >= LOCAL_MAX {
            // Keep the most recently freed half (the head: their stacks are the
            // ones in this core's cache, and `take_hot_stack` hands the head's
            // stack to the next new goroutine) and spill the older half as is.
            let mut last_kept = (*pp).gfree;
            for _ in 1..LOCAL_MAX / 2 {
                last_kept = (*last_kept).schedlink;
            }
            let spill = GList {
                head: (*last_kept).schedlink,
                n: ((*pp).ngfree - LOCAL_MAX / 2) as usize,
            };
            (*last_kept).schedlink = null_mut();
            (*pp).ngfree = LOCAL_MAX / 2;
            put_global(spill);
        }
    }
}

/// Moves a P's whole free list to the global one (the P is being retired).
///
/// # Safety
/// The caller owns `pp`.
pub(crate) unsafe fn drain_local(pp: *mut P) {
    // SAFETY: per the contract.
    unsafe {
        let mut all = GList {
            head: null_mut(),
            n: 0,
        };
        while !(*pp).gfree.is_null() {
            let g = (*pp).gfree;
            (*pp).gfree = (*g).schedlink;
            all.push(g);
        }
        (*pp).ngfree = 0;
        put_global(all);
    }
}

unsafe fn put_global(spill: GList) {
    GFREE.lock.lock();
    // SAFETY: we own every G on `spill`; the global lists are locked.
    unsafe { (*GFREE.lists.get()).0.push(spill) };
    GFREE.lock.unlock();
}

/// Gives the stack memory of surplus free Gs back to the kernel (called by
/// sysmon). Returns how many stacks were released.
pub(crate) fn scavenge() -> usize {
    let mut released = 0;
    loop {
        // Take a batch under the lock, release it outside (syscalls).
        GFREE.lock.lock();
        // SAFETY: lock held.
        let batch = unsafe {
            let with = &mut (*GFREE.lists.get()).0;
            if with.n > GLOBAL_STACK_KEEP {
                with.pop()
            } else {
                None
            }
        };
        GFREE.lock.unlock();
        let Some(mut batch) = batch else {
            return released;
        };
        // SAFETY: the batch's Gs are free and now ours.
        unsafe {
            loop {
                let g = batch.pop();
                if g.is_null() {
                    break;
                }
                stack::stackfree((*g).stack);
                (*g).stack = Stack::NONE;
                put_nostack(g);
                released += 1;
            }
        }
    }
}

/// True if `scavenge` has work to do.
pub(crate) fn scavenge_pending() -> bool {
    GFREE.lock.lock();
    // SAFETY: lock held.
    let n = unsafe { (*GFREE.lists.get()).0.n };
    GFREE.lock.unlock();
    n > GLOBAL_STACK_KEEP
}

unsafe fn put_nostack(gp: *mut G) {
    GFREE.lock.lock();
    // SAFETY: lock held; we own `gp`.
    let kept = unsafe {
        let list = &mut (*GFREE.lists.get()).1;
        if list.n < GLOBAL_NOSTACK_MAX {
            list.push(gp);
            true
        } else {
            false
        }
    };
    GFREE.lock.unlock();
    if !kept {
        // SAFETY: a Dead G without a stack: nothing refers to it any more.
        unsafe {
            crate::runtime::g::allgs_remove(gp);
            drop(Box::from_raw(gp));
        }
    }
}
