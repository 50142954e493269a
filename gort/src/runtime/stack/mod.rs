//! Goroutine stacks: fixed-size virtual reservations with a guard page below.
//!
//! A stack is never grown or moved (no copying: Rust frames hold raw pointers into
//! themselves and nothing tells us where they are). Instead each goroutine gets a
//! reservation large enough for ordinary deep calls and panic unwinding (default
//! 256 KiB, `GORT_STACK_SIZE` or `Builder::stack_size` to change), and the kernel
//! commits pages only when they are touched: a goroutine that parks after a few
//! calls costs one or two resident pages.
//!
//! Layout of a slot, low to high: `[guard page][usable stack]`. The stack grows
//! down from `hi` towards `lo`; running past `lo` hits the guard and the SIGSEGV
//! handler (`signal`) reports `goroutine N: stack overflow`. Rust emits stack probes
//! for frames larger than a page on x86-64, so a big frame cannot jump the guard.
//!
//! Slots are carved from large arenas (one `mmap` for `ARENA_SLOTS` stacks). Guard
//! pages are installed with `MADV_GUARD_INSTALL` where the kernel has it (Linux ≥
//! 6.13), which keeps an arena one kernel mapping; otherwise with `mprotect`, which
//! splits the mapping and so spends the process's `vm.max_map_count` budget (≈32 k
//! stacks at the default 65530). Exhaustion of either is an `io::Error`.
//!
//! Freed stacks go to a per-size free list after their memory is handed back to the
//! kernel (`MADV_DONTNEED`), so RSS tracks live goroutines. The hot path does not
//! come here at all: finished goroutines keep their stack in the G free lists
//! (`sched::gfree`), which are bounded; only what overflows them is released.
//!
//! Locking: one `Lock` around the size-class table; taken on spawn only when the
//! G free lists are empty, and on release.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::GUARD_SIZE;
#[cfg(windows)]
use windows as sys;

use super::lock::Lock;
use super::os;
use core::cell::UnsafeCell;
use std::io;
use std::sync::OnceLock;

/// Default usable stack size. 256 KiB: panic unwinding needs ~12 KiB in one go and
/// ordinary deep recursion (parsers, formatting) tens of KiB; it is virtual space,
/// so only touched pages cost memory.
pub(crate) const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack accepted: below this a panic's unwinding overflows in release.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack accepted per goroutine (a sanity bound, not a resource limit).
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Stacks per arena: one `mmap` per 256 stacks keeps the mapping count ≈ N/256.
const ARENA_SLOTS: usize = 256;
/// Size classes kept at once; a program rarely uses more than a few sizes.
const MAX_CLASSES: usize = 32;

/// A goroutine stack: usable range `[lo, hi)`; the guard page is just below `lo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stack {
    pub lo: usize,
    pub hi: usize,
}

impl Stack {
    pub(crate) const NONE: Stack = Stack { lo: 0, hi: 0 };

    pub(crate) fn is_none(&self) -> bool {
        self.lo == 0
    }

    pub(crate) fn size(&self) -> usize {
        self.hi - self.lo
    }
}

/// Size of the guard region below each stack: one page on Unix, where the
/// fault handler runs on a signal stack; more on Windows, where it runs on
/// the faulting stack (`windows.rs`).
pub(crate) fn guard_size() -> usize {
    sys::guard_size()
}

/// The default stack size: `GORT_STACK_SIZE` (bytes, or with a `k`/`m` suffix) if
/// set and valid, else `DEFAULT_STACK_SIZE`; rounded up to whole pages.
pub(crate) fn default_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let v = std::env::var("GORT_STACK_SIZE").ok();
        let parsed = v.as_deref().and_then(parse_size);
        match (v, parsed) {
            (Some(_), Some(n)) if (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&n) => round(n),
            (Some(v), _) => {
                os::write_stderr(
                    format!("gort: ignoring invalid GORT_STACK_SIZE={v:?} (want {MIN_STACK_SIZE}..={MAX_STACK_SIZE} bytes, e.g. 262144 or 256k)\n")
                        .as_bytes(),
                );
                DEFAULT_STACK_SIZE
            }
            (None, _) => DEFAULT_STACK_SIZE,
        }
    })
}

fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mul)
}

/// Rounds a requested size up to whole pages.
pub(crate) fn round(size: usize) -> usize {
    let page = os::page_size();
    (size + page - 1) & !(page - 1)
}

/// Validates a user-requested stack size (from `Builder::stack_size`).
pub(crate) fn check_size(size: usize) -> io::Result<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "goroutine stack size {size} out of range ({MIN_STACK_SIZE}..={MAX_STACK_SIZE} bytes)"
            ),
        ));
    }
    Ok(round(size))
}

/// Free slots and the arena being carved, for one stack size.
struct Class {
    size: usize,
    /// `lo` of each free stack; its pages have been released to the kernel.
    free: Vec<usize>,
    /// Next uncarved slot base in the current arena, and slots left in it.
    carve: usize,
    carve_left: usize,
}

struct Classes {
    lock: Lock,
    classes: UnsafeCell<Vec<Class>>,
}

// SAFETY: `classes` is only accessed with `lock` held.
unsafe impl Sync for Classes {}

static CLASSES: Classes = Classes {
    lock: Lock::new(),
    classes: UnsafeCell::new(Vec::new()),
};

/// Bytes of stack reservations handed out and not yet freed (for `debug::stats`).
static STACK_BYTES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

pub(crate) fn stack_bytes_in_use() -> usize {
    STACK_BYTES.load(core::sync::atomic::Ordering::Relaxed)
}

/// Allocates a stack of `size` usable bytes (already page-rounded).
pub(crate) fn stackalloc(size: usize) -> io::Result<Stack> {
    CLASSES.lock.lock();
    // SAFETY: lock held.
    let r = unsafe { alloc_locked(&mut *CLASSES.classes.get(), size) };
    CLASSES.lock.unlock();
    if r.is_ok() {
        STACK_BYTES.fetch_add(size, core::sync::atomic::Ordering::Relaxed);
    }
    r
}

fn alloc_locked(classes: &mut Vec<Class>, size: usize) -> io::Result<Stack> {
    let idx = match classes.iter().position(|c| c.size == size) {
        Some(i) => i,
        None => {
            if classes.len() == MAX_CLASSES {
                // Evict a class with no free stacks to carve from; its arenas stay
                // mapped (stacks still in use point into them).
                match classes.iter().position(|c| c.free.is_empty()) {
                    Some(i) => {
                        classes.swap_remove(i);
                    }
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::OutOfMemory,
                            "too many distinct goroutine stack sizes in use",
                        ));
                    }
                }
            }
            classes.push(Class {
                size,
                free: Vec::new(),
                carve: 0,
                carve_left: 0,
            });
            classes.len() - 1
        }
    };
    let c = &mut classes[idx];
    if let Some(lo) = c.free.pop() {
        return Ok(Stack { lo, hi: lo + size });
    }
    let guard = guard_size();
    let slot = size + guard;
    if c.carve_left == 0 {
        c.carve = sys::reserve(slot * ARENA_SLOTS)?;
        c.carve_left = ARENA_SLOTS;
    }
    let base = c.carve;
    sys::install_guard(base, guard, size)?;
    c.carve += slot;
    c.carve_left -= 1;
    Ok(Stack {
        lo: base + guard,
        hi: base + slot,
    })
}

/// Returns a stack: its memory goes back to the kernel, its slot to the free list.
pub(crate) fn stackfree(s: Stack) {
    sys::release(s.lo, s.size());
    STACK_BYTES.fetch_sub(s.size(), core::sync::atomic::Ordering::Relaxed);
    CLASSES.lock.lock();
    // SAFETY: lock held.
    let classes = unsafe { &mut *CLASSES.classes.get() };
    // If the class was evicted meanwhile, the slot stays reserved (address space
    // only; its pages were just released).
    if let Some(c) = classes.iter_mut().find(|c| c.size == s.size()) {
        c.free.push(s.lo);
    }
    CLASSES.lock.unlock();
}
