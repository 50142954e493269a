//! A plain thread's wait for a socket (Windows): `WSAPoll` on it (see the
//! Unix twin for why threads do not use the poller).

use super::{Interest, Wait};
use crate::runtime::os;
use std::io;
use std::os::windows::io::RawSocket;
use windows_sys::Win32::Networking::WinSock::{
    POLLRDNORM, POLLWRNORM, SOCKET_ERROR, WSAGetLastError, WSAPOLLFD, WSAPoll,
};

/// Blocks the calling thread until `socket` is ready for `which` or
/// `deadline` (`nanotime`; 0: none) passes.
pub(crate) fn wait_thread(socket: RawSocket, which: Interest, deadline: i64) -> io::Result<Wait> {
    let events = match which {
        Interest::Read => POLLRDNORM,
        Interest::Write => POLLWRNORM,
    };
    loop {
        let timeout = if deadline == 0 {
            -1
        } else {
            let left = deadline - os::nanotime();
            if left <= 0 {
                return Ok(Wait::TimedOut);
            }
            i32::try_from((left + 999_999) / 1_000_000).unwrap_or(i32::MAX)
        };
        let mut pfd = WSAPOLLFD {
            fd: socket as usize,
            events,
            revents: 0,
        };
        // SAFETY: one valid WSAPOLLFD.
        match unsafe { WSAPoll(&mut pfd, 1, timeout) } {
            1 => return Ok(Wait::Ready),
            0 => continue,
            SOCKET_ERROR => {
                // SAFETY: no preconditions.
                return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
            }
            _ => return Ok(Wait::Ready),
        }
    }
}
