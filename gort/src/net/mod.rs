//! Networking whose blocking calls park the goroutine, not the thread: std's
//! `TcpListener`, `TcpStream` and `UdpSocket` (and on Unix `UnixListener`,
//! `UnixStream`, `UnixDatagram`), with the same methods, plus Go's
//! deadlines (`set_deadline`, `set_read_deadline`, `set_write_deadline`).
//!
//! A call that would block (`accept`, `connect`, `read`, `write`, `recv_from`,
//! ...) parks the calling goroutine until the runtime's network poller sees
//! the socket ready; its thread runs other goroutines meanwhile. On a plain
//! thread (outside `gort::run`) or inside `gort::blocking`, the same calls
//! block the thread, as std's do.
//!
//! Timeouts: `set_read_timeout`/`set_write_timeout` bound each call, as in
//! std; a deadline bounds every call until it is changed, and changing it
//! reaches calls already blocked (Go's `SetDeadline`). A call that runs out
//! of time returns `ErrorKind::TimedOut`.
//!
//! Host names (`"localhost:80"`) are resolved through `gort::blocking` on the
//! thread's own stack (the resolver needs more stack than a goroutine may
//! have), so a slow lookup stalls neither the goroutine's processor nor other
//! goroutines.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! gort::run(|| {
//!     let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = l.local_addr().unwrap();
//!     // An echo server: one goroutine per connection.
//!     gort::go(move || {
//!         for conn in l.incoming() {
//!             let conn = conn.unwrap();
//!             gort::go(move || {
//!                 let mut w = &conn;
//!                 for line in BufReader::new(&conn).lines() {
//!                     writeln!(w, "{}", line.unwrap()).unwrap();
//!                 }
//!             });
//!         }
//!     });
//!     let c = gort::net::TcpStream::connect(addr).unwrap();
//!     (&c).write_all(b"ping\n").unwrap();
//!     let mut line = String::new();
//!     BufReader::new(&c).read_line(&mut line).unwrap();
//!     assert_eq!(line, "ping\n");
//! });
//! ```

mod backlog;
mod socket;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// `addr`'s socket addresses. A lookup (which may block for seconds, and
/// whose resolver may use more stack than a goroutine has) runs on the
/// thread's own stack, inside `blocking`: the goroutine's processor goes on
/// with other goroutines meanwhile.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    crate::blocking(|| {
        let r = crate::runtime::sched::systemstack(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                addr.to_socket_addrs().map(|it| it.collect::<Vec<_>>())
            }))
        });
        r.unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Runs `f` on each address until one succeeds (std's rule); the last error
/// otherwise.
pub(crate) fn each_addr<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for &a in addrs {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
