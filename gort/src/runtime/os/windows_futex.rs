//! The futex primitive on Windows.
//!
//! Untimed waits are `WaitOnAddress`, which is what a futex is. Timed waits
//! cannot be: its timeout is in milliseconds, rounded to the system timer's
//! tick (15.6 ms unless someone raised the resolution), while the idle M's
//! timer sleep and sysmon's ticks want tens of microseconds. A timed waiter
//! therefore sleeps in `WaitForMultipleObjects` on its thread's own event and
//! its thread's high-resolution waitable timer (`CREATE_WAITABLE_TIMER_HIGH_
//! RESOLUTION`, Go's choice on Windows too), after queueing itself on the
//! word's bucket; `futex_wake` wakes `WaitOnAddress` sleepers and then, if
//! any timed waiter exists at all (one counter read), the queued ones.
//!
//! No wake-up is lost between a timed waiter's check and its sleep: it
//! queues itself and counts itself in `TIMED` (under the bucket lock), then
//! re-reads the word; a waker stores the word, then reads `TIMED` (SeqCst
//! fences on both sides). Either the waiter sees the new value and does not
//! sleep, or the waker sees the count, takes the bucket lock and finds it.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::Threading::{
    AcquireSRWLockExclusive, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, CancelWaitableTimer,
    CreateEventW, CreateWaitableTimerExW, INFINITE, ReleaseSRWLockExclusive, ResetEvent, SRWLOCK,
    SetEvent, SetWaitableTimer, TIMER_ALL_ACCESS, WaitForMultipleObjects, WaitOnAddress,
    WakeByAddressAll, WakeByAddressSingle,
};

/// Sleeps while `*word == expected`, for at most `timeout_ns` nanoseconds if
/// given. Returns on a wake, a timeout, or at once if the word already
/// differs; spurious returns are possible (callers re-check in a loop).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: Option<i64>) {
    match timeout_ns {
        None => {
            // SAFETY: `word` is a live, aligned u32; WaitOnAddress only reads it
            // and `expected` for the call's duration.
            unsafe {
                WaitOnAddress(
                    word.as_ptr() as *const _,
                    &expected as *const u32 as *const _,
                    4,
                    INFINITE,
                );
            }
        }
        Some(ns) if ns <= 0 => {}
        Some(ns) => timed_wait(word, expected, ns),
    }
}

/// Wakes up to `n` threads sleeping in `futex_wait` on `word` (possibly more:
/// one of each kind). Harmless on an address whose owner has freed it.
pub(crate) fn futex_wake(word: *const AtomicU32, n: i32) {
    // SAFETY: WakeByAddress* never dereference the address.
    unsafe {
        if n == 1 {
            WakeByAddressSingle(word as *const _);
        } else {
            WakeByAddressAll(word as *const _);
        }
    }
    fence(Ordering::SeqCst);
    if TIMED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let b = bucket(word as usize);
    b.lock();
    // SAFETY: bucket lock held: the list and its nodes (on their waiters'
    // stacks, unlinked by their owners only under this lock) are ours.
    unsafe {
        let mut link: *mut *mut Node = b.head.get();
        let mut left = n;
        while !(*link).is_null() && left > 0 {
            let node = *link;
            if (*node).addr == word as usize {
                *link = (*node).next;
                (*node).queued = false;
                SetEvent((*node).event);
                left -= 1;
            } else {
                link = &mut (*node).next;
            }
        }
    }
    b.unlock();
}

/// A timed waiter, on its own stack, queued on its word's bucket.
struct Node {
    addr: usize,
    event: HANDLE,
    next: *mut Node,
    /// Still on the list (cleared by the waker that unlinks it).
    queued: bool,
}

struct Bucket {
    lock: UnsafeCell<SRWLOCK>,
    head: UnsafeCell<*mut Node>,
}

// SAFETY: both cells are only touched with `lock` held (or are the lock).
unsafe impl Sync for Bucket {}

impl Bucket {
    const fn new() -> Bucket {
        Bucket {
            lock: UnsafeCell::new(SRWLOCK {
                Ptr: core::ptr::null_mut(),
            }),
            head: UnsafeCell::new(core::ptr::null_mut()),
        }
    }
    fn lock(&self) {
        // SAFETY: a static SRW lock, initialised to SRWLOCK_INIT.
        unsafe { AcquireSRWLockExclusive(self.lock.get()) }
    }
    fn unlock(&self) {
        // SAFETY: held by this thread (`lock`).
        unsafe { ReleaseSRWLockExclusive(self.lock.get()) }
    }
}

const BUCKETS: usize = 64;
static TABLE: [Bucket; BUCKETS] = [const { Bucket::new() }; BUCKETS];
/// Timed waiters queued anywhere: lets `futex_wake` skip the table.
static TIMED: AtomicUsize = AtomicUsize::new(0);

fn bucket(addr: usize) -> &'static Bucket {
    &TABLE[(addr >> 2).wrapping_mul(0x9E37_79B9) % BUCKETS]
}

/// This thread's event (auto-reset) and high-resolution timer.
struct Handles {
    event: HANDLE,
    timer: HANDLE,
}

impl Handles {
    fn new() -> Option<Handles> {
        // SAFETY: plain creation calls; failures are checked.
        unsafe {
            let event = CreateEventW(core::ptr::null(), 0, 0, core::ptr::null());
            if event.is_null() {
                return None;
            }
            let mut timer = CreateWaitableTimerExW(
                core::ptr::null(),
                core::ptr::null(),
                CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
                TIMER_ALL_ACCESS,
            );
            if timer.is_null() {
                // Before Windows 10 1803: a plain timer (tick resolution).
                timer = CreateWaitableTimerExW(
                    core::ptr::null(),
                    core::ptr::null(),
                    0,
                    TIMER_ALL_ACCESS,
                );
            }
            if timer.is_null() {
                CloseHandle(event);
                return None;
            }
            Some(Handles { event, timer })
        }
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: our own handles, closed once, when the thread ends.
        unsafe {
            CloseHandle(self.event);
            CloseHandle(self.timer);
        }
    }
}

std::thread_local! {
    static HANDLES: Option<Handles> = Handles::new();
}

fn timed_wait(word: &AtomicU32, expected: u32, ns: i64) {
    let handles = HANDLES.try_with(|h| h.as_ref().map(|h| (h.event, h.timer)));
    let Ok(Some((event, timer))) = handles else {
        // The thread's handles are gone (thread exit) or could not be made:
        // a millisecond-grained wait, rounded up.
        let ms = ((ns + 999_999) / 1_000_000).min(INFINITE as i64 - 1) as u32;
        // SAFETY: as in `futex_wait`.
        unsafe {
            WaitOnAddress(
                word.as_ptr() as *const _,
                &expected as *const u32 as *const _,
                4,
                ms,
            )
        };
        return;
    };
    let mut node = Node {
        addr: word.as_ptr() as usize,
        event,
        next: core::ptr::null_mut(),
        queued: true,
    };
    let b = bucket(node.addr);
    // Relative due time in 100 ns units (negative: relative).
    let due = -((ns / 100).max(1));
    // SAFETY: our thread's timer; no completion routine.
    unsafe { SetWaitableTimer(timer, &due, 0, None, core::ptr::null(), 0) };
    b.lock();
    // SAFETY: bucket lock held; `node` outlives its time on the list (it is
    // unlinked below, under the lock, unless a waker unlinked it).
    unsafe {
        node.next = *b.head.get();
        *b.head.get() = &mut node;
    }
    TIMED.fetch_add(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    let sleep = word.load(Ordering::SeqCst) == expected;
    b.unlock();
    if sleep {
        let hs = [event, timer];
        // SAFETY: two live handles of this thread.
        unsafe { WaitForMultipleObjects(2, hs.as_ptr(), 0, INFINITE) };
    }
    b.lock();
    // SAFETY: bucket lock held (see above).
    let woken = unsafe {
        if node.queued {
            let mut link: *mut *mut Node = b.head.get();
            while !core::ptr::eq(*link, &node) {
                link = &mut (**link).next;
            }
            *link = node.next;
            false
        } else {
            true
        }
    };
    TIMED.fetch_sub(1, Ordering::Relaxed);
    b.unlock();
    // SAFETY: this thread's handles.
    unsafe {
        CancelWaitableTimer(timer);
        if woken {
            // A waker set the event; if the timer ended the wait instead, the
            // event is still set: clear it so the next wait does not return
            // at once.
            ResetEvent(event);
        }
    }
}
