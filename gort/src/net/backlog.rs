//! The listen backlog: the system's maximum, as Go uses, not the 128 of std
//! and mio. A server that accepts in bursts (10 000 clients connecting at
//! once) otherwise overflows the accept queue, and each dropped SYN costs
//! its client a 1 s retransmission.

use std::sync::OnceLock;

/// The backlog every listener is created with.
pub(crate) fn listen_backlog() -> i32 {
    static BACKLOG: OnceLock<i32> = OnceLock::new();
    *BACKLOG.get_or_init(system_max)
}

/// `net.core.somaxconn` (the kernel caps a larger backlog to it anyway);
/// kernels before 4.1 keep the backlog in 16 bits, so no more than that.
#[cfg(target_os = "linux")]
fn system_max() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .map_or(libc::SOMAXCONN, |n| n.min(65535))
}

/// The platform's `SOMAXCONN` (the BSDs and macOS cap it at their sysctl).
#[cfg(all(unix, not(target_os = "linux")))]
fn system_max() -> i32 {
    libc::SOMAXCONN
}

/// Windows: `SOMAXCONN` asks the provider for its reasonable maximum.
#[cfg(windows)]
fn system_max() -> i32 {
    windows_sys::Win32::Networking::WinSock::SOMAXCONN as i32
}
