//! Running out of file descriptors: `accept` returns the `EMFILE` error to
//! its caller (never a crash, never a lost listener), and once descriptors
//! are free again the same listener accepts the connections still waiting.
//! In a child process, which lowers its own `RLIMIT_NOFILE`.
#![cfg(target_os = "linux")]

mod common;
use common::{child_mode, run_child_ok, stdout_value};
use std::time::Duration;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn child() {
    let (accepted, later) = gort::run(|| {
        let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Connected in the kernel's backlog before the limit drops.
        let clients: Vec<_> = (0..30)
            .map(|_| gort::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain getrlimit/setrlimit on this process (the soft limit
        // only: the hard one stays).
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
            rl.rlim_cur = open_fds() + 5;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        }
        let mut streams = Vec::new();
        let e = loop {
            match l.accept() {
                Ok((s, _)) => streams.push(s),
                Err(e) => break e,
            }
            assert!(streams.len() < 30, "the limit was not reached");
        };
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e:?}");
        let accepted = streams.len() as u64;
        // Free them: the listener goes on with the connections still queued.
        drop(streams);
        let mut later = 0;
        for _ in 0..accepted {
            l.accept().unwrap();
            later += 1;
        }
        drop(clients);
        (accepted, later)
    });
    println!("accepted={accepted} later={later}");
}

#[test]
fn accept_out_of_descriptors_is_an_error_and_the_listener_goes_on() {
    if child_mode().as_deref() == Some("emfile") {
        return child();
    }
    let out = run_child_ok(
        "accept_out_of_descriptors_is_an_error_and_the_listener_goes_on",
        "emfile",
        &[],
        Duration::from_secs(60),
        "EMFILE child",
    );
    let accepted = stdout_value(&out, "accepted").unwrap();
    assert!(accepted >= 1, "{:?}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stdout_value(&out, "later"), Some(accepted));
}

/// The listen backlog is the system's maximum (`net.core.somaxconn`, as Go
/// uses), not std's 128: 600 clients that connect before anything is
/// accepted all complete their handshake. With a backlog of 128 the
/// kernel drops the SYNs past the full queue and those connects stay in
/// progress until a retransmission finds room, which never comes here.
#[test]
fn a_burst_of_connects_fits_the_backlog() {
    const CLIENTS: usize = 600;
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if somaxconn < CLIENTS + 10 {
        eprintln!("net.core.somaxconn is {somaxconn}: not run");
        return;
    }
    gort::run(|| {
        let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: socket2::SockAddr = l.local_addr().unwrap().into();
        let clients: Vec<socket2::Socket> = (0..CLIENTS)
            .map(|_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.set_nonblocking(true).unwrap();
                match s.connect(&addr) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => panic!("connect: {e}"),
                }
                s
            })
            .collect();
        // Every connect completes (writable, no error) with nobody accepting.
        use std::os::fd::AsRawFd;
        let mut pending: Vec<&socket2::Socket> = clients.iter().collect();
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while !pending.is_empty() && std::time::Instant::now() < give_up {
            let mut fds: Vec<libc::pollfd> = pending
                .iter()
                .map(|s| libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                })
                .collect();
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            pending = pending
                .into_iter()
                .zip(&fds)
                .filter(|(_, p)| p.revents & libc::POLLOUT == 0)
                .map(|(s, _)| s)
                .collect();
        }
        assert!(
            pending.is_empty(),
            "{} connects never completed",
            pending.len()
        );
        for s in &clients {
            assert!(s.take_error().unwrap().is_none());
        }
        // And they are all there to accept.
        for _ in 0..CLIENTS {
            l.accept().unwrap();
        }
    });
}

/// A goroutine blocked in `connect` parks (the other socket calls are in
/// `tests/net_tcp.rs`): its listener's accept queue is full (backlog 1,
/// nothing accepted), so the kernel drops its SYN and retransmits it a
/// second later; meanwhile the one processor runs a computation to the end.
/// Once the queue is drained the retransmitted SYN gets through.
#[test]
fn a_goroutine_blocked_in_connect_parks() {
    gort::run(|| {
        let old = gort::set_procs(1);
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        l.listen(1).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        // Fill the accept queue (Linux holds backlog + 1).
        let fillers: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let connecting = gort::go(move || gort::net::TcpStream::connect(addr).map(|_| ()));
        let x = gort::go(|| {
            let mut x = 1u64;
            for i in 0..30_000_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
            std::hint::black_box(x)
        })
        .join()
        .unwrap();
        std::hint::black_box(x);
        assert!(!connecting.is_finished(), "the connect did not block");
        // Room again: the next SYN (retransmitted after ~1 s) is accepted.
        // (A plain socket's accept blocks its thread: inside `blocking`.)
        let accepted: Vec<_> = gort::blocking(|| (0..3).map(|_| l.accept().unwrap()).collect());
        connecting.join().unwrap().unwrap();
        drop((fillers, accepted));
        gort::set_procs(old);
    });
}
