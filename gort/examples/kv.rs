//! A Redis-protocol (RESP2) key-value server, one goroutine per connection,
//! sharded `gort::sync::Mutex` maps:
//!
//! ```sh
//! cargo run --release --example kv -- 127.0.0.1:6390
//! redis-cli -p 6390 set greeting hello
//! redis-benchmark -p 6390 -t set,get,incr -n 200000 -c 50
//! ```
//!
//! Commands: PING, ECHO, SET (with EX/PX/NX/XX), GET, DEL, EXISTS, INCR,
//! DECR, INCRBY, DECRBY, MGET, MSET, EXPIRE, PEXPIRE, TTL, PTTL, KEYS,
//! DBSIZE, FLUSHALL/FLUSHDB, QUIT, plus the COMMAND/CONFIG/CLIENT stubs
//! clients send when they connect; pipelining (replies are written once the
//! input buffered so far is used up). Unknown commands and malformed input
//! get a RESP error and the connection goes on (malformed framing closes it
//! after the error, as Redis does); a client that disconnects mid-command
//! costs its goroutine and nothing more.

use gort::net::{TcpListener, TcpStream};
use gort::sync::Mutex;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHARDS: usize = 64;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

struct Db {
    shards: Vec<Mutex<HashMap<Vec<u8>, Entry>>>,
}

impl Db {
    fn new() -> Db {
        Db {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Vec<u8>, Entry>> {
        // FNV-1a: cheap and good enough to spread keys over the shards.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
        }
        &self.shards[(h as usize) % SHARDS]
    }

    /// The live entry for `key` (an expired one is removed), through `f`.
    fn with<R>(&self, key: &[u8], f: impl FnOnce(Option<&mut Entry>) -> R) -> R {
        let mut m = self.shard(key).lock();
        let now = Instant::now();
        if m.get(key).is_some_and(|e| !e.live(now)) {
            m.remove(key);
        }
        f(m.get_mut(key))
    }
}

/// A reply, written in RESP2.
enum Reply {
    Simple(&'static str),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Reply {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.push(b'-');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(v)) => {
                out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.write(out);
                }
            }
        }
    }
}

fn err(msg: &str) -> Reply {
    Reply::Error(format!("ERR {msg}"))
}

fn wrong_args(cmd: &str) -> Reply {
    err(&format!("wrong number of arguments for '{cmd}' command"))
}

fn parse_int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// What reading one command gave.
enum Input {
    Command(Vec<Vec<u8>>),
    /// A protocol error: answered, then the connection is closed.
    Malformed(String),
    Eof,
}

/// Reads one command: a RESP array of bulk strings, or an inline command
/// (a line of words, what `telnet` sends).
fn read_command(r: &mut BufReader<&TcpStream>) -> io::Result<Input> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Ok(Input::Eof);
    }
    let line = trim_crlf(&line);
    if line.first() != Some(&b'*') {
        let words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        return Ok(Input::Command(words));
    }
    let Some(n) = parse_int(&line[1..]).filter(|n| (0..=1 << 20).contains(n)) else {
        return Ok(Input::Malformed(
            "Protocol error: invalid multibulk length".into(),
        ));
    };
    let mut args = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut hdr = Vec::new();
        if r.read_until(b'\n', &mut hdr)? == 0 {
            return Ok(Input::Eof);
        }
        let hdr = trim_crlf(&hdr);
        if hdr.first() != Some(&b'$') {
            return Ok(Input::Malformed(format!(
                "Protocol error: expected '$', got '{}'",
                hdr.first().map_or(' ', |&c| c as char)
            )));
        }
        let Some(len) = parse_int(&hdr[1..]).filter(|n| (0..=512 << 20).contains(n)) else {
            return Ok(Input::Malformed(
                "Protocol error: invalid bulk length".into(),
            ));
        };
        let mut buf = vec![0u8; len as usize + 2];
        match r.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Input::Eof),
            Err(e) => return Err(e),
        }
        if &buf[len as usize..] != b"\r\n" {
            return Ok(Input::Malformed("Protocol error: bulk without CRLF".into()));
        }
        buf.truncate(len as usize);
        args.push(buf);
    }
    Ok(Input::Command(args))
}

fn trim_crlf(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// `*` and `?` glob, as KEYS uses it.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

fn incr_by(db: &Db, key: &[u8], by: i64) -> Reply {
    let mut m = db.shard(key).lock();
    let now = Instant::now();
    let cur = match m.get(key) {
        Some(e) if e.live(now) => match parse_int(&e.value) {
            Some(n) => n,
            None => return err("value is not an integer or out of range"),
        },
        _ => 0,
    };
    let Some(n) = cur.checked_add(by) else {
        return err("increment or decrement would overflow");
    };
    let expires = m.get(key).filter(|e| e.live(now)).and_then(|e| e.expires);
    m.insert(
        key.to_vec(),
        Entry {
            value: n.to_string().into_bytes(),
            expires,
        },
    );
    Reply::Int(n)
}

fn set_expiry(db: &Db, key: &[u8], ms: i64) -> Reply {
    db.with(key, |e| match e {
        Some(e) if ms <= 0 => {
            // Expired at once: the next look removes it.
            e.expires = Some(Instant::now());
            Reply::Int(1)
        }
        Some(e) => {
            e.expires = Some(Instant::now() + Duration::from_millis(ms as u64));
            Reply::Int(1)
        }
        None => Reply::Int(0),
    })
}

fn ttl(db: &Db, key: &[u8], unit_ms: u128) -> Reply {
    db.with(key, |e| match e {
        None => Reply::Int(-2),
        Some(Entry { expires: None, .. }) => Reply::Int(-1),
        Some(Entry {
            expires: Some(t), ..
        }) => {
            let left = t.saturating_duration_since(Instant::now()).as_millis();
            Reply::Int(left.div_ceil(unit_ms) as i64)
        }
    })
}

fn execute(db: &Db, args: &[Vec<u8>]) -> Reply {
    let Some(name) = args.first() else {
        return err("empty command");
    };
    let cmd = String::from_utf8_lossy(name).to_ascii_lowercase();
    let a = &args[1..];
    match (cmd.as_str(), a.len()) {
        ("ping", 0) => Reply::Simple("PONG"),
        ("ping", 1) => Reply::Bulk(Some(a[0].clone())),
        ("echo", 1) => Reply::Bulk(Some(a[0].clone())),
        ("get", 1) => db.with(&a[0], |e| Reply::Bulk(e.map(|e| e.value.clone()))),
        ("set", n) if n >= 2 => {
            let (mut expires, mut nx, mut xx) = (None, false, false);
            let mut i = 2;
            while i < a.len() {
                let opt = String::from_utf8_lossy(&a[i]).to_ascii_lowercase();
                match opt.as_str() {
                    "nx" => nx = true,
                    "xx" => xx = true,
                    "ex" | "px" => {
                        let Some(v) = a.get(i + 1).and_then(|v| parse_int(v)).filter(|&v| v > 0)
                        else {
                            return err("invalid expire time in 'set' command");
                        };
                        let ms = if opt == "ex" {
                            v.saturating_mul(1000)
                        } else {
                            v
                        };
                        expires = Some(Instant::now() + Duration::from_millis(ms as u64));
                        i += 1;
                    }
                    _ => return err("syntax error"),
                }
                i += 1;
            }
            if nx && xx {
                return err("syntax error");
            }
            let mut m = db.shard(&a[0]).lock();
            let exists = m.get(&a[0]).is_some_and(|e| e.live(Instant::now()));
            if (nx && exists) || (xx && !exists) {
                return Reply::Bulk(None);
            }
            m.insert(
                a[0].clone(),
                Entry {
                    value: a[1].clone(),
                    expires,
                },
            );
            Reply::Simple("OK")
        }
        ("del", n) if n >= 1 => Reply::Int(
            a.iter()
                .filter(|k| db.with(k, |e| e.is_some()) && db.shard(k).lock().remove(*k).is_some())
                .count() as i64,
        ),
        ("exists", n) if n >= 1 => {
            Reply::Int(a.iter().filter(|k| db.with(k, |e| e.is_some())).count() as i64)
        }
        ("incr", 1) => incr_by(db, &a[0], 1),
        ("decr", 1) => incr_by(db, &a[0], -1),
        ("incrby" | "decrby", 2) => match parse_int(&a[1]) {
            Some(by) => incr_by(db, &a[0], if cmd == "incrby" { by } else { -by }),
            None => err("value is not an integer or out of range"),
        },
        ("mget", n) if n >= 1 => Reply::Array(
            a.iter()
                .map(|k| db.with(k, |e| Reply::Bulk(e.map(|e| e.value.clone()))))
                .collect(),
        ),
        ("mset", n) if n >= 2 && n % 2 == 0 => {
            for kv in a.chunks(2) {
                db.shard(&kv[0]).lock().insert(
                    kv[0].clone(),
                    Entry {
                        value: kv[1].clone(),
                        expires: None,
                    },
                );
            }
            Reply::Simple("OK")
        }
        ("expire" | "pexpire", 2) => match parse_int(&a[1]) {
            Some(v) => set_expiry(
                db,
                &a[0],
                if cmd == "expire" {
                    v.saturating_mul(1000)
                } else {
                    v
                },
            ),
            None => err("value is not an integer or out of range"),
        },
        ("ttl", 1) => ttl(db, &a[0], 1000),
        ("pttl", 1) => ttl(db, &a[0], 1),
        ("keys", 1) => {
            let now = Instant::now();
            let mut keys = Vec::new();
            for s in &db.shards {
                let m = s.lock();
                keys.extend(
                    m.iter()
                        .filter(|(k, e)| e.live(now) && glob(&a[0], k))
                        .map(|(k, _)| Reply::Bulk(Some(k.clone()))),
                );
            }
            Reply::Array(keys)
        }
        ("dbsize", 0) => {
            let now = Instant::now();
            Reply::Int(
                db.shards
                    .iter()
                    .map(|s| s.lock().values().filter(|e| e.live(now)).count())
                    .sum::<usize>() as i64,
            )
        }
        ("flushall" | "flushdb", _) => {
            for s in &db.shards {
                s.lock().clear();
            }
            Reply::Simple("OK")
        }
        // What clients send when they connect (redis-cli, redis-benchmark).
        ("command", _) => Reply::Array(Vec::new()),
        // CONFIG GET <name>: every setting reads as empty.
        ("config", 2) if a[0].eq_ignore_ascii_case(b"get") => Reply::Array(vec![
            Reply::Bulk(Some(a[1].clone())),
            Reply::Bulk(Some(Vec::new())),
        ]),
        ("config", _) => Reply::Array(Vec::new()),
        ("client", _) => Reply::Simple("OK"),
        ("select", 1) => Reply::Simple("OK"),
        (
            "ping" | "echo" | "get" | "set" | "del" | "exists" | "incr" | "decr" | "incrby"
            | "decrby" | "mget" | "mset" | "expire" | "pexpire" | "ttl" | "pttl" | "keys"
            | "dbsize" | "select",
            _,
        ) => wrong_args(&cmd),
        _ => {
            let shown: Vec<String> = a
                .iter()
                .take(8)
                .map(|x| format!("'{}'", String::from_utf8_lossy(x)))
                .collect();
            err(&format!(
                "unknown command '{}', with args beginning with: {}",
                String::from_utf8_lossy(name),
                shown.join(" ")
            ))
        }
    }
}

fn serve(db: &Db, conn: TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut r = BufReader::with_capacity(16 * 1024, &conn);
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        let input = read_command(&mut r)?;
        let quit = match input {
            Input::Eof => return (&conn).write_all(&out),
            Input::Malformed(msg) => {
                Reply::Error(format!("ERR {msg}")).write(&mut out);
                (&conn).write_all(&out)?;
                return Ok(());
            }
            Input::Command(args) if args.is_empty() => false,
            Input::Command(args) => {
                let quit = args[0].eq_ignore_ascii_case(b"quit");
                let reply = if quit {
                    Reply::Simple("OK")
                } else {
                    execute(db, &args)
                };
                reply.write(&mut out);
                quit
            }
        };
        // Pipelining: answer once the buffered input is used up.
        if quit || r.buffer().is_empty() || out.len() > 64 * 1024 {
            (&conn).write_all(&out)?;
            out.clear();
        }
        if quit {
            return Ok(());
        }
    }
}

/// Serves `l` for ever: one goroutine per connection.
pub fn run_server(l: TcpListener) {
    let db = Arc::new(Db::new());
    for conn in l.incoming() {
        match conn {
            Ok(conn) => {
                let db = db.clone();
                gort::go(move || {
                    let _ = serve(&db, conn);
                });
            }
            // Out of descriptors, a client gone before its accept: go on.
            Err(e) => eprintln!("kv: accept: {e}"),
        }
    }
}

#[gort::main]
fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6390".to_string());
    let l = TcpListener::bind(addr.as_str())?;
    println!("kv: listening on {}", l.local_addr()?);
    run_server(l);
    Ok(())
}
