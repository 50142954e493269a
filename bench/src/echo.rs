//! `echo N`: request/response throughput over loopback TCP, 100 connections
//! at once, client and server in the same process.
//!
//! The workload goroutine binds a listener on 127.0.0.1:0 and starts an
//! acceptor that accepts [`CONNS`] connections and starts one server
//! goroutine per connection (read up to 4 KiB, write back what came, until
//! EOF). It then connects the [`CONNS`] client sockets itself (TCP_NODELAY on
//! both ends), and only then starts the clock and one client goroutine per
//! connection: each sends N / [`CONNS`] messages of [`MSG`] bytes, waiting
//! for each echo (`read_exact` of 64 bytes) and checking every byte (a
//! mismatch panics: non-zero exit). The clock stops when every client is
//! done; `ns_per_op` = wall / messages, `msg_per_s` = messages / wall. Then
//! the clients' sockets are dropped, the server goroutines see EOF and end.
//! Connection set-up is outside the timing: it is the same few hundred µs
//! everywhere and would only blur small-N runs.
//!
//! Both sides run in one runtime on all cores, so client and server compete
//! for the same processors, as they do in every peer.
//!
//! - gort:  `gort::net::{TcpListener, TcpStream}`, `gort::go` per connection
//!   (client and server), blocking `read`/`write_all` (they park the
//!   goroutine on the netpoller).
//! - Go:    `net.Listen` / `net.Dial`, a goroutine per connection (Go's TCP
//!   conns default to TCP_NODELAY), `io.ReadFull` for the echo.
//! - tokio: `tokio::net`, `tokio::spawn` per connection, `AsyncReadExt` /
//!   `AsyncWriteExt` (`read`, `write_all`, `read_exact`).
//! - may:   `may::net::{TcpListener, TcpStream}`, `may::go!` per connection,
//!   std `Read`/`Write` (may's sockets park the coroutine).

#[allow(unused_imports)]
use crate::common::{self, Report, Workload};
#[allow(unused_imports)]
use std::io::{Read, Write};
#[allow(unused_imports)]
use std::time::{Duration, Instant};

/// Connections (= client goroutines = server goroutines).
pub const CONNS: u64 = 100;
/// Bytes per message.
pub const MSG: usize = 64;
/// The server's read buffer.
pub const BUF: usize = 4096;

/// Messages per connection: N / CONNS, at least one.
fn per_conn(n: u64) -> u64 {
    (n / CONNS).max(1)
}

/// Message `m` of client `c`: every byte the same, different per message,
/// so that an echo of the wrong message (or of another connection's) is
/// caught.
fn message(c: u64, m: u64) -> [u8; MSG] {
    [(c.wrapping_mul(31).wrapping_add(m) % 251) as u8; MSG]
}

fn check(c: u64, m: u64, sent: &[u8; MSG], got: &[u8; MSG]) {
    if sent != got {
        panic!("echo: connection {c}, message {m}: sent {sent:?}, got {got:?}");
    }
}

fn report(n: u64, per: u64, wall: Duration) -> Report {
    let msgs = per * CONNS;
    Report::new(Workload::Echo, n, common::ns_per_op(wall, msgs))
        .with(
            "msg_per_s",
            format!("{:.0}", msgs as f64 / wall.as_secs_f64()),
        )
        .with("wall_ms", common::ms(wall))
        .with("msgs", msgs)
        .with("conns", CONNS)
}

#[cfg(feature = "gort")]
pub fn run_gort(n: u64) -> Report {
    use gort::net::{TcpListener, TcpStream};

    fn serve(c: TcpStream) {
        c.set_nodelay(true).expect("echo: nodelay");
        let mut buf = [0u8; BUF];
        loop {
            let k = (&c).read(&mut buf).expect("echo: server read");
            if k == 0 {
                return;
            }
            (&c).write_all(&buf[..k]).expect("echo: server write");
        }
    }

    fn client(c: u64, s: TcpStream, per: u64) {
        let mut back = [0u8; MSG];
        for m in 0..per {
            let msg = message(c, m);
            (&s).write_all(&msg).expect("echo: client write");
            (&s).read_exact(&mut back).expect("echo: client read");
            check(c, m, &msg, &back);
        }
    }

    gort::run(move || {
        let per = per_conn(n);
        let l = TcpListener::bind("127.0.0.1:0").expect("echo: bind");
        let addr = l.local_addr().expect("echo: local_addr");
        let acceptor = gort::go(move || {
            let servers: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (c, _) = l.accept().expect("echo: accept");
                    gort::go(move || serve(c))
                })
                .collect();
            for h in servers {
                h.join().expect("echo: server panicked");
            }
        });
        let conns: Vec<TcpStream> = (0..CONNS)
            .map(|_| {
                let s = TcpStream::connect(addr).expect("echo: connect");
                s.set_nodelay(true).expect("echo: nodelay");
                s
            })
            .collect();
        let t0 = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .zip(conns)
            .map(|(c, s)| gort::go(move || client(c, s, per)))
            .collect();
        for h in clients {
            h.join().expect("echo: client panicked");
        }
        let wall = t0.elapsed();
        acceptor.join().expect("echo: acceptor panicked");
        report(n, per, wall)
    })
}

#[cfg(feature = "tokio")]
pub fn run_tokio(n: u64) -> Report {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn serve(mut c: TcpStream) {
        c.set_nodelay(true).expect("echo: nodelay");
        let mut buf = [0u8; BUF];
        loop {
            let k = c.read(&mut buf).await.expect("echo: server read");
            if k == 0 {
                return;
            }
            c.write_all(&buf[..k]).await.expect("echo: server write");
        }
    }

    async fn client(c: u64, mut s: TcpStream, per: u64) {
        let mut back = [0u8; MSG];
        for m in 0..per {
            let msg = message(c, m);
            s.write_all(&msg).await.expect("echo: client write");
            s.read_exact(&mut back).await.expect("echo: client read");
            check(c, m, &msg, &back);
        }
    }

    common::tokio_run_io(async move {
        let per = per_conn(n);
        let l = TcpListener::bind("127.0.0.1:0").await.expect("echo: bind");
        let addr = l.local_addr().expect("echo: local_addr");
        let acceptor = tokio::spawn(async move {
            let mut servers = Vec::new();
            for _ in 0..CONNS {
                let (c, _) = l.accept().await.expect("echo: accept");
                servers.push(tokio::spawn(serve(c)));
            }
            for h in servers {
                h.await.expect("echo: server panicked");
            }
        });
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let s = TcpStream::connect(addr).await.expect("echo: connect");
            s.set_nodelay(true).expect("echo: nodelay");
            conns.push(s);
        }
        let t0 = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .zip(conns)
            .map(|(c, s)| tokio::spawn(client(c, s, per)))
            .collect();
        for h in clients {
            h.await.expect("echo: client panicked");
        }
        let wall = t0.elapsed();
        acceptor.await.expect("echo: acceptor panicked");
        report(n, per, wall)
    })
}

#[cfg(feature = "may")]
pub fn run_may(n: u64) -> Report {
    use may::net::{TcpListener, TcpStream};

    fn serve(mut c: TcpStream) {
        c.set_nodelay(true).expect("echo: nodelay");
        let mut buf = [0u8; BUF];
        loop {
            let k = c.read(&mut buf).expect("echo: server read");
            if k == 0 {
                return;
            }
            c.write_all(&buf[..k]).expect("echo: server write");
        }
    }

    fn client(c: u64, mut s: TcpStream, per: u64) {
        let mut back = [0u8; MSG];
        for m in 0..per {
            let msg = message(c, m);
            s.write_all(&msg).expect("echo: client write");
            s.read_exact(&mut back).expect("echo: client read");
            check(c, m, &msg, &back);
        }
    }

    common::may_run(move || {
        let per = per_conn(n);
        let l = TcpListener::bind("127.0.0.1:0").expect("echo: bind");
        let addr = l.local_addr().expect("echo: local_addr");
        let acceptor = may::go!(move || {
            let servers: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (c, _) = l.accept().expect("echo: accept");
                    may::go!(move || serve(c))
                })
                .collect();
            for h in servers {
                h.join().expect("echo: server panicked");
            }
        });
        let conns: Vec<TcpStream> = (0..CONNS)
            .map(|_| {
                let s = TcpStream::connect(addr).expect("echo: connect");
                s.set_nodelay(true).expect("echo: nodelay");
                s
            })
            .collect();
        let t0 = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .zip(conns)
            .map(|(c, s)| may::go!(move || client(c, s, per)))
            .collect();
        for h in clients {
            h.join().expect("echo: client panicked");
        }
        let wall = t0.elapsed();
        acceptor.join().expect("echo: acceptor panicked");
        report(n, per, wall)
    })
}
