//! 10 000 idle connections, each held by a goroutine parked in `read`: the
//! server (a child process) reports the memory each costs, then every
//! connection still answers. The clients are this process's (plain std
//! sockets), so that each process needs only ~10 000 descriptors.
#![cfg(target_os = "linux")]

mod common;
use common::{child_mode, stdout_value};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// Connections: 10 000, or what this machine's descriptor limit allows.
fn conns() -> usize {
    let hard = raise_nofile();
    (hard.saturating_sub(200) as usize).min(10_000)
}

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_nofile() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
    rl.rlim_max
}

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn server(n: usize) {
    gort::run(move || {
        let l = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        println!("addr={}", l.local_addr().unwrap().port());
        let before = rss_kb();
        let parked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let (c, _) = l.accept().unwrap();
            let parked = parked.clone();
            hs.push(gort::go(move || {
                parked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut b = [0u8; 1];
                (&c).read_exact(&mut b).unwrap();
                (&c).write_all(&b).unwrap();
            }));
        }
        while parked.load(std::sync::atomic::Ordering::SeqCst) < n {
            gort::sleep(Duration::from_millis(5));
        }
        gort::sleep(Duration::from_millis(50));
        let grown = rss_kb().saturating_sub(before) * 1024;
        println!("bytes_per_conn={}", grown / n as u64);
        for h in hs {
            h.join().unwrap();
        }
        println!("answered={n}");
    });
}

#[test]
fn ten_thousand_idle_connections_park_and_all_answer() {
    let n = conns();
    if child_mode().as_deref() == Some("idle") {
        return server(n);
    }
    assert!(n >= 1000, "descriptor limit too low for the test: {n}");
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "ten_thousand_idle_connections_park_and_all_answer",
            "--exact",
            "--nocapture",
        ])
        .env("GORT_TEST_CHILD", "idle")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "server ended early");
        if let Some(p) = line.trim().strip_prefix("addr=") {
            break p.parse().unwrap();
        }
    };
    let clients: Vec<_> = (0..n)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut rest = String::new();
    let mut line = String::new();
    while !rest.contains("bytes_per_conn=") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "server ended: {rest}"
        );
        rest.push_str(&line);
    }
    for (i, mut c) in clients.iter().enumerate() {
        c.write_all(&[i as u8]).unwrap();
    }
    for (i, mut c) in clients.iter().enumerate() {
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i as u8);
    }
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    let fake = std::process::Output {
        status: std::process::ExitStatus::default(),
        stdout: rest.clone().into_bytes(),
        stderr: Vec::new(),
    };
    assert_eq!(stdout_value(&fake, "answered"), Some(n as u64), "{rest}");
    let per = stdout_value(&fake, "bytes_per_conn").unwrap();
    eprintln!("{n} idle connections: {per} bytes each in the server");
    // A goroutine parked in read: its stack pages, G, socket and poller
    // state; generous bound, the figure is in the README.
    assert!(per < 32 * 1024, "{per} bytes per idle connection");
}
