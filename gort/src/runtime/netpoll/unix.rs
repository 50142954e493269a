//! A plain thread's wait for a socket (Unix): `poll(2)` on its descriptor.
//! Threads do not park on a `PollDesc`: the poller runs only while the
//! runtime has idle Ms or sysmon, and a thread must not depend on that.

use super::{Interest, Wait};
use crate::runtime::os;
use std::io;
use std::os::fd::RawFd;

/// Blocks the calling thread until `fd` is ready for `which` or `deadline`
/// (`nanotime`; 0: none) passes.
pub(crate) fn wait_thread(fd: RawFd, which: Interest, deadline: i64) -> io::Result<Wait> {
    let events = match which {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let timeout = if deadline == 0 {
            -1
        } else {
            let left = deadline - os::nanotime();
            if left <= 0 {
                return Ok(Wait::TimedOut);
            }
            // Rounded up: a wait that ends a little early would only loop.
            i32::try_from((left + 999_999) / 1_000_000).unwrap_or(i32::MAX)
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, timeout) } {
            // Readiness, an error or a hang-up: the caller's syscall says which.
            1 => return Ok(Wait::Ready),
            0 => continue,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
