//! `idle N`: memory per idle connection, i.e. per goroutine parked in `read`
//! on an accepted TCP socket, at N (default 10 000) connections.
//!
//! The clients live in a child process (this same binary, re-run with
//! [`CLIENT_ENV`] set to the server's address), so that each process needs
//! only ~N descriptors: with both ends in one process, 10 000 connections
//! would need 20 000, the usual hard RLIMIT_NOFILE. The child connects N
//! plain std sockets in batches of [`BATCH`]: after each batch it waits
//! for a line on its stdin, which the server writes once it has accepted
//! that batch, so that no more than [`BATCH`] connections ever wait in the
//! accept queue (see "Backlog" below); then it waits for one more line.
//!
//! The server (the workload, inside the runtime) binds 127.0.0.1:0, starts
//! the child, reads VmRSS (`rss_before`), then accepts N connections and
//! starts one goroutine per connection that bumps a `parked` counter and
//! blocks in `read_exact` of one byte. Once `parked` is N (polled every
//! 1 ms) it waits a further [`SETTLE`] (the last goroutines go from the
//! counter into the read and the netpoller), reads VmRSS again
//! (`rss_idle`): `rss_bytes_per_conn` = (rss_idle − rss_before) / N.
//!
//! What that counts: everything the *server process* gained in user space
//! for N accepted, parked connections: each goroutine's stack pages and its
//! G / task / coroutine record, the socket object and its netpoller
//! registration, the runtime's own growth (Go: heap not yet collected,
//! scheduler structures), and the acceptor's bookkeeping. Kernel socket
//! memory (socket buffers, TCP control blocks) is not in RSS and not counted;
//! nor is the client process.
//!
//! Then the server writes a line to the child's stdin; the child writes one
//! byte (its index mod 256) on every connection, every server goroutine reads
//! it, writes it back and ends; the child checks each echo (a mismatch or a
//! missing reply makes it exit non-zero, which fails the run) and exits. The
//! server waits for all goroutines and the child. `ns_per_op` = time from
//! the first accept until all N were parked / N.
//!
//! Backlog: every server listens with a backlog of [`BACKLOG`] (Go's: it
//! uses net.core.somaxconn, 4096 here). gort's and std's `bind` use 128,
//! tokio's and may's 1024; the child connects faster than a server on a
//! busy 2-core machine accepts, and a SYN that finds the accept queue full
//! is dropped and retried after 1 s, which made `park_ms` seconds of TCP
//! retransmission instead of the runtime's accept path (the memory figure is
//! the same either way). The Rust servers call `listen` again on the bound
//! socket, which on Linux only resizes the queue; and the child's batches
//! keep the queue below [`BATCH`] (even 4096 overflowed now and then: the
//! child connects faster than any of the servers accepts and starts a
//! goroutine).
//!
//! RLIMIT_NOFILE: both processes raise their soft limit to N + 64 (the hard
//! limit permitting; Go does that on its own since 1.19) and fail with a
//! message naming the limit if the hard limit is lower.
//!
//! - gort:  `gort::net::TcpListener`, `gort::scope` + `s.go` per connection,
//!   `read_exact` on `&TcpStream` (parks on the netpoller).
//! - Go:    `net.Listen`, a goroutine per connection, `io.ReadFull`,
//!   `sync.WaitGroup`.
//! - tokio: `tokio::net::TcpListener`, `tokio::spawn` per connection,
//!   `AsyncReadExt::read_exact`; `TokioLatch`.
//! - may:   `may::net::TcpListener`, `may::go!` per connection (32 KiB
//!   mmap'ed stacks, only touched pages are resident), `read_exact`.

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::io::{BufRead, Read, Write};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[allow(unused_imports)]
use std::time::{Duration, Instant};

/// Connections the child makes before it waits for the server to accept
/// them.
pub const BATCH: u64 = 500;
/// Set (to the server's address) in the client child's environment.
pub const CLIENT_ENV: &str = "GORT_BENCH_IDLE_CLIENT";
/// How long the server waits after the last goroutine said it parked.
pub const SETTLE: Duration = Duration::from_millis(50);
/// The server's polling interval while it waits for all to park.
pub const POLL: Duration = Duration::from_millis(1);
/// The accept queue every server gets (see the module comment).
pub const BACKLOG: i32 = 4096;
/// Descriptors beyond N each process may need (listener, epoll, pipes, std).
const SPARE_FDS: u64 = 64;

/// What the server saw once all N connections were parked.
#[allow(dead_code)]
struct Snapshot {
    park: Duration,
    rss_before: u64,
    rss_idle: u64,
}

#[allow(dead_code)]
fn report(n: u64, snap: Snapshot, wall: Duration) -> Report {
    let per = snap.rss_idle.saturating_sub(snap.rss_before) as f64 / n as f64;
    Report::new(Workload::Idle, n, common::ns_per_op(snap.park, n))
        .with("rss_bytes_per_conn", format!("{per:.1}"))
        .with("park_ms", common::ms(snap.park))
        .with("rss_before_kb", snap.rss_before / 1024)
        .with("rss_idle_kb", snap.rss_idle / 1024)
        .with("wall_ms", common::ms(wall))
}

/// Runs first in every implementation's `idle`: in the client child, holds
/// the connections and exits; in the server, raises the descriptor limit
/// (panicking with the reason if it cannot). Not applicable off Linux
/// (VmRSS comes from /proc).
#[allow(dead_code)]
fn prologue(imp: &str, n: u64) {
    if !cfg!(target_os = "linux") {
        common::not_applicable(imp, Workload::Idle, "reads VmRSS from /proc (Linux only)");
    }
    if let Err(e) = raise_nofile(n + SPARE_FDS) {
        panic!("idle: {e}");
    }
    if let Ok(addr) = std::env::var(CLIENT_ENV) {
        hold_clients(&addr, n);
        std::process::exit(0);
    }
}

/// The client child: N plain std sockets, connected one after another in
/// batches (a line from stdin after each: the server has accepted them);
/// then, on one more line, one byte each and its echo checked.
fn hold_clients(addr: &str, n: u64) {
    let mut stdin = std::io::stdin().lock();
    let mut wait_line = || {
        let mut line = String::new();
        let k = stdin.read_line(&mut line).expect("idle client: stdin");
        assert!(k > 0, "idle client: the server closed stdin");
    };
    let mut conns = Vec::with_capacity(n as usize);
    for i in 0..n {
        let c = std::net::TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("idle client: connect #{i}: {e}"));
        conns.push(c);
        if batch_end(i, n) {
            wait_line();
        }
    }
    wait_line();
    for (i, mut c) in conns.iter().enumerate() {
        c.write_all(&[i as u8]).expect("idle client: write");
    }
    for (i, mut c) in conns.iter().enumerate() {
        let mut b = [0u8; 1];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("idle client: read #{i}: {e}"));
        assert_eq!(
            b[0], i as u8,
            "idle client: connection {i} echoed another byte"
        );
    }
}

/// Starts the client child: this binary, `idle N`, with [`CLIENT_ENV`] set;
/// its stdin is the release line, its stdout is discarded (only the server
/// prints the result line), its stderr is the run's.
#[allow(dead_code)]
fn spawn_client(addr: std::net::SocketAddr, n: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("idle: current_exe"))
        .args(["idle", &n.to_string()])
        .env(CLIENT_ENV, addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("idle: spawn the client process")
}

/// Whether connection `i` (0-based) of `n` is the last of a batch.
fn batch_end(i: u64, n: u64) -> bool {
    (i + 1).is_multiple_of(BATCH) || i + 1 == n
}

/// After the server's `i`-th accept (0-based): at the end of each batch,
/// tells the child to go on.
#[allow(dead_code)]
fn accepted(child: &mut std::process::Child, i: u64, n: u64) {
    if batch_end(i, n) {
        let stdin = child.stdin.as_mut().expect("idle: child stdin");
        writeln!(stdin, "more").expect("idle: write to the client process");
    }
}

/// Tells the child to send its bytes.
#[allow(dead_code)]
fn release(child: &mut std::process::Child) {
    let mut stdin = child.stdin.take().expect("idle: child stdin");
    writeln!(stdin, "go").expect("idle: write to the client process");
}

#[allow(dead_code)]
fn check_child(child: std::process::Child) {
    let out = child.wait_with_output().expect("idle: wait for the client");
    assert!(
        out.status.success(),
        "idle: the client process failed: {}",
        out.status
    );
}

/// Resizes the accept queue of the listening socket `l` to [`BACKLOG`].
#[cfg(unix)]
#[allow(dead_code)]
fn deepen_backlog(l: &impl std::os::fd::AsRawFd) {
    // SAFETY: listen(2) on a socket this process owns and keeps open.
    let r = unsafe { libc::listen(l.as_raw_fd(), BACKLOG) };
    assert_eq!(r, 0, "idle: listen: {}", std::io::Error::last_os_error());
}

#[cfg(not(unix))]
#[allow(dead_code)]
fn deepen_backlog<T>(_: &T) {}

/// Raises the soft RLIMIT_NOFILE to at least `need` (the hard limit
/// permitting).
#[cfg(unix)]
fn raise_nofile(need: u64) -> Result<(), String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process, with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
        }
        let need = need as libc::rlim_t;
        if rl.rlim_cur >= need {
            return Ok(());
        }
        if rl.rlim_max < need {
            return Err(format!(
                "RLIMIT_NOFILE hard limit {} < {need} descriptors needed for N connections + \
                 {SPARE_FDS}: raise it (ulimit -Hn, as root) or lower N (BENCH_N_IDLE)",
                rl.rlim_max
            ));
        }
        rl.rlim_cur = need;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn raise_nofile(_need: u64) -> Result<(), String> {
    Ok(())
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    prologue("gort", n);
    gort::run(move || {
        let l = gort::net::TcpListener::bind("127.0.0.1:0").expect("idle: bind");
        deepen_backlog(&l);
        let mut child = gort::blocking(|| spawn_client(l.local_addr().unwrap(), n));
        let parked = AtomicU64::new(0);
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        let snap = gort::scope(|s| {
            let parked = &parked;
            for i in 0..n {
                let (c, _) = l.accept().expect("idle: accept");
                accepted(&mut child, i, n);
                s.go(move || {
                    parked.fetch_add(1, Relaxed);
                    let mut b = [0u8; 1];
                    (&c).read_exact(&mut b).expect("idle: server read");
                    (&c).write_all(&b).expect("idle: server write");
                });
            }
            while parked.load(Relaxed) < n {
                gort::sleep(POLL);
            }
            let park = t0.elapsed();
            gort::sleep(SETTLE);
            let rss_idle = common::rss_bytes();
            release(&mut child);
            Snapshot {
                park,
                rss_before,
                rss_idle,
            }
        });
        gort::blocking(|| check_child(child));
        report(n, snap, t0.elapsed())
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    prologue("tokio", n);
    common::tokio_run_io(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("idle: bind");
        deepen_backlog(&l);
        let mut child = spawn_client(l.local_addr().unwrap(), n);
        let parked = Arc::new(AtomicU64::new(0));
        let latch = Arc::new(common::TokioLatch::new(n));
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for i in 0..n {
            let (mut c, _) = l.accept().await.expect("idle: accept");
            accepted(&mut child, i, n);
            let (parked, latch) = (parked.clone(), latch.clone());
            tokio::spawn(async move {
                parked.fetch_add(1, Relaxed);
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await.expect("idle: server read");
                c.write_all(&b).await.expect("idle: server write");
                latch.done();
            });
        }
        while parked.load(Relaxed) < n {
            tokio::time::sleep(POLL).await;
        }
        let park = t0.elapsed();
        tokio::time::sleep(SETTLE).await;
        let rss_idle = common::rss_bytes();
        release(&mut child);
        latch.wait().await;
        tokio::task::spawn_blocking(move || check_child(child))
            .await
            .expect("idle: wait for the client");
        let snap = Snapshot {
            park,
            rss_before,
            rss_idle,
        };
        report(n, snap, t0.elapsed())
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    use std::sync::Arc;
    prologue("may", n);
    common::may_run(move || {
        let l = may::net::TcpListener::bind("127.0.0.1:0").expect("idle: bind");
        deepen_backlog(&l);
        let mut child = spawn_client(l.local_addr().unwrap(), n);
        let parked = Arc::new(AtomicU64::new(0));
        let latch = Arc::new(common::MayLatch::new(n));
        let rss_before = common::rss_bytes();
        let t0 = Instant::now();
        for i in 0..n {
            let (mut c, _) = l.accept().expect("idle: accept");
            accepted(&mut child, i, n);
            let (parked, latch) = (parked.clone(), latch.clone());
            may::go!(move || {
                parked.fetch_add(1, Relaxed);
                let mut b = [0u8; 1];
                c.read_exact(&mut b).expect("idle: server read");
                c.write_all(&b).expect("idle: server write");
                latch.done();
            });
        }
        while parked.load(Relaxed) < n {
            may::coroutine::sleep(POLL);
        }
        let park = t0.elapsed();
        may::coroutine::sleep(SETTLE);
        let rss_idle = common::rss_bytes();
        release(&mut child);
        latch.wait();
        check_child(child);
        let snap = Snapshot {
            park,
            rss_before,
            rss_idle,
        };
        report(n, snap, t0.elapsed())
    })
}
