//! `examples/kv.rs` (the RESP2 server), run in-process: spoken to directly
//! (replies byte for byte, pipelining, unknown commands and malformed input
//! answered with errors, a client gone mid-command), and driven by the real
//! `redis-cli` and `redis-benchmark` from Debian's `redis-tools` when they
//! are installed (CI installs them and sets `GORT_REQUIRE_REDIS=1`, which
//! makes their absence a failure).

#[path = "../examples/kv.rs"]
#[allow(dead_code)]
mod kv;

use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// Starts the server on a goroutine of a runtime on its own thread; or,
/// with `GORT_KV_ADDR` set, returns that address, where one listens already
/// (CI runs the Windows build of the example under Wine and points these
/// tests at it, one at a time: the redis test's FLUSHALL is global).
fn start() -> SocketAddr {
    if let Ok(a) = std::env::var("GORT_KV_ADDR") {
        return a.parse().expect("GORT_KV_ADDR: an ip:port");
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || gort::run(move || kv::run_server(l)));
    addr
}

/// Sends `req`, reads until the reply has `want.len()` bytes, checks it.
fn exchange(c: &mut TcpStream, req: &[u8], want: &[u8]) {
    c.write_all(req).unwrap();
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "reply to {:?}",
        String::from_utf8_lossy(req)
    );
}

#[test]
fn resp_replies_pipelining_and_errors() {
    let addr = start();
    gort::run(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        exchange(&mut c, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
        exchange(&mut c, b"PING\r\n", b"+PONG\r\n");
        exchange(
            &mut c,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n41\r\n",
            b"+OK\r\n",
        );
        exchange(&mut c, b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", b":42\r\n");
        exchange(&mut c, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$2\r\n42\r\n");
        exchange(&mut c, b"*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n", b"$-1\r\n");
        // Pipelined: three commands in one write, three replies in order.
        exchange(
            &mut c,
            b"*2\r\n$4\r\nDECR\r\n$1\r\nk\r\n*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n",
            b":41\r\n:1\r\n:1\r\n",
        );
        exchange(
            &mut c,
            b"*5\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\nv\r\n$2\r\nPX\r\n$5\r\n60000\r\n*2\r\n$3\r\nTTL\r\n$1\r\nt\r\n",
            b"+OK\r\n:60\r\n",
        );
        exchange(
            &mut c,
            b"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
            b"+OK\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n",
        );
        // Errors, and the connection goes on.
        exchange(
            &mut c,
            b"*2\r\n$5\r\nHELLO\r\n$1\r\nx\r\n",
            b"-ERR unknown command 'HELLO', with args beginning with: 'x'\r\n",
        );
        exchange(
            &mut c,
            b"*2\r\n$4\r\nINCR\r\n$1\r\nt\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        );
        exchange(
            &mut c,
            b"*1\r\n$3\r\nGET\r\n",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        );
        exchange(&mut c, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
        exchange(&mut c, b"*1\r\n$4\r\nQUIT\r\n", b"+OK\r\n");
        assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0, "closed after QUIT");

        // Malformed framing: an error, then the server closes.
        let mut m = TcpStream::connect(addr).unwrap();
        exchange(
            &mut m,
            b"*1\r\n!oops\r\n",
            b"-ERR Protocol error: expected '$', got '!'\r\n",
        );
        assert_eq!(m.read(&mut [0u8; 1]).unwrap(), 0);

        // Gone mid-command: costs nothing; the server goes on.
        let mut g = TcpStream::connect(addr).unwrap();
        g.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nz").unwrap();
        drop(g);
        let mut c = TcpStream::connect(addr).unwrap();
        exchange(&mut c, b"*2\r\n$6\r\nEXISTS\r\n$1\r\nz\r\n", b":0\r\n");
    });
}

fn redis_tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("GORT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "{name} not installed (apt-get install redis-tools)"
        );
        eprintln!("kv: {name} not installed (apt-get install redis-tools): not run");
    }
    found
}

fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
#[cfg_attr(
    windows,
    ignore = "a Windows process under Wine cannot start the Linux redis tools; CI drives \
              the Windows build of examples/kv.rs with redis-cli from Linux (GORT_KV_ADDR)"
)]
fn redis_cli_drives_it() {
    if !redis_tool("redis-cli") || !redis_tool("redis-benchmark") {
        return;
    }
    let addr = start();
    assert_eq!(cli(addr, &["ping"]), "PONG");
    assert_eq!(cli(addr, &["set", "greeting", "hello world"]), "OK");
    assert_eq!(cli(addr, &["get", "greeting"]), "hello world");
    assert_eq!(cli(addr, &["incr", "n"]), "1");
    assert_eq!(cli(addr, &["incr", "n"]), "2");
    assert_eq!(cli(addr, &["decr", "n"]), "1");
    assert_eq!(cli(addr, &["set", "e", "v", "EX", "100"]), "OK");
    assert_eq!(cli(addr, &["ttl", "e"]), "100");
    assert_eq!(cli(addr, &["expire", "greeting", "50"]), "1");
    assert_eq!(cli(addr, &["ttl", "greeting"]), "50");
    assert_eq!(cli(addr, &["ttl", "n"]), "-1");
    assert_eq!(cli(addr, &["mset", "a", "1", "b", "2"]), "OK");
    // (A nil is an empty line in redis-cli's raw output; trailing ones trimmed.)
    assert_eq!(cli(addr, &["mget", "a", "b", "nope"]), "1\n2");
    assert_eq!(cli(addr, &["exists", "a", "b", "nope"]), "2");
    assert_eq!(cli(addr, &["del", "a", "nope"]), "1");
    assert_eq!(cli(addr, &["echo", "twice"]), "twice");
    assert!(cli(addr, &["nosuch", "x"]).starts_with("ERR unknown command 'nosuch'"));
    assert_eq!(cli(addr, &["flushall"]), "OK");
    assert_eq!(cli(addr, &["dbsize"]), "0");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "a Windows process under Wine cannot start the Linux redis tools"
)]
fn redis_benchmark_drives_it() {
    if !redis_tool("redis-cli") || !redis_tool("redis-benchmark") {
        return;
    }
    let addr = start();
    // (A server shared with the other tests: GORT_KV_ADDR.)
    assert_eq!(cli(addr, &["flushall"]), "OK");
    // redis-benchmark: 50 clients, plain and pipelined; every request must
    // be answered (it exits non-zero on errors), and the keys it set exist.
    let port = addr.port().to_string();
    for pipeline in ["1", "16"] {
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "set,get,incr"])
            .args(["-n", "20000", "-c", "50", "-P", pipeline, "-q"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "redis-benchmark -P {pipeline}: {out:?}"
        );
        for t in ["SET", "GET", "INCR"] {
            assert!(text.contains(&format!("{t}: ")), "{text}");
        }
    }
    assert_eq!(
        cli(
            addr,
            &["exists", "key:__rand_int__", "counter:__rand_int__"]
        ),
        "2"
    );
    assert_eq!(cli(addr, &["get", "counter:__rand_int__"]), "40000");
}
