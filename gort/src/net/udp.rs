//! UDP: `UdpSocket`, std's type whose blocking calls park the goroutine.

use super::socket::Socket;
use super::{each_addr, resolve};
use crate::runtime::netpoll::Interest;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// A UDP socket (std's `UdpSocket`): `recv_from`, `send_to`, `recv` and
/// `send` park the calling goroutine while the socket is not ready.
///
/// ```
/// use gort::net::UdpSocket;
/// gort::run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let to = a.local_addr().unwrap();
///     // The receiver parks until the datagram arrives.
///     let r = gort::go(move || {
///         let mut buf = [0u8; 16];
///         let (n, _from) = a.recv_from(&mut buf).unwrap();
///         buf[..n].to_vec()
///     });
///     b.send_to(b"ping", to).unwrap();
///     assert_eq!(r.join().unwrap(), b"ping");
/// });
/// ```
pub struct UdpSocket {
    sock: Arc<Socket<mio::net::UdpSocket>>,
}

impl UdpSocket {
    /// Binds to the first of `addr`'s addresses that works.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&resolve(addr)?, |a| {
            Ok(UdpSocket {
                sock: Arc::new(Socket::new(mio::net::UdpSocket::bind(a)?)?),
            })
        })
    }

    /// Sets the default peer of `send`/`recv` (and filters what `recv` gets).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&resolve(addr)?, |a| self.sock.io().connect(a))
    }

    /// Receives one datagram and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .call(Interest::Read, sys::raw(self.sock.io()), |s| {
                s.recv_from(buf)
            })
    }

    /// Like `recv_from`, leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock
            .call(Interest::Read, sys::raw(self.sock.io()), |s| {
                s.peek_from(buf)
            })
    }

    /// Sends one datagram to the first of `addr`'s addresses.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let to = *resolve(addr)?.first().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.sock
            .call(Interest::Write, sys::raw(self.sock.io()), |s| {
                s.send_to(buf, to)
            })
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .call(Interest::Read, sys::raw(self.sock.io()), |s| s.recv(buf))
    }

    /// Like `recv`, leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .call(Interest::Read, sys::raw(self.sock.io()), |s| s.peek(buf))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .call(Interest::Write, sys::raw(self.sock.io()), |s| s.send(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.io().peer_addr()
    }

    /// A second handle to the same socket (and its timeouts and deadlines).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            sock: Arc::clone(&self.sock),
        })
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.io().set_broadcast(on)
    }

    /// See `set_broadcast`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.io().broadcast()
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

    super::socket::timeouts_and_deadlines!();
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl TryFrom<std::net::UdpSocket> for UdpSocket {
    type Error = io::Error;
    /// Takes over a bound std socket (made non-blocking and registered).
    fn try_from(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        Ok(UdpSocket {
            sock: Arc::new(Socket::new(mio::net::UdpSocket::from_std(s))?),
        })
    }
}

#[cfg(unix)]
mod sys {
    use super::UdpSocket;
    use std::os::fd::{AsRawFd, RawFd};

    pub(super) fn raw(s: &impl AsRawFd) -> RawFd {
        s.as_raw_fd()
    }
    impl AsRawFd for UdpSocket {
        fn as_raw_fd(&self) -> RawFd {
            self.sock.io().as_raw_fd()
        }
    }
}

#[cfg(windows)]
mod sys {
    use super::UdpSocket;
    use std::os::windows::io::{AsRawSocket, RawSocket};

    pub(super) fn raw(s: &impl AsRawSocket) -> RawSocket {
        s.as_raw_socket()
    }
    impl AsRawSocket for UdpSocket {
        fn as_raw_socket(&self) -> RawSocket {
            self.sock.io().as_raw_socket()
        }
    }
}
