//! `RwLock<T>`: Go's `sync.RWMutex` (src/sync/rwmutex.go) with a value inside.
//!
//! Writer preference without writer starvation:
//!
//! - `reader_count` counts readers holding or waiting for the lock. A writer
//!   first takes the writer mutex `w` (so writers queue among themselves),
//!   then subtracts `MAX_READERS`: the count goes negative, which every new
//!   reader sees in its one `fetch_add` and then parks on `reader_sem`. So a
//!   stream of readers cannot keep a writer out.
//! - The readers that were already in (`r`, read off the same subtraction)
//!   must leave first: the writer adds `r` to `reader_wait` and parks on
//!   `writer_sem`; each departing reader that sees the count negative
//!   decrements `reader_wait`, and the one that reaches 0 wakes the writer.
//!   (Readers that left between the subtraction and the addition drive
//!   `reader_wait` negative first; the addition then lands on 0 and the
//!   writer does not wait.)
//! - Unlock adds `MAX_READERS` back, which admits new readers at once, and
//!   releases `reader_sem` once per reader that queued meanwhile; only then
//!   does it release `w`, so a second writer waits for those readers to get
//!   their turn (readers are not starved by writers either).
//!
//! Uncontended read lock/unlock: one atomic add each. Both counts are 32-bit
//! words holding `i32`s (two's complement), so the `Env` machinery and its
//! loom model apply unchanged (`loom_rwlock` below).

use super::env::{Env, Rt, Word};
use super::mutex::RawMutex;
use super::sema::Sema;
use crate::runtime::fatal;
use crate::runtime::g::WaitReason;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

/// Go's `rwmutexMaxReaders`: the bias a writer subtracts; readers beyond it
/// would be miscounted.
const MAX_READERS: i32 = 1 << 30;

pub(crate) struct RawRwLock<E: Env = Rt> {
    /// Held by the writer (pending or active).
    w: RawMutex<E>,
    /// Writers park here for departing readers.
    writer_sem: E::Sema,
    /// Readers park here for the writer.
    reader_sem: E::Sema,
    /// Readers in or waiting (`i32`), minus `MAX_READERS` while a writer is.
    reader_count: E::Word,
    /// Readers the pending writer still waits for (`i32`).
    reader_wait: E::Word,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            w: RawMutex::new(),
            writer_sem: Sema::new(0),
            reader_sem: Sema::new(0),
            reader_count: AtomicU32::new(0),
            reader_wait: AtomicU32::new(0),
        }
    }
}

impl<E: Env> RawRwLock<E> {
    #[inline]
    pub(crate) fn read(&self) {
        if (self.reader_count.add(1, Ordering::Acquire) as i32) < 0 {
            // A writer is pending or active: wait for its unlock.
            E::semacquire(&self.reader_sem, false, WaitReason::SyncRWMutexRLock);
        }
    }

    pub(crate) fn try_read(&self) -> bool {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if (c as i32) < 0 {
                return false;
            }
            match self
                .reader_count
                .cas(c, c.wrapping_add(1), Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
    }

    /// # Safety
    /// The caller holds a read lock, and releases it once.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self) {
        let r = self.reader_count.add(u32::MAX, Ordering::Release) as i32;
        if r < 0 {
            self.read_unlock_slow(r);
        }
    }

    #[cold]
    #[inline(never)]
    fn read_unlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            fatal("sync: read-unlock of unlocked RwLock");
        }
        // A writer is pending: the last reader it waits for wakes it.
        if self.reader_wait.add(u32::MAX, Ordering::AcqRel) == 0 {
            E::semrelease(&self.writer_sem, false);
        }
    }

    pub(crate) fn write(&self) {
        // First, resolve competition with other writers.
        self.w.lock_as(WaitReason::SyncRWMutexLock);
        // Announce the writer to readers; `r` readers are still in.
        let r = (self
            .reader_count
            .add((-MAX_READERS) as u32, Ordering::AcqRel) as i32)
            .wrapping_add(MAX_READERS);
        if r != 0 && self.reader_wait.add(r as u32, Ordering::AcqRel) != 0 {
            E::semacquire(&self.writer_sem, false, WaitReason::SyncRWMutexLock);
        }
    }

    pub(crate) fn try_write(&self) -> bool {
        if !self.w.try_lock() {
            return false;
        }
        if self
            .reader_count
            .cas(0, (-MAX_READERS) as u32, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: taken just above.
            unsafe { self.w.unlock() };
            return false;
        }
        true
    }

    /// # Safety
    /// The caller holds the write lock, and releases it once.
    pub(crate) unsafe fn write_unlock(&self) {
        // Let readers in again.
        let r = self.reader_count.add(MAX_READERS as u32, Ordering::Release) as i32;
        if r >= MAX_READERS {
            fatal("sync: write-unlock of unlocked RwLock");
        }
        // Wake the readers that queued behind us.
        for _ in 0..r {
            E::semrelease(&self.reader_sem, false);
        }
        // SAFETY: `write` took `w`, and the caller releases this write lock
        // once.
        unsafe { self.w.unlock() };
    }
}

/// A reader-writer lock whose waiters park (Go's `sync.RWMutex`), with the
/// data it protects inside (like `std::sync::RwLock`).
///
/// Many readers at once, or one writer. Writers are preferred: once a writer
/// waits, new readers wait behind it, so a stream of readers cannot starve
/// it; readers that queued behind a writer get their turn before the next
/// writer. Outside a goroutine the calls block the thread. No poisoning.
/// A read lock must not be taken twice by one goroutine while a writer may
/// be waiting (the second one would wait for the writer, which waits for the
/// first: Go's rule too).
///
/// ```
/// use gort::sync::RwLock;
///
/// gort::run(|| {
///     let config = RwLock::new(String::from("v1"));
///     gort::scope(|s| {
///         for _ in 0..4 {
///             s.go(|| assert!(config.read().starts_with('v')));
///         }
///         s.go(|| *config.write() = String::from("v2"));
///     });
///     assert_eq!(*config.read(), "v2");
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: writers get `&mut T` (so `T: Send`), readers share `&T` across
// threads (so `T: Sync`), as for `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access to a read-locked [`RwLock`]'s data; unlocks when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `&T` semantics.
    _marker: PhantomData<&'a T>,
}

/// Exclusive access to a write-locked [`RwLock`]'s data; unlocks when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `&mut T` semantics.
    _marker: PhantomData<&'a mut T>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a read lock, parking (or blocking the thread) while a writer
    /// holds or waits for the lock.
    ///
    /// ```
    /// let l = gort::sync::RwLock::new(5);
    /// let (a, b) = (l.read(), l.read());
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.read();
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Takes the write lock, parking (or blocking the thread) until every
    /// reader and writer has left.
    ///
    /// ```
    /// let l = gort::sync::RwLock::new(5);
    /// *l.write() += 1;
    /// assert_eq!(*l.read(), 6);
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.write();
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Takes a read lock if no writer holds or waits for the lock.
    ///
    /// ```
    /// let l = gort::sync::RwLock::new(());
    /// let w = l.write();
    /// assert!(l.try_read().is_none());
    /// drop(w);
    /// assert!(l.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        // Not `then_some`: a guard built for nothing would unlock on drop.
        if self.raw.try_read() {
            Some(RwLockReadGuard {
                lock: self,
                _marker: PhantomData,
            })
        } else {
            None
        }
    }

    /// Takes the write lock if nobody holds the lock.
    ///
    /// ```
    /// let l = gort::sync::RwLock::new(());
    /// let r = l.read();
    /// assert!(l.try_write().is_none());
    /// drop(r);
    /// assert!(l.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        // Not `then_some`: a guard built for nothing would unlock on drop.
        if self.raw.try_write() {
            Some(RwLockWriteGuard {
                lock: self,
                _marker: PhantomData,
            })
        } else {
            None
        }
    }

    /// The data, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: no writer has access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds a read lock, and drops only once.
        unsafe { self.lock.raw.read_unlock() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held, and `&mut self` is unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the write lock, and drops only once.
        unsafe { self.lock.raw.write_unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Model-checks the reader/writer accounting with loom:
/// `RUSTFLAGS="--cfg loom" cargo test --release -p gort --lib loom_rwlock`.
#[cfg(all(test, loom))]
mod loom_rwlock {
    use super::super::env::model::{Model, ModelSema};
    use super::super::mutex::RawMutex;
    use super::RawRwLock;
    use core::sync::atomic::Ordering;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU32;

    type M = Model<false>;

    struct Shared {
        l: RawRwLock<M>,
        /// Read under read locks, written under the write lock: loom reports
        /// any overlap of a write with anything.
        v: UnsafeCell<u32>,
    }

    // SAFETY: `v` is only accessed under `l`.
    unsafe impl Sync for Shared {}
    unsafe impl Send for Shared {}

    fn new_shared() -> Arc<Shared> {
        Arc::new(Shared {
            l: RawRwLock {
                w: RawMutex::from_parts(AtomicU32::new(0), ModelSema::new()),
                writer_sem: ModelSema::new(),
                reader_sem: ModelSema::new(),
                reader_count: AtomicU32::new(0),
                reader_wait: AtomicU32::new(0),
            },
            v: UnsafeCell::new(0),
        })
    }

    fn reader(sh: &Shared) -> u32 {
        sh.l.read();
        // SAFETY: read lock held.
        let v = sh.v.with(|p| unsafe { *p });
        // SAFETY: we hold it.
        unsafe { sh.l.read_unlock() };
        v
    }

    fn writer(sh: &Shared) {
        sh.l.write();
        // SAFETY: write lock held.
        sh.v.with_mut(|p| unsafe { *p += 1 });
        // SAFETY: we hold it.
        unsafe { sh.l.write_unlock() };
    }

    fn clean(sh: &Shared) {
        assert_eq!(sh.l.reader_count.load(Ordering::SeqCst), 0);
        assert_eq!(sh.l.reader_wait.load(Ordering::SeqCst), 0);
    }

    /// Two readers and a writer: exclusion holds, a reader sees the value
    /// before or after the write, and all counts return to zero.
    #[test]
    fn readers_and_a_writer() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let sh = new_shared();
            let r = {
                let sh = sh.clone();
                loom::thread::spawn(move || reader(&sh))
            };
            let w = {
                let sh = sh.clone();
                loom::thread::spawn(move || writer(&sh))
            };
            let mine = reader(&sh);
            assert!(mine <= 1);
            assert!(r.join().unwrap() <= 1);
            w.join().unwrap();
            assert_eq!(reader(&sh), 1);
            clean(&sh);
        });
    }

    /// Two writers and a reader: the writes never overlap and both land.
    #[test]
    fn writers_and_a_reader() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let sh = new_shared();
            let w = {
                let sh = sh.clone();
                loom::thread::spawn(move || writer(&sh))
            };
            let r = {
                let sh = sh.clone();
                loom::thread::spawn(move || reader(&sh))
            };
            writer(&sh);
            w.join().unwrap();
            assert!(r.join().unwrap() <= 2);
            assert_eq!(reader(&sh), 2);
            clean(&sh);
        });
    }

    /// `try_read` / `try_write` against a writer and a reader.
    #[test]
    fn try_variants() {
        loom::model(|| {
            let sh = new_shared();
            let w = {
                let sh = sh.clone();
                loom::thread::spawn(move || writer(&sh))
            };
            if sh.l.try_read() {
                // SAFETY: read lock held.
                let _ = sh.v.with(|p| unsafe { *p });
                // SAFETY: we hold it.
                unsafe { sh.l.read_unlock() };
            }
            if sh.l.try_write() {
                // SAFETY: write lock held.
                sh.v.with_mut(|p| unsafe { *p += 1 });
                // SAFETY: we hold it.
                unsafe { sh.l.write_unlock() };
            }
            w.join().unwrap();
            clean(&sh);
        });
    }
}
