//! A P's local run queue: Go's lock-free single-producer / multi-consumer ring.
//!
//! - Only the owning P pushes (`put`), at `tail`; the owner and thieves pop at
//!   `head` with a CAS. `head` and `tail` are free-running u32 counters; a slot is
//!   `counter % RUNQ_LEN`.
//! - `runnext` holds one G that runs next, ahead of the ring (a G just readied by
//!   the running one: it inherits the time slice, which makes producer/consumer
//!   pairs on one P cheap). Thieves take it last (`steal_runnext`), after giving the
//!   owner a moment to run it.
//! - When the ring is full, half of it plus the new G moves to the global queue
//!   (`put_slow` hands the batch to the caller, which owns the global lock).
//!
//! Memory ordering: the owner writes a slot, then publishes it with a release
//! store of `tail`; a consumer reads `tail` with acquire before reading slots, and
//! confirms it read a consistent range by CASing `head` (release), after which the
//! owner may overwrite those slots (its `head` load is acquire).
//!
//! Model-checked with loom: tests/loom_runq.rs.

use crate::runtime::g::G;
use crate::runtime::loom::{AtomicPtr, AtomicU32};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crossbeam_utils::CachePadded;

/// Go's size: 256 Gs, a power of two for cheap masking; big enough that the
/// global queue is rarely touched, small enough to scan when stealing.
pub(crate) const RUNQ_LEN: usize = 256;

pub(crate) struct RunQueue {
    head: CachePadded<AtomicU32>,
    tail: CachePadded<AtomicU32>,
    runnext: CachePadded<RunNext>,
    slots: Box<[AtomicPtr<G>]>,
}

/// `runnext` and how many times the owner has taken a G from it (the owner's
/// writes to both share one cache line).
struct RunNext {
    g: AtomicPtr<G>,
    /// Owner-written; thieves read it to tell an owner that keeps taking
    /// its `runnext` from one that is stuck (see `grab`).
    taken: AtomicU32,
}

impl core::ops::Deref for RunNext {
    type Target = AtomicPtr<G>;
    fn deref(&self) -> &AtomicPtr<G> {
        &self.g
    }
}

/// Half of a full ring plus the G that did not fit: what `put_slow` moves out.
pub(crate) type Spill = [*mut G; RUNQ_LEN / 2 + 1];

impl RunQueue {
    pub(crate) fn new() -> RunQueue {
        RunQueue {
            head: CachePadded::new(AtomicU32::new(0)),
            tail: CachePadded::new(AtomicU32::new(0)),
            runnext: CachePadded::new(RunNext {
                g: AtomicPtr::new(null_mut()),
                taken: AtomicU32::new(0),
            }),
            slots: (0..RUNQ_LEN).map(|_| AtomicPtr::new(null_mut())).collect(),
        }
    }

    #[inline]
    fn slot(&self, i: u32) -> &AtomicPtr<G> {
        &self.slots[i as usize % RUNQ_LEN]
    }

    /// Owner only. Puts `gp` in `runnext` (if `next`, kicking the old one to the
    /// ring) or at the tail. Returns the G that did not fit if the ring is full:
    /// the caller then calls `put_slow` with it.
    #[inline]
    pub(crate) fn put(&self, mut gp: *mut G, next: bool) -> Option<*mut G> {
        if next {
            let old = self.runnext.swap(gp, AcqRel);
            if old.is_null() {
                return None;
            }
            gp = old;
        }
        let h = self.head.load(Acquire);
        let t = self.tail.load(Relaxed);
        if t.wrapping_sub(h) < RUNQ_LEN as u32 {
            self.slot(t).store(gp, Relaxed);
            self.tail.store(t.wrapping_add(1), Release);
            return None;
        }
        Some(gp)
    }

    /// Owner only, ring full: moves half of the ring and `gp` into `spill` and
    /// returns how many (the caller puts them on the global queue), or `None` if
    /// thieves made room meanwhile (the caller retries `put`).
    pub(crate) fn put_slow(&self, gp: *mut G, spill: &mut Spill) -> Option<usize> {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Relaxed);
        if t.wrapping_sub(h) < RUNQ_LEN as u32 {
            return None;
        }
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(n as usize, RUNQ_LEN / 2);
        for i in 0..n {
            spill[i as usize] = self.slot(h.wrapping_add(i)).load(Relaxed);
        }
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Release, Relaxed)
            .is_err()
        {
            return None;
        }
        spill[n as usize] = gp;
        Some(n as usize + 1)
    }

    /// Owner only. Takes `runnext` first (returning `inherit = true`: it runs in the
    /// current time slice), else the head of the ring.
    pub(crate) fn get(&self) -> Option<(*mut G, bool)> {
        let next = self.runnext.load(Relaxed);
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(next, null_mut(), AcqRel, Relaxed)
                .is_ok()
        {
            let taken = &self.runnext.taken;
            taken.store(taken.load(Relaxed).wrapping_add(1), Relaxed);
            return Some((next, true));
        }
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Relaxed);
            if t == h {
                return None;
            }
            let gp = self.slot(h).load(Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Release, Relaxed)
                .is_ok()
            {
                return Some((gp, false));
            }
        }
    }

    /// Any thread. True if the queue looked empty at one consistent instant.
    pub(crate) fn is_empty(&self) -> bool {
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Acquire);
            let next = self.runnext.load(Acquire);
            if t == self.tail.load(Acquire) {
                return h == t && next.is_null();
            }
        }
    }

    /// Approximate length (for statistics and heuristics).
    pub(crate) fn len(&self) -> usize {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Acquire);
        t.wrapping_sub(h) as usize + (!self.runnext.load(Acquire).is_null()) as usize
    }

    /// Thief: copies half of `self`'s Gs into `dst`'s ring starting at `dst_tail`
    /// (not yet published) and returns how many. Takes `runnext` only if the ring
    /// is empty and `steal_runnext`; if `victim_running`, first lets the victim's
    /// M a moment to run it itself (it was probably just readied and is about to
    /// run; stealing it would only bounce it between threads).
    fn grab(
        &self,
        dst: &RunQueue,
        dst_tail: u32,
        steal_runnext: bool,
        victim_running: bool,
    ) -> u32 {
        loop {
            let h = self.head.load(Acquire);
            let t = self.tail.load(Acquire);
            let n = t.wrapping_sub(h);
            let n = n - n / 2;
            if n == 0 {
                if steal_runnext {
                    let next = self.runnext.load(Acquire);
                    if !next.is_null() {
                        if victim_running {
                            // As Go (`runqgrab`): sleep ~3 µs first, so a running
                            // P picks up its runnext itself (a waker that is
                            // about to park: a channel hand-off). The sleeping
                            // thief also stays counted as spinning meanwhile, so
                            // each `ready` does not wake yet another M: a short
                            // spin here instead cost ~10x the thread wake-ups on
                            // a channel ping-pong (100 k/s vs Go's 10 k/s).
                            let taken = self.runnext.taken.load(Relaxed);
                            std::thread::sleep(core::time::Duration::from_micros(3));
                            // Unlike Go: if the owner took its runnext meanwhile
                            // it is not stuck but handing off between goroutines
                            // (a ping-pong pair, whose runnext holds each in
                            // turn, so the same G may well be back in it).
                            // Taking it would split the pair across two Ps and
                            // move one goroutine's stack to another core's
                            // cache, ~2 k times per 1 M round trips in
                            // bench/ pingpong.
                            if self.runnext.taken.load(Relaxed) != taken {
                                return 0;
                            }
                        }
                        if self
                            .runnext
                            .compare_exchange(next, null_mut(), AcqRel, Relaxed)
                            .is_err()
                        {
                            continue;
                        }
                        dst.slot(dst_tail).store(next, Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            if n > RUNQ_LEN as u32 / 2 {
                // Read an inconsistent head/tail pair; retry.
                continue;
            }
            for i in 0..n {
                let g = self.slot(h.wrapping_add(i)).load(Relaxed);
                dst.slot(dst_tail.wrapping_add(i)).store(g, Relaxed);
            }
            crate::runtime::chaos::point(crate::runtime::chaos::Point::Steal);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), AcqRel, Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Owner of `self` steals half of `victim`'s queue into its own ring and
    /// returns one G to run now.
    pub(crate) fn steal_from(
        &self,
        victim: &RunQueue,
        steal_runnext: bool,
        victim_running: bool,
    ) -> Option<*mut G> {
        let t = self.tail.load(Relaxed);
        let n = victim.grab(self, t, steal_runnext, victim_running);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let gp = self.slot(t.wrapping_add(n)).load(Relaxed);
        if n == 0 {
            return Some(gp);
        }
        let h = self.head.load(Acquire);
        if t.wrapping_sub(h).wrapping_add(n) >= RUNQ_LEN as u32 {
            crate::runtime::fatal("runqsteal: runq overflow");
        }
        self.tail.store(t.wrapping_add(n), Release);
        Some(gp)
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test --release -p gort --lib loom_runq`.
/// Gs are never dereferenced by the queue, so plain integers stand in for them.
#[cfg(all(test, loom))]
mod loom_runq {
    use super::*;

    fn g(i: usize) -> *mut G {
        i as *mut G
    }

    struct Shared(RunQueue, RunQueue);
    // SAFETY: the test only moves G stand-ins (integers) through the queues.
    unsafe impl Sync for Shared {}
    unsafe impl Send for Shared {}

    /// The owner pushes (one into runnext) and pops while a thief steals: every G
    /// comes out exactly once.
    #[test]
    fn owner_and_thief_never_lose_or_duplicate() {
        loom::model(|| {
            let q = std::sync::Arc::new(Shared(RunQueue::new(), RunQueue::new()));
            q.0.put(g(1), false);
            q.0.put(g(2), false);
            q.0.put(g(3), true);
            let thief = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    let mut got = Vec::new();
                    if let Some(x) = q.1.steal_from(&q.0, true, false) {
                        got.push(x as usize);
                        while let Some((x, _)) = q.1.get() {
                            got.push(x as usize);
                        }
                    }
                    got
                })
            };
            let mut mine = Vec::new();
            while let Some((x, _)) = q.0.get() {
                mine.push(x as usize);
            }
            let mut all = thief.join().unwrap();
            all.extend(mine);
            all.sort();
            assert_eq!(all, vec![1, 2, 3]);
        });
    }

    /// Two thieves race for the same victim: nothing is taken twice.
    #[test]
    fn two_thieves() {
        loom::model(|| {
            let victim = std::sync::Arc::new(Shared(RunQueue::new(), RunQueue::new()));
            victim.0.put(g(1), false);
            victim.0.put(g(2), false);
            let t = {
                let v = victim.clone();
                loom::thread::spawn(move || {
                    let thief = RunQueue::new();
                    let mut got = Vec::new();
                    if let Some(x) = thief.steal_from(&v.0, true, false) {
                        got.push(x as usize);
                        while let Some((x, _)) = thief.get() {
                            got.push(x as usize);
                        }
                    }
                    got
                })
            };
            let mut mine = Vec::new();
            if let Some(x) = victim.1.steal_from(&victim.0, true, false) {
                mine.push(x as usize);
                while let Some((x, _)) = victim.1.get() {
                    mine.push(x as usize);
                }
            }
            let mut all = t.join().unwrap();
            all.extend(mine);
            // Whatever neither thief took is still in the victim.
            while let Some((x, _)) = victim.0.get() {
                all.push(x as usize);
            }
            all.sort();
            assert_eq!(all, vec![1, 2]);
        });
    }
}
