//! Unix domain sockets: `UnixListener`, `UnixStream`, `UnixDatagram`, std's
//! `std::os::unix::net` types whose blocking calls park the goroutine.

use super::socket::Socket;
use crate::runtime::netpoll::Interest;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// A Unix stream socket server (std's `UnixListener`).
pub struct UnixListener {
    sock: Socket<mio::net::UnixListener>,
}

impl UnixListener {
    /// Creates the socket at `path` and listens on it.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        // mio's `bind`, with the system's maximum backlog (`backlog.rs`).
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        s.set_nonblocking(true)?;
        s.bind(&socket2::SockAddr::unix(path)?)?;
        s.listen(super::backlog::listen_backlog())?;
        let l = std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(s));
        Ok(UnixListener {
            sock: Socket::new(mio::net::UnixListener::from_std(l))?,
        })
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let fd = self.sock.io().as_raw_fd();
        let (s, a) = self.sock.call(Interest::Read, fd, |l| l.accept())?;
        Ok((UnixStream::registered(s)?, a))
    }

    /// An endless iterator of `accept`s.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.io().take_error()
    }

    /// An absolute deadline for `accept`; `None` clears it.
    pub fn set_deadline(&self, at: impl Into<Option<Instant>>) {
        self.sock.set_deadline(Interest::Read, at.into());
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.io().as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// The iterator of `UnixListener::incoming`.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix stream socket (std's `UnixStream`); `Read` and `Write` for `T`
/// and `&T`.
///
/// ```
/// use gort::net::UnixStream;
/// use std::io::{Read, Write};
/// gort::run(|| {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     let echo = gort::go(move || {
///         let mut buf = [0u8; 5];
///         b.read_exact(&mut buf).unwrap(); // parks until the bytes come
///         b.write_all(&buf).unwrap();
///     });
///     a.write_all(b"hello").unwrap();
///     let mut back = [0u8; 5];
///     a.read_exact(&mut back).unwrap();
///     assert_eq!(&back, b"hello");
///     echo.join().unwrap();
/// });
/// ```
pub struct UnixStream {
    sock: Arc<Socket<mio::net::UnixStream>>,
}

impl UnixStream {
    fn registered(s: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: Arc::new(Socket::new(s)?),
        })
    }

    /// Connects to the socket at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let s = Self::registered(mio::net::UnixStream::connect(path)?)?;
        let fd = s.sock.io().as_raw_fd();
        // As for TCP: connected once writable, unless an error is pending.
        s.sock
            .call(Interest::Write, fd, |io| match io.take_error()? {
                Some(e) => Err(e),
                None => match io.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })?;
        Ok(s)
    }

    /// Two connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((Self::registered(a)?, Self::registered(b)?))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().peer_addr()
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.io().shutdown(how)
    }

    /// A second handle to the same socket (and its timeouts and deadlines).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            sock: Arc::clone(&self.sock),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.io().take_error()
    }

    super::socket::timeouts_and_deadlines!();

    fn fd(&self) -> RawFd {
        self.sock.io().as_raw_fd()
    }
}

super::socket::io_through_ref!(UnixStream);

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .read_stream(self.fd(), buf.len(), |mut s| s.read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.sock
            .read_stream(self.fd(), len, |mut s| s.read_vectored(bufs))
    }
}

impl Write for &UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .call(Interest::Write, self.fd(), |mut s| s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock
            .call(Interest::Write, self.fd(), |mut s| s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.fd())
            .finish()
    }
}

/// A Unix datagram socket (std's `UnixDatagram`).
pub struct UnixDatagram {
    sock: Arc<Socket<mio::net::UnixDatagram>>,
}

impl UnixDatagram {
    fn registered(s: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Arc::new(Socket::new(s)?),
        })
    }

    /// Creates the socket at `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Self::registered(mio::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::registered(mio::net::UnixDatagram::unbound()?)
    }

    /// Two connected sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((Self::registered(a)?, Self::registered(b)?))
    }

    /// Sets the default peer of `send`/`recv`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.sock.io().connect(path)
    }

    /// Receives one datagram and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .call(Interest::Read, self.fd(), |s| s.recv_from(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.call(Interest::Read, self.fd(), |s| s.recv(buf))
    }

    /// Sends one datagram to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.sock
            .call(Interest::Write, self.fd(), |s| s.send_to(buf, path))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.call(Interest::Write, self.fd(), |s| s.send(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().peer_addr()
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.io().shutdown(how)
    }

    /// A second handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Arc::clone(&self.sock),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.io().take_error()
    }

    super::socket::timeouts_and_deadlines!();

    fn fd(&self) -> RawFd {
        self.sock.io().as_raw_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.fd())
            .finish()
    }
}
