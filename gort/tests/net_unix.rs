//! `gort::net`'s Unix domain sockets: stream echo from many goroutines
//! (every byte checked), goroutines parked in `read`/`recv` while their one
//! processor runs another, datagrams bound and paired, a read timeout.
#![cfg(unix)]

use gort::net::{UnixDatagram, UnixListener, UnixStream};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

fn socket_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("gort-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn unix_stream_echo_from_many_goroutines() {
    let path = socket_path("echo");
    let total = gort::run({
        let path = path.clone();
        move || {
            let l = UnixListener::bind(&path).unwrap();
            gort::go(move || {
                for conn in l.incoming() {
                    let mut c = conn.unwrap();
                    gort::go(move || {
                        let mut b = [0u8; 2048];
                        loop {
                            match c.read(&mut b) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => c.write_all(&b[..n]).unwrap(),
                            }
                        }
                    });
                }
            });
            let hs: Vec<_> = (0..100u64)
                .map(|i| {
                    let path = path.clone();
                    gort::go(move || {
                        let mut s = UnixStream::connect(&path).unwrap();
                        let mut n = 0;
                        for m in 0..50u64 {
                            let msg: Vec<u8> = (0..(1 + (i * 7 + m) % 1500))
                                .map(|k| (k ^ i ^ m) as u8)
                                .collect();
                            s.write_all(&msg).unwrap();
                            let mut back = vec![0u8; msg.len()];
                            s.read_exact(&mut back).unwrap();
                            assert_eq!(back, msg);
                            n += msg.len() as u64;
                        }
                        n
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        }
    });
    let want: u64 = (0..100u64)
        .flat_map(|i| (0..50u64).map(move |m| 1 + (i * 7 + m) % 1500))
        .sum();
    assert_eq!(total, want);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn goroutines_parked_in_unix_reads_leave_the_processor_free() {
    gort::run(|| {
        let old = gort::set_procs(1);
        let mut writers = Vec::new();
        let readers: Vec<_> = (0..200u8)
            .map(|i| {
                let (a, b) = UnixStream::pair().unwrap();
                writers.push(b);
                gort::go(move || {
                    let mut x = [0u8; 1];
                    (&a).read_exact(&mut x).map(|()| x[0] ^ i)
                })
            })
            .collect();
        let (d1, d2) = UnixDatagram::pair().unwrap();
        let receiver = gort::go(move || {
            let mut b = [0u8; 8];
            d1.recv(&mut b)
        });
        // A datagram sender whose peer reads nothing: once the peer's queue
        // is full its `send` parks too (loopback UDP never makes `send_to`
        // wait: a datagram is delivered or dropped at once; this is the same
        // send path).
        const DGRAMS: usize = 4000;
        let (s1, s2) = UnixDatagram::pair().unwrap();
        let sender = gort::go(move || {
            for i in 0..DGRAMS {
                s1.send(&(i as u32).to_le_bytes()).unwrap();
            }
        });
        let mut x = 1u64;
        let done = gort::go(move || {
            for i in 0..20_000_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
            std::hint::black_box(x)
        });
        done.join().unwrap();
        assert!(readers.iter().all(|h| !h.is_finished()) && !receiver.is_finished());
        assert!(!sender.is_finished(), "the datagram sender never blocked");
        let mut b = [0u8; 4];
        for i in 0..DGRAMS {
            assert_eq!(s2.recv(&mut b).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(b), i as u32);
        }
        sender.join().unwrap();
        for (i, w) in writers.iter().enumerate() {
            (&*w).write_all(&[i as u8 ^ 0x5a]).unwrap();
        }
        for h in readers {
            assert_eq!(h.join().unwrap().unwrap(), 0x5a);
        }
        d2.send(b"datagram").unwrap();
        assert_eq!(receiver.join().unwrap().unwrap(), 8);
        gort::set_procs(old);
    });
}

#[test]
fn unix_datagrams_bound_and_a_timeout() {
    let (pa, pb) = (socket_path("dg-a"), socket_path("dg-b"));
    gort::run({
        let (pa, pb) = (pa.clone(), pb.clone());
        move || {
            let a = UnixDatagram::bind(&pa).unwrap();
            let b = UnixDatagram::bind(&pb).unwrap();
            let echo = gort::go(move || {
                let mut buf = [0u8; 64];
                for _ in 0..100 {
                    let (n, from) = b.recv_from(&mut buf).unwrap();
                    b.send_to(&buf[..n], from.as_pathname().unwrap()).unwrap();
                }
            });
            for i in 0..100u32 {
                a.send_to(&i.to_le_bytes(), &pb).unwrap();
                let mut buf = [0u8; 64];
                let (n, from) = a.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], &i.to_le_bytes());
                assert_eq!(from.as_pathname(), Some(pb.as_path()));
            }
            echo.join().unwrap();
            a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let t = Instant::now();
            assert_eq!(
                a.recv(&mut [0u8; 4]).unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            assert!(t.elapsed() >= Duration::from_millis(20));
        }
    });
    let _ = std::fs::remove_file(&pa);
    let _ = std::fs::remove_file(&pb);
}

/// Writing to a stream or pipe whose peer is gone is `BrokenPipe` for the
/// caller, even in a process whose SIGPIPE is back at its default (a C
/// host's): the runtime ignores it, as Go does. In a child: the test
/// harness's `main` already ignores SIGPIPE.
#[test]
fn writing_to_a_gone_peer_is_broken_pipe_not_sigpipe() {
    if std::env::var("GORT_TEST_CHILD").as_deref() == Ok("sigpipe") {
        // SAFETY: restoring the default action before the runtime starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let (kind, pipe) = gort::run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            drop(b);
            let kind = loop {
                if let Err(e) = (&a).write(b"into the void") {
                    break e.kind();
                }
            };
            // A plain pipe too (sockets are written with MSG_NOSIGNAL; a
            // pipe raises SIGPIPE unless it is ignored).
            let mut fds = [0; 2];
            // SAFETY: a two-element array for pipe(2); the descriptors are
            // ours and closed here.
            let pipe = unsafe {
                assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
                libc::close(fds[0]);
                let r = libc::write(fds[1], b"x".as_ptr().cast(), 1);
                let e = std::io::Error::last_os_error();
                libc::close(fds[1]);
                assert_eq!(r, -1);
                e.kind()
            };
            (kind, pipe)
        });
        println!("kind={kind:?} pipe={pipe:?}");
        return;
    }
    let out = gort_test_support::Child::new(
        "writing_to_a_gone_peer_is_broken_pipe_not_sigpipe",
        "sigpipe",
    )
    .output_within(Duration::from_secs(60))
    .expect("child hung");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?} {stdout}", out.status);
    assert!(
        stdout.contains("kind=BrokenPipe pipe=BrokenPipe"),
        "{stdout}"
    );
}
