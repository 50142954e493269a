//! A TCP echo server, one goroutine per connection, the way a Go programmer
//! writes it first:
//!
//! ```sh
//! cargo run --release --example echo -- 127.0.0.1:7000
//! ```
//!
//! Each connection's goroutine blocks in `read` and `write`; while it waits,
//! its thread runs the other connections' goroutines. Without an address it
//! listens on an ephemeral port, talks to itself through 100 clients and
//! exits (what `cargo test --examples` and the README's demo run).

use gort::net::{TcpListener, TcpStream};
use std::io::{self, Read, Write};
use std::time::Instant;

fn serve(conn: TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = [0u8; 16 * 1024];
    let (mut r, mut w) = (&conn, &conn);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n])?;
    }
}

fn listen(l: TcpListener) {
    for conn in l.incoming() {
        match conn {
            Ok(conn) => {
                gort::go(move || {
                    if let Err(e) = serve(conn) {
                        eprintln!("echo: connection: {e}");
                    }
                });
            }
            // Out of descriptors, a client gone before its accept: the
            // listener goes on.
            Err(e) => eprintln!("echo: accept: {e}"),
        }
    }
}

/// 100 clients, 1000 64-byte messages each, every byte checked.
fn self_test(addr: std::net::SocketAddr) -> io::Result<()> {
    const CLIENTS: usize = 100;
    const MSGS: usize = 1000;
    let t = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            gort::go(move || -> io::Result<()> {
                let mut s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                let mut msg = [0u8; 64];
                let mut back = [0u8; 64];
                for m in 0..MSGS {
                    msg.fill((c * 31 + m) as u8);
                    s.write_all(&msg)?;
                    s.read_exact(&mut back)?;
                    assert_eq!(msg, back, "client {c}, message {m}");
                }
                Ok(())
            })
        })
        .collect();
    for h in clients {
        h.join().expect("client panicked")?;
    }
    let n = CLIENTS * MSGS;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "echo: {CLIENTS} clients x {MSGS} messages of 64 bytes in {secs:.2} s ({:.0} round trips/s)",
        n as f64 / secs
    );
    Ok(())
}

#[gort::main]
fn main() -> io::Result<()> {
    match std::env::args().nth(1) {
        Some(addr) => {
            let l = TcpListener::bind(addr.as_str())?;
            println!("echo: listening on {}", l.local_addr()?);
            listen(l);
            Ok(())
        }
        None => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            gort::go(move || listen(l));
            self_test(addr)
        }
    }
}
