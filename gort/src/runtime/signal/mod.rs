//! Synchronous fault signals: telling a goroutine stack overflow from a real crash.
//!
//! When a goroutine runs off the bottom of its stack it touches the guard page
//! below it and the kernel raises SIGSEGV (SIGBUS on some systems). The handler runs
//! on the thread's alternate signal stack (the goroutine's stack is exhausted) and:
//! - if the fault address lies in the guard region of the goroutine running on this
//!   thread, writes `goroutine N: stack overflow (stack size K KiB)` to stderr and
//!   aborts the process;
//! - otherwise passes the signal on to whichever handler was installed before
//!   (std's own overflow detector for thread stacks, a sanitizer, or the default
//!   action), so a null-pointer write stays a segfault. When that fault is
//!   going to end the process (the default action is back in place once the
//!   chained handler returns), a runtime thread first says where it was, Go's
//!   "unexpected signal" report: signal, code, fault address, PC (also as an
//!   offset into the executable's text, for `addr2line`), SP and which stack
//!   it lies on, the M and its goroutine. A crash under load then leaves more
//!   in a test log than "signal: 11".
//!
//! The handler is async-signal-safe: it reads the thread's M pointer (a TLS slot
//! that is initial-exec in an executable), formats into a stack buffer, `write`s.
//!
//! Windows has exceptions instead of signals: a vectored exception handler
//! does the same for guard-region faults (`windows.rs`) and gives the same
//! report, as "unexpected exception", for a fault in the program's Rust code
//! on a runtime thread; Ctrl-Break stands in for SIGQUIT.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::install;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::install;

/// Formats `goroutine N: stack overflow (stack size K KiB)\n` into `buf`.
pub(crate) fn format_overflow(buf: &mut [u8; 128], id: u64, size: usize) -> usize {
    let mut w = Writer::new(buf);
    w.put(b"goroutine ");
    w.num(id);
    w.put(b": stack overflow (stack size ");
    w.num((size / 1024) as u64);
    w.put(b" KiB)\n");
    w.n
}

/// The fault report's ` pc=… (text+…) sp=…\n`: the PC also as an offset
/// into the executable's code, for `addr2line`.
pub(crate) fn put_where(w: &mut Writer<'_>, pc: usize, sp: usize) {
    w.put(b" pc=");
    w.hex(pc as u64);
    let (lo, hi) = crate::runtime::preempt::text_range();
    if (lo..hi).contains(&pc) {
        w.put(b" (text+");
        w.hex((pc - lo) as u64);
        w.put(b")");
    }
    w.put(b" sp=");
    w.hex(sp as u64);
    w.put(b"\n");
}

/// The fault report's second line: the thread's M (or that it has none), its
/// state, its goroutine and whether `sp` lies on that goroutine's stack.
///
/// # Safety
/// `m` is the faulting thread's own M or null, stopped in the fault handler:
/// plain loads only.
pub(crate) unsafe fn put_thread(w: &mut Writer<'_>, m: *mut crate::runtime::m::M, sp: usize) {
    // SAFETY: per the contract.
    unsafe {
        if m.is_null() {
            w.put(b"  on a thread without an M\n");
            return;
        }
        w.put(b"  on M");
        w.num((*m).id);
        w.put(b" locks=");
        w.num(u64::from((*m).locks));
        w.put(if (*m).in_syscall {
            b" in blocking"
        } else {
            b""
        });
        w.put(if (*m).p.is_null() {
            b" without a P"
        } else {
            b" with a P"
        });
        let gp = (*m).curg;
        if gp.is_null() {
            w.put(b", no goroutine");
        } else {
            let s = (*gp).stack;
            w.put(b", goroutine ");
            w.num((*gp).id);
            w.put(b" (stack ");
            w.hex(s.lo as u64);
            w.put(b"..");
            w.hex(s.hi as u64);
            w.put(if (s.lo..s.hi).contains(&sp) {
                b", sp on it)"
            } else {
                b", sp elsewhere: g0 or signal stack)"
            });
            w.put(if (*gp).locked { b" wired" } else { b"" });
        }
        w.put(b"\n");
    }
}

/// Formats into a fixed buffer, truncating: no allocation, async-signal-safe.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pub n: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, n: 0 }
    }
    pub fn text(&self) -> &[u8] {
        &self.buf[..self.n]
    }
    pub fn hex(&mut self, mut v: u64) {
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.put(b"0x");
        self.put(&tmp[i..]);
    }
    pub fn put(&mut self, s: &[u8]) {
        for &b in s {
            if self.n < self.buf.len() {
                self.buf[self.n] = b;
                self.n += 1;
            }
        }
    }
    pub fn num(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..]);
    }
}
