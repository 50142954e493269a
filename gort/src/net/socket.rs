//! `Socket<S>`: a non-blocking `mio` socket registered with the poller, with
//! the timeouts and deadlines of the `gort::net` type that owns it, and the
//! loop every blocking call runs: try the syscall; on `WouldBlock`, wait for
//! readiness (a goroutine parks on the socket's `PollDesc`, a thread polls
//! it) and try again, until the call completes or its deadline passes.
//!
//! One goroutine at a time waits in each direction (a descriptor has one
//! slot per direction): concurrent readers of one socket (`&TcpStream`
//! shared, `try_clone`) take turns on the read lock, writers on the write
//! lock, as Go's `fdMutex` makes them.

use crate::runtime::netpoll::{self, Interest, PollDesc, Wait};
use crate::runtime::{os, sched};
use crate::sync::Mutex;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct Socket<S: mio::event::Source> {
    io: S,
    pd: &'static PollDesc,
    /// Per-call timeouts (ns; 0: none), std's `set_read_timeout`.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    /// Absolute deadlines (`nanotime`; 0: none), Go's `SetReadDeadline`.
    read_deadline: AtomicI64,
    write_deadline: AtomicI64,
    read_turn: Mutex<()>,
    write_turn: Mutex<()>,
    /// A stream read came back short (`read_stream`): the socket was empty
    /// then, so the next read waits for readiness before its syscall.
    drained: AtomicBool,
}

impl<S: mio::event::Source> Socket<S> {
    /// Registers `io` (already non-blocking) with the poller.
    pub(crate) fn new(mut io: S) -> io::Result<Socket<S>> {
        let pd = netpoll::register(&mut io)?;
        Ok(Socket {
            io,
            pd,
            read_timeout: AtomicU64::new(0),
            write_timeout: AtomicU64::new(0),
            read_deadline: AtomicI64::new(0),
            write_deadline: AtomicI64::new(0),
            read_turn: Mutex::new(()),
            write_turn: Mutex::new(()),
            drained: AtomicBool::new(false),
        })
    }

    pub(crate) fn io(&self) -> &S {
        &self.io
    }

    /// Deregisters and returns the socket (for conversion to std's types).
    pub(crate) fn into_inner(self) -> S {
        let mut me = std::mem::ManuallyDrop::new(self);
        let pd = me.pd;
        netpoll::deregister(&mut me.io, pd);
        // SAFETY: `me` is never used or dropped again; each field is read
        // (or dropped) once.
        unsafe {
            std::ptr::drop_in_place(&mut me.read_turn);
            std::ptr::drop_in_place(&mut me.write_turn);
            std::ptr::read(&me.io)
        }
    }

    /// Runs `f` until it does not return `WouldBlock`, waiting for `which`
    /// readiness in between; `TimedOut` once the call's timeout or the
    /// deadline passes.
    pub(crate) fn call<R>(
        &self,
        which: Interest,
        raw: RawSource,
        f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let _turn = match which {
            Interest::Read => {
                let t = self.read_turn.lock();
                // Another kind of read (a `peek`) may take the readiness the
                // next `read_stream` would wait for, and leave the bytes.
                self.drained.store(false, Ordering::Relaxed);
                t
            }
            Interest::Write => self.write_turn.lock(),
        };
        self.call_turn(which, raw, false, f)
    }

    /// `call(Interest::Read, ..)` for a stream socket's `read` of up to
    /// `len` bytes, which saves the syscall that would only say
    /// `WouldBlock` (Tokio's rule on edge-triggered pollers): a read that
    /// returns fewer bytes than asked for emptied the socket, and any byte
    /// that comes after it is a new readiness event, so the next read waits
    /// for that event first. (A readiness left over from before the short
    /// read only costs the syscall saved.) A request/response server does a
    /// third fewer syscalls per request. Not on Windows: mio re-arms its
    /// AFD poll only on a `WouldBlock`.
    pub(crate) fn read_stream(
        &self,
        raw: RawSource,
        len: usize,
        mut f: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let _turn = self.read_turn.lock();
        // (An end of stream or error the poller reported stays readable
        // with no new event: a short read before it does not say drained.)
        let wait_first =
            cfg!(unix) && self.drained.swap(false, Ordering::Relaxed) && !self.pd.read_closed();
        let r = self.call_turn(Interest::Read, raw, wait_first, &mut f);
        if let Ok(n) = r
            && n > 0
            && n < len
        {
            self.drained.store(true, Ordering::Relaxed);
        }
        r
    }

    /// `call`'s loop, its direction's turn taken; `wait_first`: wait for
    /// readiness before the first try.
    fn call_turn<R>(
        &self,
        which: Interest,
        raw: RawSource,
        wait_first: bool,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let timeout = match which {
            Interest::Read => self.read_timeout.load(Ordering::Relaxed),
            Interest::Write => self.write_timeout.load(Ordering::Relaxed),
        };
        let started = if timeout != 0 { os::nanotime() } else { 0 };
        let mut try_now = !wait_first;
        loop {
            if try_now {
                match f(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            }
            try_now = true;
            let mut deadline = match which {
                Interest::Read => self.read_deadline.load(Ordering::Acquire),
                Interest::Write => self.write_deadline.load(Ordering::Acquire),
            };
            if timeout != 0 {
                let end = started.saturating_add(timeout as i64);
                deadline = if deadline == 0 {
                    end
                } else {
                    deadline.min(end)
                };
            }
            let w = if sched::can_park() {
                self.pd.wait(which, deadline)
            } else {
                netpoll::wait_thread(raw, which, deadline)?
            };
            if w == Wait::TimedOut {
                return Err(timed_out());
            }
        }
    }

    pub(crate) fn set_timeout(&self, which: Interest, d: Option<Duration>) -> io::Result<()> {
        let ns = match d {
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2).max(1),
            None => 0,
        };
        match which {
            Interest::Read => self.read_timeout.store(ns, Ordering::Relaxed),
            Interest::Write => self.write_timeout.store(ns, Ordering::Relaxed),
        }
        Ok(())
    }

    pub(crate) fn timeout(&self, which: Interest) -> Option<Duration> {
        let ns = match which {
            Interest::Read => self.read_timeout.load(Ordering::Relaxed),
            Interest::Write => self.write_timeout.load(Ordering::Relaxed),
        };
        (ns != 0).then(|| Duration::from_nanos(ns))
    }

    /// Sets (or clears) the absolute deadline for `which`; a call blocked
    /// meanwhile looks at it again at once (it may have passed already).
    pub(crate) fn set_deadline(&self, which: Interest, at: Option<Instant>) {
        let ns = at.map_or(0, to_nanotime);
        match which {
            Interest::Read => self.read_deadline.store(ns, Ordering::Release),
            Interest::Write => self.write_deadline.store(ns, Ordering::Release),
        }
        self.pd.interrupt();
    }
}

impl<S: mio::event::Source> Drop for Socket<S> {
    fn drop(&mut self) {
        netpoll::deregister(&mut self.io, self.pd);
    }
}

/// What a thread's wait polls: the raw descriptor or socket.
#[cfg(unix)]
pub(crate) type RawSource = std::os::fd::RawFd;
/// See the Unix version.
#[cfg(windows)]
pub(crate) type RawSource = std::os::windows::io::RawSocket;

/// `instant` on the runtime's clock (`nanotime`); never 0 (which means
/// "none"), and one already past stays past.
fn to_nanotime(instant: Instant) -> i64 {
    let now_i = Instant::now();
    let now = os::nanotime();
    if instant <= now_i {
        let ago = i64::try_from((now_i - instant).as_nanos()).unwrap_or(i64::MAX);
        return now.saturating_sub(ago).max(1);
    }
    let ahead = i64::try_from((instant - now_i).as_nanos()).unwrap_or(i64::MAX);
    now.saturating_add(ahead)
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o deadline reached")
}

/// The timeout and deadline methods of every connection-like socket type
/// (a `sock: Arc<Socket<_>>` field), written once.
macro_rules! timeouts_and_deadlines {
    () => {
        /// A time limit for each read or receive (`None`: none); `Some(0)`
        /// is an error, as in std. An expired call returns
        /// `ErrorKind::TimedOut`.
        pub fn set_read_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
            self.sock
                .set_timeout($crate::runtime::netpoll::Interest::Read, d)
        }

        /// A time limit for each write or send; see `set_read_timeout`.
        pub fn set_write_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
            self.sock
                .set_timeout($crate::runtime::netpoll::Interest::Write, d)
        }

        /// See `set_read_timeout`.
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.timeout($crate::runtime::netpoll::Interest::Read))
        }

        /// See `set_write_timeout`.
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.timeout($crate::runtime::netpoll::Interest::Write))
        }

        /// An absolute deadline for reads and writes (Go's `SetDeadline`):
        /// once it passes, blocked and later calls return
        /// `ErrorKind::TimedOut`, at once, also for goroutines already
        /// blocked. `None` clears it.
        pub fn set_deadline(&self, at: impl Into<Option<std::time::Instant>>) {
            let at = at.into();
            self.set_read_deadline(at);
            self.set_write_deadline(at);
        }

        /// The deadline for reads only; see `set_deadline`.
        pub fn set_read_deadline(&self, at: impl Into<Option<std::time::Instant>>) {
            self.sock
                .set_deadline($crate::runtime::netpoll::Interest::Read, at.into());
        }

        /// The deadline for writes only; see `set_deadline`.
        pub fn set_write_deadline(&self, at: impl Into<Option<std::time::Instant>>) {
            self.sock
                .set_deadline($crate::runtime::netpoll::Interest::Write, at.into());
        }
    };
}
pub(crate) use timeouts_and_deadlines;

/// `Read` and `Write` for a stream type, through its `&T` implementations.
macro_rules! io_through_ref {
    ($t:ty) => {
        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use io_through_ref;
