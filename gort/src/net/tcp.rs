//! TCP: `TcpListener` and `TcpStream`, std's types whose blocking calls
//! park the goroutine (see `socket.rs`).

use super::socket::{RawSource, Socket};
use super::{each_addr, resolve};
use crate::runtime::netpoll::Interest;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP socket server, listening for connections (std's `TcpListener`):
/// `accept` parks the calling goroutine until a client connects.
///
/// ```
/// use std::io::{Read, Write};
/// gort::run(|| {
///     let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = l.local_addr().unwrap();
///     let server = gort::go(move || {
///         let (mut s, _) = l.accept().unwrap();
///         let mut buf = [0; 5];
///         s.read_exact(&mut buf).unwrap();
///         s.write_all(&buf).unwrap();
///     });
///     let mut c = gort::net::TcpStream::connect(addr).unwrap();
///     c.write_all(b"hello").unwrap();
///     let mut back = [0; 5];
///     c.read_exact(&mut back).unwrap();
///     assert_eq!(&back, b"hello");
///     server.join().unwrap();
/// });
/// ```
pub struct TcpListener {
    sock: Socket<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to the first of `addr`'s addresses that works (host names are
    /// resolved off the goroutine's stack, without stalling others).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&resolve(addr)?, |a| {
            Ok(TcpListener {
                sock: Socket::new(listen(a)?)?,
            })
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    /// Running out of descriptors (`EMFILE`) is an `Err`; the listener goes
    /// on working.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self
            .sock
            .call(Interest::Read, raw(self.sock.io()), |l| l.accept())?;
        Ok((TcpStream::registered(s)?, a))
    }

    /// An endless iterator of `accept`s.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// Sets the IP time-to-live of accepted sockets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.io().set_ttl(ttl)
    }

    /// See `set_ttl`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.io().ttl()
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.io().take_error()
    }

    /// A time limit for each `accept` (`None`: wait for ever).
    pub fn set_accept_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_timeout(Interest::Read, d)
    }

    /// An absolute deadline for `accept` (Go's `SetDeadline`); `None` clears it.
    pub fn set_deadline(&self, at: impl Into<Option<Instant>>) {
        self.sock.set_deadline(Interest::Read, at.into());
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// The iterator of `TcpListener::incoming`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection (std's `TcpStream`): reads, writes and `connect` park
/// the calling goroutine while the socket is not ready; on a plain thread
/// they block it. `Read` and `Write` are implemented for `&TcpStream` too,
/// so one goroutine can read while another writes.
pub struct TcpStream {
    sock: Arc<Socket<mio::net::TcpStream>>,
}

impl TcpStream {
    fn registered(s: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: Arc::new(Socket::new(s)?),
        })
    }

    /// Connects to the first of `addr`'s addresses that accepts.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&resolve(addr)?, |a| Self::connect_one(a, None))
    }

    /// Connects to `addr`, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_one(*addr, Some(timeout))
    }

    fn connect_one(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let s = Self::registered(mio::net::TcpStream::connect(addr)?)?;
        s.sock.set_timeout(Interest::Write, timeout)?;
        // The connection is made once the socket is writable: then either
        // an error is pending, or it has a peer (mio's documented protocol).
        let r = s.sock.call(Interest::Write, raw(s.sock.io()), |io| {
            if let Some(e) = io.take_error()? {
                return Err(e);
            }
            match io.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        });
        s.sock.set_timeout(Interest::Write, None)?;
        r.map(|()| s)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.io().shutdown(how)
    }

    /// A second handle to the same socket (and its timeouts and deadlines).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: Arc::clone(&self.sock),
        })
    }

    /// `TCP_NODELAY`: send small segments at once (no Nagle delay).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.io().set_nodelay(on)
    }

    /// See `set_nodelay`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.io().nodelay()
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.io().set_ttl(ttl)
    }

    /// See `set_ttl`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.io().ttl()
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.io().take_error()
    }

    /// `SO_LINGER`: how long closing waits for unsent data; `Some(0)` makes
    /// the close a reset.
    pub fn set_linger(&self, d: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(self.sock.io()).set_linger(d)
    }

    /// See `set_linger`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        socket2::SockRef::from(self.sock.io()).linger()
    }

    /// `SO_KEEPALIVE`: probe an idle connection.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        socket2::SockRef::from(self.sock.io()).set_keepalive(on)
    }

    /// See `set_keepalive`.
    pub fn keepalive(&self) -> io::Result<bool> {
        socket2::SockRef::from(self.sock.io()).keepalive()
    }

    /// Receives without consuming: the next `read` returns the same bytes.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .call(Interest::Read, raw(self.sock.io()), |s| s.peek(buf))
    }

    super::socket::timeouts_and_deadlines!();

    fn read_with(
        &self,
        len: usize,
        f: impl FnMut(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.sock.read_stream(raw(self.sock.io()), len, f)
    }

    fn write_with(
        &self,
        f: impl FnMut(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.sock.call(Interest::Write, raw(self.sock.io()), f)
    }
}

super::socket::io_through_ref!(TcpStream);

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf.len(), |mut s| s.read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.read_with(len, |mut s| s.read_vectored(bufs))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|mut s| s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_with(|mut s| s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl TryFrom<std::net::TcpStream> for TcpStream {
    type Error = io::Error;
    /// Takes over a connected std stream (made non-blocking and registered).
    fn try_from(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        TcpStream::registered(mio::net::TcpStream::from_std(s))
    }
}

impl TryFrom<std::net::TcpListener> for TcpListener {
    type Error = io::Error;
    /// Takes over a bound std listener (made non-blocking and registered).
    fn try_from(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener {
            sock: Socket::new(mio::net::TcpListener::from_std(l))?,
        })
    }
}

impl TryFrom<TcpStream> for std::net::TcpStream {
    type Error = io::Error;
    /// Hands the socket back to std, blocking again. Fails (`InvalidInput`)
    /// while a `try_clone` of it is alive.
    fn try_from(s: TcpStream) -> io::Result<std::net::TcpStream> {
        let sock = Arc::try_unwrap(s.sock).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "the stream has live clones")
        })?;
        let s = into_std_stream(sock.into_inner());
        s.set_nonblocking(false)?;
        Ok(s)
    }
}

impl From<TcpListener> for std::net::TcpListener {
    /// Hands the listener back to std (blocking again, if the OS agrees).
    fn from(l: TcpListener) -> std::net::TcpListener {
        let l = into_std_listener(l.sock.into_inner());
        let _ = l.set_nonblocking(false);
        l
    }
}

#[cfg(unix)]
mod sys {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

    pub(super) fn raw(s: &impl AsRawFd) -> RawSource {
        s.as_raw_fd()
    }
    pub(super) fn into_std_stream(s: mio::net::TcpStream) -> std::net::TcpStream {
        // SAFETY: the descriptor is moved from one owner to the other.
        unsafe { std::net::TcpStream::from_raw_fd(s.into_raw_fd()) }
    }
    pub(super) fn into_std_listener(l: mio::net::TcpListener) -> std::net::TcpListener {
        // SAFETY: as above.
        unsafe { std::net::TcpListener::from_raw_fd(l.into_raw_fd()) }
    }
    impl AsRawFd for TcpStream {
        fn as_raw_fd(&self) -> RawFd {
            self.sock.io().as_raw_fd()
        }
    }
    impl AsRawFd for TcpListener {
        fn as_raw_fd(&self) -> RawFd {
            self.sock.io().as_raw_fd()
        }
    }
}

#[cfg(windows)]
mod sys {
    use super::*;
    use std::os::windows::io::{AsRawSocket, FromRawSocket, IntoRawSocket, RawSocket};

    pub(super) fn raw(s: &impl AsRawSocket) -> RawSource {
        s.as_raw_socket()
    }
    pub(super) fn into_std_stream(s: mio::net::TcpStream) -> std::net::TcpStream {
        // SAFETY: the socket is moved from one owner to the other.
        unsafe { std::net::TcpStream::from_raw_socket(s.into_raw_socket()) }
    }
    pub(super) fn into_std_listener(l: mio::net::TcpListener) -> std::net::TcpListener {
        // SAFETY: as above.
        unsafe { std::net::TcpListener::from_raw_socket(l.into_raw_socket()) }
    }
    impl AsRawSocket for TcpStream {
        fn as_raw_socket(&self) -> RawSocket {
            self.sock.io().as_raw_socket()
        }
    }
    impl AsRawSocket for TcpListener {
        fn as_raw_socket(&self) -> RawSocket {
            self.sock.io().as_raw_socket()
        }
    }
}

use sys::{into_std_listener, into_std_stream, raw};

/// A non-blocking listening socket on `a`, as mio's `bind` makes one
/// (`SO_REUSEADDR` on Unix, so a restarted server can bind at once) but
/// with the system's maximum backlog (`backlog.rs`).
fn listen(a: SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    #[cfg(unix)]
    s.set_reuse_address(true)?;
    s.bind(&a.into())?;
    s.listen(super::backlog::listen_backlog())?;
    Ok(mio::net::TcpListener::from_std(s.into()))
}
