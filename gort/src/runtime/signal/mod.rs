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
//!   action), so a null-pointer write stays a segfault.
//!
//! The handler is async-signal-safe: it reads the thread's M pointer (a TLS slot
//! that is initial-exec in an executable), formats into a stack buffer, `write`s.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::install;

/// Formats `goroutine N: stack overflow (stack size K KiB)\n` into `buf`.
pub(crate) fn format_overflow(buf: &mut [u8; 128], id: u64, size: usize) -> usize {
    let mut w = Writer { buf, n: 0 };
    w.put(b"goroutine ");
    w.num(id);
    w.put(b": stack overflow (stack size ");
    w.num((size / 1024) as u64);
    w.put(b" KiB)\n");
    w.n
}

struct Writer<'a> {
    buf: &'a mut [u8; 128],
    n: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        for &b in s {
            if self.n < self.buf.len() {
                self.buf[self.n] = b;
                self.n += 1;
            }
        }
    }
    fn num(&mut self, mut v: u64) {
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
