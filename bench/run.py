#!/usr/bin/env python3
"""Benchmark runner: gort vs Go vs tokio vs may (and gort without preemption).

Usage (normally through bench/run.sh):

    bench/run.sh [workload...]          # default: all of them, in the order of WORKLOADS below

Builds the three Rust binaries (`cargo build --release -p gort-bench --bins`)
and the Go one (`go build -o gobench` in bench/go), then, per workload, runs
the implementations alternately -- gort, go, tokio, may, gort, go, ... --
for BENCH_ROUNDS rounds, takes the median of every metric per implementation
and writes bench/RESULTS.md: one table per workload with each
implementation's medians and the ratios gort/<peer>. Every binary prints one
line `name=<w> n=<N> ns_per_op=<x> key=value ...`; a run that fails (non-zero
exit, timeout, no such line) is reported in the table, not fatal. A workload
a peer has no equivalent of (`qsort`: tokio, may) is not run for it and shows
"n/a" (a binary asked for one anyway exits with EXIT_NOT_APPLICABLE, which is
recorded as n/a too).

`kv` is a server benchmark the runner drives itself: it starts each server
-- gort's examples/kv.rs (`cargo build --release -p gort --example kv`), the
Go server in bench/go/kv (built as bench/go/kvserver) and a real
`redis-server` (impl `redis-server`, which exists for kv only and has no
column elsewhere) -- on a free loopback port, runs `redis-benchmark -t
set,get,incr -n N -c 50 -q --csv` against it without and with `-P 16`,
checks the INCR counter, kills it, and records the requests/s as one run.

The Go peer is built twice: `gobench` without cgo (CGO_ENABLED=0, a pure Go
binary, for every workload but qsort) and, when qsort is selected,
`gobench-cgo` with it (CGO_ENABLED=1; needs a C compiler), which runs qsort.
Rust binaries go to cargo's target directory, so CARGO_TARGET_DIR=...
bench/run.sh builds and runs them there.

`gort-nopreempt` is the same gort-bench binary built with
`RUSTFLAGS="--cfg gort_no_preempt"` (into <target>/nopreempt): gort without
the preemption machinery (no sysmon checks or shortened ticks, no
`NoPreempt`, no switch hold, no cooperative check). Its column
`gort/gort-nopreempt` is what that machinery costs gort (spawn and yield:
should be below 1.03); in `preempt` it shows the gap without preemption.

Environment:
    BENCH_ROUNDS=3                    rounds per workload
    BENCH_IMPLS=gort,go,tokio,may,gort-nopreempt,redis-server
                                      implementations to run (and build); also
                                      gort-wine and go-wine: the Windows builds
                                      run under Wine (after
                                      scripts/setup-cross.sh), e.g.
                                      BENCH_IMPLS=gort,gort-wine,go,go-wine
    BENCH_N_SPAWN / BENCH_N_SPAWNJOIN / BENCH_N_YIELD / BENCH_N_TIMERS / BENCH_N_PARKED /
    BENCH_N_PREEMPT / BENCH_N_PINGPONG / BENCH_N_CHANTHROUGHPUT /
    BENCH_N_MUTEX / BENCH_N_PARKEDCHAN / BENCH_N_QSORT /
    BENCH_N_ECHO / BENCH_N_KV / BENCH_N_IDLE
                                      N per workload (defaults below; preempt's
                                      N is a duration in ms, echo's messages,
                                      kv's requests per redis-benchmark test,
                                      idle's connections)
    BENCH_TIMEOUT=600                 seconds allowed for one run
    BENCH_OUT=bench/RESULTS.md        where to write the report
    BENCH_NO_BUILD=1                  skip the builds (use existing binaries)
    BENCH_STRICT=1                    exit with status 1 if any run failed (the
                                      report is written first; CI's smoke runs)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
GO_DIR = BENCH_DIR / "go"

ALL_IMPLS = ["gort", "go", "tokio", "may", "gort-nopreempt", "redis-server", "gort-wine", "go-wine"]
# The default set: the native implementations.
DEFAULT_IMPLS = ["gort", "go", "tokio", "may", "gort-nopreempt", "redis-server"]
# Implementations that exist only for the workloads naming them in `only`
# (redis-server: kv); elsewhere they get no column at all, not "n/a".
WORKLOAD_ONLY_IMPLS = ("redis-server",)
# The Windows x86-64 builds, run under Wine on this Linux machine (opt-in):
# gort-bench for x86_64-pc-windows-gnu, and Go's benchmark for GOOS=windows
# (its cgo build with mingw's gcc). Their figures are Wine figures: Windows'
# API emulated on Linux, not a Windows machine.
WINE_TARGET = "x86_64-pc-windows-gnu"
WINE_ENV = {"WINEDEBUG": "-all", "WINEDLLOVERRIDES": "winedbg.exe=d", "WINEPATH": "/usr/local/lib/wine-shim"}
RUST_BINS = {"gort": "gort-bench", "tokio": "tokio-bench", "may": "may-bench"}
# Exit status of a binary asked for a workload it has no version of
# (common::EXIT_NOT_APPLICABLE in bench/src/common.rs).
EXIT_NOT_APPLICABLE = 3


@dataclass(frozen=True)
class Workload:
    name: str
    default_n: int
    headline: str  # metric the gort/<peer> ratio is about (lower is better)
    metrics: tuple[str, ...]  # rows of the table, headline first
    about: str
    n_unit: str = ""  # what N counts, when it is not a number of operations
    only: tuple[str, ...] = ()  # the implementations it exists for (empty: all); others are "n/a"
    na_why: str = ""  # why the others have no version
    go_cgo: bool = False  # Go runs it from gobench-cgo (built with cgo) instead of gobench

    def applies(self, impl: str) -> bool:
        if impl in WORKLOAD_ONLY_IMPLS:
            return impl in self.only
        return not self.only or impl in self.only

    def shown(self, impl: str) -> bool:
        """Whether the impl gets a column (n/a or not) in this workload's table."""
        return impl not in WORKLOAD_ONLY_IMPLS or impl in self.only


WORKLOADS = {
    w.name: w
    for w in [
        Workload(
            "spawn", 1_000_000, "ns_per_op", ("ns_per_op", "peak_rss_kb", "wall_ms"),
            "N goroutines each do counter.fetch_add(1); the spawner waits for all. "
            "ns_per_op = wall / N; peak_rss_kb = VmHWM at the end.",
        ),
        Workload(
            "spawnjoin", 1_000_000, "ns_per_op", ("ns_per_op", "peak_rss_kb", "wall_ms"),
            "The idiom users write first: N goroutines, goroutine i returns i, every handle kept in a Vec "
            "(all N exist at once), then joined in spawn order and summed (checked). Go has no handles: "
            "go + one WaitGroup, goroutine i stores i in a slice. tokio: JoinHandles awaited in order; "
            "may: JoinHandles joined in order (may keeps every coroutine's stack until its join: ~4 GB "
            "and 15-25 s at N = 1 M on 2 cores). ns_per_op = wall (first spawn to last join) / N; "
            "compare gort's figure with its own spawn (scope) row.",
        ),
        Workload(
            "yield", 10_000_000, "ns_per_op", ("ns_per_op", "wall_ms"),
            "100 goroutines each yield N/100 times. ns_per_op = wall / yields.",
        ),
        Workload(
            "timers", 100_000, "mean_late_us",
            ("mean_late_us", "p99_late_us", "max_late_us", "wall_ms", "ns_per_op"),
            "N goroutines each sleep a deterministic 1..=100 ms; lateness = wake - (start + d).",
        ),
        Workload(
            "parked", 1_000_000, "rss_bytes_per_g",
            ("rss_bytes_per_g", "ns_per_op", "spawn_ms", "rss_parked_kb", "wall_ms", "rewakes"),
            "N goroutines park in sleep(1 s) (sleeping again until released); RSS growth / N once all "
            "have started. ns_per_op = time until all N started / N.",
        ),
        Workload(
            "preempt", 2000, "max_gap_ms",
            ("max_gap_ms", "mean_gap_ms", "p99_gap_ms", "wakes", "spin_iters_m", "safety_stop", "wall_ms",
             "ns_per_op"),
            "On ONE processor, a spinner goroutine loops without any call while a sleeper loops "
            "sleep(1 ms) for N ms, recording each gap (sleep call to wake-up); only preemption of the "
            "spinner lets the sleeper run. max_gap_ms = the longest the sleeper went without running. "
            "A runtime that never preempts shows max_gap_ms ≈ N + 1000 (an OS thread stops the spinner "
            "then, safety_stop = 1). ns_per_op = wall / wakes; spin_iters_m = spinner iterations (millions).",
            "ms",
        ),
        Workload(
            "pingpong", 1_000_000, "ns_per_op", ("ns_per_op", "wall_ms"),
            "Two goroutines, two unbuffered channels: A sends i on c1, B receives it and sends it back on "
            "c2, A receives and checks it; N round trips. ns_per_op = wall / N (one round trip). tokio "
            "uses mpsc::channel(1), may its unbounded mpsc (neither has a rendezvous channel; in this "
            "pattern at most one value is ever queued).",
        ),
        Workload(
            "chanthroughput", 4_000_000, "ns_per_op", ("ns_per_op", "wall_ms", "msgs"),
            "4 producers send N/4 u64s each on one channel of capacity 1024, 4 consumers sum them until it "
            "is closed; the total is checked. ns_per_op = wall / messages. tokio: mpsc::channel(1024) with "
            "the receiver shared by the consumers through an async Mutex; may: unbounded mpmc channel plus "
            "a 1024-permit semaphore for the capacity.",
        ),
        Workload(
            "mutex", 8_000_000, "ns_per_op", ("ns_per_op", "wall_ms", "ops"),
            "8 goroutines each do N/8 lock / count += 1 / unlock on one shared mutex (gort::sync::Mutex, "
            "sync.Mutex, tokio::sync::Mutex, may::sync::Mutex); the count is checked. "
            "ns_per_op = wall / N (one lock/unlock pair).",
        ),
        Workload(
            "parkedchan", 1_000_000, "rss_bytes_per_g",
            ("rss_bytes_per_g", "ns_per_op", "wake_ns_per_g", "park_ms", "wake_ms", "rss_parked_kb", "wall_ms"),
            "N goroutines each block receiving on their own unbuffered channel (tokio: oneshot, may: "
            "unbounded mpsc). RSS growth / N once all have started (channels and the spawner's sender "
            "slots included); ns_per_op = time until all N started / N; then one value is sent on each "
            "channel: wake_ns_per_g = time until all N finished / N.",
        ),
        Workload(
            "qsort", 1_000_000, "ns_per_op",
            ("ns_per_op", "cb_g_over_plain_g", "cb_thread_over_plain_thread",
             "plain_thread_ns_per_cmp", "plain_g_ns_per_cmp", "cb_g_ns_per_cmp", "cb_thread_ns_per_cmp",
             "plain_thread_ms_per_sort", "plain_g_ms_per_sort", "cb_g_ms_per_sort", "cb_thread_ms_per_sort",
             "foreign_cb_ns_per_call", "foreign_plain_ns_per_call", "foreign_first_call_us",
             "cmps", "sorts", "cb_thread_n", "cb_thread_sorts", "foreign_calls", "wall_ms"),
            "glibc qsort of N xorshift u64 (same seed, refilled before each sort, outside the timing; "
            "cmps = comparisons per sort, counted once). Variants, median of `sorts` sorts each: "
            "plain_thread = plain extern \"C\" / C comparator on a plain thread; plain_g = the same in a "
            "goroutine (gort::run / Go's main goroutine); cb_g = a gort::ffi::Callback / exported Go "
            "(//export) comparator in a goroutine; cb_thread = that comparator on a plain thread "
            "(std::thread / pthread_create), which the runtime has not seen before the sort. "
            "*_ns_per_cmp = sort time / cmps. Then a thread made by pthread_create calls a callback "
            "returning x + 1 (first call timed alone: foreign_first_call_us) foreign_calls times in a "
            "loop, then a plain C function as often (foreign_*_ns_per_call). ns_per_op = cb_g_ns_per_cmp; "
            "cb_g_over_plain_g is the callback's cost in a goroutine (gort's target: <= 1.5).",
            only=("gort", "gort-nopreempt", "go", "gort-wine", "go-wine"),
            na_why="no FFI callback: tokio and may cannot turn a closure into a C function pointer that "
                   "runs as a task / coroutine",
            go_cgo=True,
        ),
        Workload(
            "echo", 1_000_000, "ns_per_op", ("ns_per_op", "msg_per_s", "wall_ms", "msgs"),
            "100 TCP connections over loopback, client and server in one process: one server goroutine "
            "per accepted connection (read up to 4 KiB, write it back), one client goroutine per "
            "connection sending N/100 messages of 64 bytes, each followed by a read of its echo, checked "
            "byte for byte; the 100 connections are made before the clock starts. ns_per_op = wall / "
            "messages; msg_per_s = messages / wall (higher is better). gort::net, Go's net, tokio::net "
            "(task per connection), may::net (coroutine per connection).",
            "msgs",
        ),
        Workload(
            "kv", 200_000, "ns_per_op",
            ("ns_per_op", "mean_rps", "set_rps", "get_rps", "incr_rps",
             "p16_ns_per_op", "p16_mean_rps", "p16_set_rps", "p16_get_rps", "p16_incr_rps", "wall_ms"),
            "RESP2 servers driven by `redis-benchmark -t set,get,incr -n N -c 50 -q --csv` (50 connections, "
            "3-byte values, and without -r every SET/GET hits the one key `key:__rand_int__`, every INCR "
            "`counter:__rand_int__`, i.e. one shard), once as is and once with `-P 16` (16 pipelined "
            "requests per round trip, the `p16_` rows). gort = examples/kv.rs (goroutine per connection, "
            "64 gort::sync::Mutex shards); go = bench/go/kv (goroutine per connection, bufio, 64 sync.Mutex "
            "shards, same flush-when-input-used-up pipelining); redis-server = Redis itself (single-threaded "
            "event loop, `--save '' --appendonly no`). Each run starts a fresh server; afterwards the INCR "
            "counter must equal 2 N (every INCR counted). `*_rps` = requests/s per command (higher is "
            "better), `mean_rps` = their mean; ns_per_op = 1e9 / mean_rps (per request, non-pipelined).",
            "requests per test",
            only=("gort", "gort-nopreempt", "go", "redis-server"),
            na_why="kv compares RESP servers written the Go way (a goroutine per connection, blocking reads, "
                   "sharded mutex maps) with Go's and with redis-server; there is no tokio or may server in "
                   "the benchmark (and the Wine builds have no kv server)",
        ),
        Workload(
            "idle", 10_000, "rss_bytes_per_conn",
            ("rss_bytes_per_conn", "ns_per_op", "park_ms", "rss_idle_kb", "wall_ms"),
            "N idle TCP connections, each accepted by the server with a goroutine (task, coroutine) blocked "
            "in a 1-byte read; the clients are a child process (the same binary) holding N plain sockets. "
            "rss_bytes_per_conn = (server VmRSS once all N are parked + 50 ms − VmRSS before the first "
            "accept) / N: stacks, task records, socket objects, poller registrations and the runtime's "
            "own growth (Go: uncollected heap), not kernel socket memory. Then every connection echoes "
            "one byte, checked by the child. ns_per_op = first accept → all N parked, / N. Each process "
            "raises its soft RLIMIT_NOFILE to N + 64 (fails naming the hard limit if it is lower); every "
            "server listens with a backlog of 4096.",
            "connections",
        ),
    ]
}

# kv: the load generator, and what each implementation's server is.
KV_CLIENTS = 50
KV_PIPELINE = 16
KV_TESTS = ("set", "get", "incr")


@dataclass
class Run:
    ok: bool
    values: dict[str, str] = field(default_factory=dict)
    line: str = ""
    error: str = ""
    seconds: float = 0.0
    na: bool = False  # the binary has no version of the workload (EXIT_NOT_APPLICABLE)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: list[str], cwd: Path | None = None) -> None:
    log(f"+ {' '.join(shlex.quote(c) for c in cmd)}" + (f"   (in {cwd})" if cwd else ""))
    subprocess.run(cmd, cwd=cwd, check=True)


def capture(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw.replace("_", ""))
    except ValueError:
        sys.exit(f"run.py: {name}={raw!r} is not an integer")
    if v <= 0:
        sys.exit(f"run.py: {name} must be positive")
    return v


def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=BENCH_DIR, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def build(impls: list[str], selected: list[str]) -> None:
    rust = [i for i in impls if i in RUST_BINS]
    if rust:
        cmd = ["cargo", "build", "--release", "-p", "gort-bench", "--bins"]
        if set(rust) != set(RUST_BINS):
            cmd += ["--no-default-features", "--features", ",".join(rust)]
        sh(cmd, cwd=BENCH_DIR)
    if "go" in impls:
        for out, cgo in go_binaries(selected):
            log(f"+ CGO_ENABLED={cgo} go build -o {out}   (in {GO_DIR})")
            subprocess.run(["go", "build", "-o", out], cwd=GO_DIR, env=dict(os.environ, CGO_ENABLED=cgo),
                           check=True)
    if "gort-wine" in impls:
        sh(["cargo", "build", "--release", "-p", "gort-bench", "--bin", "gort-bench", "--no-default-features",
            "--features", "gort", "--target", WINE_TARGET], cwd=BENCH_DIR)
    if "go-wine" in impls:
        for out, cgo in go_binaries(selected):
            env = dict(os.environ, CGO_ENABLED=cgo, GOOS="windows", GOARCH="amd64")
            if cgo == "1":
                env["CC"] = "x86_64-w64-mingw32-gcc"
            log(f"+ GOOS=windows GOARCH=amd64 CGO_ENABLED={cgo} go build -o {out}.exe   (in {GO_DIR})")
            subprocess.run(["go", "build", "-o", f"{out}.exe"], cwd=GO_DIR, env=env, check=True)
    if "gort-nopreempt" in impls:
        env = dict(os.environ, RUSTFLAGS="--cfg gort_no_preempt", CARGO_TARGET_DIR=str(nopreempt_target()))
        cmds = [["cargo", "build", "--release", "-p", "gort-bench", "--bin", "gort-bench",
                 "--no-default-features", "--features", "gort"]]
        if "kv" in selected:
            cmds.append(["cargo", "build", "--release", "-p", "gort", "--example", "kv"])
        for cmd in cmds:
            log(f"+ RUSTFLAGS='--cfg gort_no_preempt' CARGO_TARGET_DIR={env['CARGO_TARGET_DIR']} {' '.join(cmd)}")
            subprocess.run(cmd, cwd=BENCH_DIR, env=env, check=True)
    if "kv" in selected:
        if "gort" in impls:
            sh(["cargo", "build", "--release", "-p", "gort", "--example", "kv"], cwd=BENCH_DIR)
        if "go" in impls:
            log(f"+ CGO_ENABLED=0 go build -o kvserver ./kv   (in {GO_DIR})")
            subprocess.run(["go", "build", "-o", "kvserver", "./kv"], cwd=GO_DIR,
                           env=dict(os.environ, CGO_ENABLED="0"), check=True)


def go_binaries(selected: list[str]) -> list[tuple[str, str]]:
    """(file name in bench/go, CGO_ENABLED) of each Go binary the selected workloads need."""
    out = []
    if any(not WORKLOADS[w].go_cgo for w in selected):
        out.append(("gobench", "0"))
    if any(WORKLOADS[w].go_cgo for w in selected):
        out.append(("gobench-cgo", "1"))
    return out


def nopreempt_target() -> Path:
    return Path(cargo_metadata()["target_directory"]) / "nopreempt"


def binaries(impls: list[str], selected: list[str]) -> dict[str, Path]:
    """Binary per implementation; Go's cgo build is under the key "go-cgo"."""
    paths: dict[str, Path] = {}
    if any(i in RUST_BINS for i in impls):
        target = Path(cargo_metadata()["target_directory"]) / "release"
        for i in impls:
            if i in RUST_BINS:
                paths[i] = target / RUST_BINS[i]
    if "go" in impls:
        for out, cgo in go_binaries(selected):
            paths["go-cgo" if cgo == "1" else "go"] = GO_DIR / out
    if "gort-nopreempt" in impls:
        paths["gort-nopreempt"] = nopreempt_target() / "release" / "gort-bench"
    if "gort-wine" in impls:
        paths["gort-wine"] = Path(cargo_metadata()["target_directory"]) / WINE_TARGET / "release" / "gort-bench.exe"
    if "go-wine" in impls:
        for out, cgo in go_binaries(selected):
            paths["go-wine-cgo" if cgo == "1" else "go-wine"] = GO_DIR / f"{out}.exe"
    if "kv" in selected:
        # The kv servers, under "<impl>-kv" (redis-server: its own name).
        target = Path(cargo_metadata()["target_directory"]) if any(
            i in impls for i in ("gort", "gort-nopreempt")) else None
        if "gort" in impls:
            paths["gort-kv"] = target / "release" / "examples" / "kv"
        if "gort-nopreempt" in impls:
            paths["gort-nopreempt-kv"] = nopreempt_target() / "release" / "examples" / "kv"
        if "go" in impls:
            paths["go-kv"] = GO_DIR / "kvserver"
        if "redis-server" in impls:
            found = shutil.which("redis-server")
            if not found:
                sys.exit("run.py: kv needs redis-server (apt-get install redis-server), or leave "
                         "redis-server out of BENCH_IMPLS")
            paths["redis-server"] = Path(found)
        if not shutil.which("redis-benchmark"):
            sys.exit("run.py: kv needs redis-benchmark (apt-get install redis-tools)")
    for i, p in paths.items():
        if not p.is_file():
            sys.exit(f"run.py: binary for {i} not found at {p}")
    return paths


def error_summary(stderr: str, rc: int | str) -> str:
    """A one-line reason for a failed run: the first panic message, else the last stderr line."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for k, l in enumerate(lines):
        if "panicked at" in l or l.startswith("panic:") or l.startswith("fatal error:"):
            msg = lines[k + 1] if "panicked at" in l and k + 1 < len(lines) else l
            return f"exit {rc}: {msg}"[:300]
    return f"exit {rc}: {lines[-1] if lines else '(no output)'}"[:300]


def run_one(binary: Path, workload: str, n: int, timeout: int) -> Run:
    t0 = time.monotonic()
    cmd, env = [str(binary), workload, str(n)], None
    if binary.suffix == ".exe":
        cmd, env = ["wine"] + cmd, dict(os.environ, **WINE_ENV)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Run(False, error=f"timed out after {timeout} s", seconds=time.monotonic() - t0)
    secs = time.monotonic() - t0
    if p.returncode == EXIT_NOT_APPLICABLE and "not applicable" in p.stderr:
        return Run(False, error=p.stderr.strip().splitlines()[-1][:300], seconds=secs, na=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith(f"name={workload} ")]
    if p.returncode != 0 or len(lines) != 1:
        why = error_summary(p.stderr, p.returncode) if p.returncode != 0 else f"expected one result line, got {p.stdout!r}"
        return Run(False, error=why, seconds=secs)
    values = dict(kv.split("=", 1) for kv in lines[0].split() if "=" in kv)
    return Run(True, values=values, line=lines[0], seconds=secs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp_call(port: int, *args: str, timeout: float = 5.0) -> bytes:
    """One RESP command on a fresh connection; the raw reply (first read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args))
        reply = b""
        while not reply.endswith(b"\r\n") or (reply.startswith(b"$") and reply.count(b"\r\n") < 2
                                                and not reply.startswith(b"$-1")):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


def kv_server_cmd(impl: str, binary: Path, port: int) -> list[str]:
    if impl == "redis-server":
        return [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", "/tmp", "--logfile", ""]
    return [str(binary), f"127.0.0.1:{port}"]


def parse_benchmark_csv(out: str) -> dict[str, float]:
    """`redis-benchmark --csv` rows `"SET","123.45",...` -> {"set": rps}."""
    rps = {}
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.strip().split(",")]
        if len(cells) >= 2 and cells[0].lower() in KV_TESTS:
            try:
                rps[cells[0].lower()] = float(cells[1])
            except ValueError:
                pass
    return rps


def run_kv(impl: str, binary: Path, n: int, timeout: int) -> Run:
    """kv: a fresh server on a free port, redis-benchmark without and with -P 16, the INCR check."""
    t0 = time.monotonic()
    port = free_port()
    # The server's stderr goes to a file (a pipe nobody reads could fill and stall it).
    errlog = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(kv_server_cmd(impl, binary, port), stdout=subprocess.DEVNULL, stderr=errlog)

    def fail(why: str) -> Run:
        errlog.seek(0)
        err = errlog.read().strip()
        return Run(False, error=(why + (f" (server stderr: {err[-150:]})" if err else ""))[:300],
                   seconds=time.monotonic() - t0)

    try:
        deadline = time.monotonic() + 10
        while True:
            if server.poll() is not None:
                return fail(f"server exited with {server.returncode}")
            try:
                if resp_call(port, "PING", timeout=1.0).startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                return fail("server did not answer PING within 10 s")
            time.sleep(0.05)
        values: dict[str, str] = {}
        for prefix, extra in (("", []), ("p16_", ["-P", str(KV_PIPELINE)])):
            cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", ",".join(KV_TESTS),
                   "-n", str(n), "-c", str(KV_CLIENTS), "-q", "--csv"] + extra
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return fail(f"redis-benchmark {' '.join(extra)} timed out after {timeout} s")
            rps = parse_benchmark_csv(p.stdout)
            if p.returncode != 0 or set(rps) != set(KV_TESTS):
                return fail(f"redis-benchmark {' '.join(extra)}: exit {p.returncode}: "
                            f"{(p.stderr.strip() or p.stdout.strip())[-200:]}")
            if server.poll() is not None:
                return fail(f"server exited with {server.returncode} during the benchmark")
            mean = statistics.mean(rps.values())
            for t in KV_TESTS:
                values[f"{prefix}{t}_rps"] = f"{rps[t]:.0f}"
            values[f"{prefix}mean_rps"] = f"{mean:.0f}"
            values[f"{prefix}ns_per_op"] = f"{1e9 / mean:.2f}"
        # Every INCR of both runs hit the one key: the server must have counted them all.
        got = resp_call(port, "GET", "counter:__rand_int__")
        if got != f"${len(str(2 * n))}\r\n{2 * n}\r\n".encode():
            return fail(f"INCR counter: expected {2 * n}, server replied {got[:60]!r}")
    finally:
        server.kill()
        server.wait()
        errlog.close()
    secs = time.monotonic() - t0
    threads = "1" if impl == "redis-server" else str(os.cpu_count())
    values = {"name": "kv", "n": str(n), "ns_per_op": values.pop("ns_per_op"), **values,
              "wall_ms": f"{secs * 1e3:.2f}", "impl": impl, "threads": threads}
    return Run(True, values=values, line=" ".join(f"{k}={v}" for k, v in values.items()), seconds=secs)


def num(s: str | None) -> float | None:
    try:
        return float(s) if s is not None else None
    except ValueError:
        return None


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if x == int(x):
        return f"{int(x)}"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    # Two significant digits for small ratios (0.0037, not 0.00).
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def ratio_of(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def medians(runs: list[Run], metrics: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for m in metrics:
        vals = [v for v in (num(r.values.get(m)) for r in runs if r.ok) if v is not None]
        out[m] = statistics.median(vals) if vals else None
    return out


def machine_header() -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for l in Path("/proc/cpuinfo").read_text().splitlines():
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for l in Path("/proc/meminfo").read_text().splitlines():
            if l.startswith("MemTotal:"):
                mem = f"{int(l.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        max_map = Path("/proc/sys/vm/max_map_count").read_text().strip()
    except OSError:
        max_map = "unknown"
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("vm.max_map_count", max_map),
        ("load average at start", load),
    ]


def crate_versions(workspace_root: str | None) -> str:
    if not workspace_root:
        return "unknown"
    try:
        lock = tomllib.loads((Path(workspace_root) / "Cargo.lock").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "unknown"
    found = {p["name"]: p["version"] for p in lock.get("package", []) if p["name"] in ("tokio", "may")}
    return ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "unknown"


def the_command(args: list[str]) -> str:
    env = [f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")]
    return " ".join(env + ["bench/run.sh"] + [shlex.quote(a) for a in args])


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    selected = argv or list(WORKLOADS)
    unknown = [w for w in selected if w not in WORKLOADS]
    if unknown:
        sys.exit(f"run.py: unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    impls = [i.strip() for i in os.environ.get("BENCH_IMPLS", ",".join(DEFAULT_IMPLS)).split(",") if i.strip()]
    # A gort variant: run it right after gort so the two see the same machine state.
    if "gort" in impls and "gort-nopreempt" in impls:
        impls.remove("gort-nopreempt")
        impls.insert(impls.index("gort") + 1, "gort-nopreempt")
    bad = [i for i in impls if i not in ALL_IMPLS]
    if bad or not impls:
        sys.exit(f"run.py: BENCH_IMPLS must be a comma list of {ALL_IMPLS}")
    rounds = env_int("BENCH_ROUNDS", 3)
    timeout = env_int("BENCH_TIMEOUT", 600)
    out_path = Path(os.environ.get("BENCH_OUT", BENCH_DIR / "RESULTS.md"))
    ns = {w: env_int(f"BENCH_N_{w.upper()}", WORKLOADS[w].default_n) for w in selected}

    if os.environ.get("BENCH_NO_BUILD", "") not in ("1", "true", "yes"):
        build(impls, selected)
    bins = binaries(impls, selected)
    workspace_root = None
    try:
        workspace_root = cargo_metadata().get("workspace_root")
    except (OSError, subprocess.CalledProcessError):
        pass

    started = _dt.datetime.now(_dt.timezone.utc)
    machine = machine_header()  # before the runs: includes the load average at start
    results: dict[str, dict[str, list[Run]]] = {}
    for w in selected:
        results[w] = {i: [] for i in impls}
        for i in impls:
            if not WORKLOADS[w].applies(i) and WORKLOADS[w].shown(i):
                log(f"[{w}] {i}: n/a ({WORKLOADS[w].na_why})")
        for r in range(1, rounds + 1):
            for i in impls:
                if not WORKLOADS[w].applies(i):
                    continue
                if w == "kv":
                    run = run_kv(i, bins["redis-server" if i == "redis-server" else f"{i}-kv"], ns[w], timeout)
                    results[w][i].append(run)
                    status = run.line if run.ok else "FAILED: " + run.error
                    log(f"[{w} round {r}/{rounds}] {i:5} {run.seconds:6.1f}s  {status}")
                    continue
                binary = bins[f"{i}-cgo"] if i in ("go", "go-wine") and WORKLOADS[w].go_cgo else bins[i]
                run = run_one(binary, w, ns[w], timeout)
                results[w][i].append(run)
                status = run.line if run.ok else ("n/a: " if run.na else "FAILED: ") + run.error
                log(f"[{w} round {r}/{rounds}] {i:5} {run.seconds:6.1f}s  {status}")

    md = report(argv, selected, impls, rounds, ns, results, started, machine, workspace_root)
    svg = chart_svg(selected, impls, results)
    svg_path = out_path.with_suffix(".svg")
    if svg:
        svg_path.write_text(svg)
        md = md.replace(CHART_MARK, f"![gort / peer per workload]({svg_path.name})\n")
    md = md.replace(CHART_MARK, "")
    out_path.write_text(md)
    log(f"wrote {out_path}" + (f" and {svg_path}" if svg else ""))
    failed = [f"{w}/{i}" for w, per in results.items() for i, rs in per.items() for r in rs if not r.ok and not r.na]
    if failed and os.environ.get("BENCH_STRICT", "") in ("1", "true", "yes"):
        log(f"run.py: failed runs (BENCH_STRICT): {', '.join(failed)}")
        return 1
    return 0


# Where the report shows the chart (replaced by an image link, or removed).
CHART_MARK = "<!-- chart -->"
# Bar colours per peer in the chart.
CHART_COLOURS = {"go": "#00add8", "tokio": "#7b3fbf", "may": "#d9822b", "gort-nopreempt": "#8a8a8a",
                 "redis-server": "#d82c20", "gort-wine": "#3f9b3f", "go-wine": "#0a6c87"}


def chart_svg(selected: list[str], impls: list[str], results: dict) -> str:
    """A horizontal bar chart of gort / peer on each workload's headline
    metric (median over the rounds), on a log scale centred on 1: bars to
    the left of the 1.0 line are workloads where gort is better. Plain SVG,
    no plotting library. Empty if there is nothing to compare."""
    peers = [i for i in impls if i != "gort"]
    rows = []  # (workload, [(peer, ratio)])
    for w in selected:
        wl = WORKLOADS[w]
        runs = results[w]
        g = medians(runs.get("gort", []), [wl.headline]).get(wl.headline)
        bars = []
        for p in peers:
            if not wl.shown(p) or not wl.applies(p):
                continue
            r = ratio_of(g, medians(runs.get(p, []), [wl.headline]).get(wl.headline))
            if r is not None and r > 0:
                bars.append((p, r))
        if bars:
            rows.append((w, bars))
    if not rows:
        return ""
    lo, hi = 1 / 128, 8.0  # the axis: 2^-7 .. 2^3
    left, width, bar_h, gap, top = 150, 560, 12, 14, 40
    height = top + sum(len(b) * bar_h + gap for _, b in rows) + 40

    def x(r: float) -> float:
        r = min(max(r, lo), hi)
        return left + width * (math.log2(r) - math.log2(lo)) / (math.log2(hi) - math.log2(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 140}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">gort / peer on each workload\'s '
           'headline metric (log scale; left of 1 = gort better)</text>']
    for k in range(-7, 4):
        r = 2.0 ** k
        xx = x(r)
        out.append(f'<line x1="{xx:.1f}" y1="{top - 6}" x2="{xx:.1f}" y2="{height - 30}" '
                   f'stroke="{"#000" if k == 0 else "#ddd"}" stroke-width="{1.5 if k == 0 else 1}"/>')
        label = f"{r:g}" if r >= 1 else f"1/{int(1 / r)}"
        out.append(f'<text x="{xx:.1f}" y="{height - 16}" text-anchor="middle">{label}</text>')
    y = top
    for w, bars in rows:
        out.append(f'<text x="{left - 8}" y="{y + len(bars) * bar_h / 2 + 4:.1f}" text-anchor="end" '
                   f'font-weight="bold">{w}</text>')
        for p, r in bars:
            x0, x1 = sorted((x(1.0), x(r)))
            colour = CHART_COLOURS.get(p, "#555")
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h - 2}" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{max(x(r), x(1.0)) + 4:.1f}" y="{y + bar_h - 3}">{p} {ratio(r, 1.0)}</text>')
            y += bar_h
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(argv, selected, impls, rounds, ns, results, started, machine, workspace_root) -> str:
    peers = [i for i in impls if i != "gort"] if "gort" in impls else []
    L: list[str] = []
    L.append("# gort benchmark results")
    L.append("")
    L.append("Generated by `bench/run.sh` (bench/run.py). Every cell is the median over the rounds; "
             "ratios are gort / peer, so **< 1 means gort is better** (all headline metrics are lower-is-better). "
             "The headline metric of each workload is in bold.")
    L.append("")
    L.append(CHART_MARK)
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    header = [
        ("date", started.strftime("%Y-%m-%d %H:%M:%S UTC")),
        *machine,
        ("go", capture(["go", "version"])),
        *([("wine", capture(["wine", "--version"]))] if any(i.endswith("-wine") for i in impls) else []),
        ("rustc", capture(["rustc", "--version"])),
        ("peer crates", crate_versions(workspace_root)),
        ("gort commit", capture(["git", "describe", "--always", "--dirty"], cwd=BENCH_DIR)),
        ("rounds", f"{rounds} (implementations run alternately: {', '.join(impls)}, then again)"),
        ("command", f"`{the_command(argv)}`"),
    ]
    for k, v in header:
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("Each implementation uses all cores: gort's default procs, Go's default GOMAXPROCS, "
             "tokio multi-thread runtime with one worker per core, may with one worker per core "
             "(except `preempt`, which runs on one: gort::set_procs(1), GOMAXPROCS(1), tokio's "
             "current-thread runtime, may with one worker). "
             "Workload code runs inside the runtime (gort::run / Go main / a tokio worker task / a may coroutine). "
             "See the comments at the top of bench/src/*.rs and bench/go/main.go for how each peer implements a workload.")
    if any(i.endswith("-wine") for i in impls):
        L.append("")
        L.append("**Wine figures**: the `*-wine` columns are the Windows x86-64 builds (gort-bench for "
                 f"`{WINE_TARGET}` built with mingw; Go's benchmark built with GOOS=windows, its qsort with cgo "
                 "and mingw's gcc) run under Wine on this Linux machine. Wine runs the code natively but "
                 "emulates Windows' API, some of it through the wineserver process (thread suspension and "
                 "contexts: gort's preemption; waits on objects), so these are Wine's costs, not a Windows "
                 "machine's. Their qsort uses msvcrt's qsort, not glibc's.")

    for w in selected:
        wl = WORKLOADS[w]
        runs = results[w]
        # Columns: redis-server only where it exists (kv).
        w_impls = [i for i in impls if wl.shown(i)]
        w_peers = [p for p in peers if wl.shown(p)]
        extra = sorted({k for rs in runs.values() for r in rs if r.ok for k in r.values} - set(wl.metrics)
                       - {"name", "n", "impl", "threads", "sum_sleep_ms", "rss_before_kb", "goroutines", "yields",
                          "producers", "consumers", "cap", "conns"})
        metrics = list(wl.metrics) + extra
        med = {i: medians(runs[i], metrics) for i in w_impls}
        # Implementations without this workload: not run, or every run said "not applicable".
        na = {i for i in w_impls if not runs[i] or all(r.na for r in runs[i])}
        L.append("")
        unit = f" {wl.n_unit}" if wl.n_unit else ""
        L.append(f"## {w} (N = {ns[w]:,}{unit})")
        L.append("")
        L.append(wl.about + f" Headline: `{wl.headline}`.")
        L.append("")
        cols = w_impls + [f"gort/{p}" for p in w_peers]
        L.append("| metric | " + " | ".join(cols) + " |")
        L.append("|---|" + "---:|" * len(cols))
        for m in metrics:
            name = f"**{m}**" if m == wl.headline else m
            cells = ["n/a" if i in na else fmt(med[i][m]) for i in w_impls]
            cells += ["n/a" if p in na or "gort" in na else ratio(med["gort"][m], med[p][m]) for p in w_peers]
            if m == wl.headline:
                cells = [f"**{c}**" if c not in ("–", "n/a") else c for c in cells]
            L.append(f"| {name} | " + " | ".join(cells) + " |")
        ok_cells = ["n/a" if i in na else f"{sum(r.ok for r in runs[i])}/{len(runs[i])}" for i in w_impls]
        L.append("| runs ok | " + " | ".join(ok_cells + [""] * len(w_peers)) + " |")

        notes = []
        threads = {i: sorted({r.values.get("threads", "?") for r in runs[i] if r.ok}) for i in w_impls}
        notes.append("worker threads: " + ", ".join(
            f"{i} {'n/a' if i in na else '/'.join(t) or '–'}" for i, t in threads.items()))
        if na:
            why = wl.na_why or sorted({r.error for i in na for r in runs[i]} or {"no version"})[0]
            notes.append(f"n/a ({', '.join(i for i in w_impls if i in na)}): {why}")
        for i in w_impls:
            errs = sorted({r.error for r in runs[i] if not r.ok and not r.na})
            for e in errs:
                notes.append(f"**{i} failed**: `{e}`")
                if "alloc sys stack" in e or "Cannot allocate memory" in e:
                    notes.append(f"{i}: ENOMEM while mapping a stack usually means vm.max_map_count "
                                 "(see header) is exhausted: every stack with a guard page costs two mappings")
        if w == "timers":
            sums = {r.values.get("sum_sleep_ms") for rs in runs.values() for r in rs if r.ok}
            if len(sums) > 1:
                notes.append(f"**WARNING**: implementations slept different durations (sum_sleep_ms {sorted(sums)})")
        if w == "parked":
            notes.append("rewakes: 1 s sleeps that ended before all N had started (the goroutine sleeps again); "
                         "non-zero means spawning N took longer than 1 s")
        if w == "parkedchan":
            notes.append("as in parked, 'started' is counted right before each goroutine blocks, so the last "
                         "few may still be on their way into the receive when RSS is read; the sends that "
                         "follow wait for them (unbuffered)")
            notes.append("tokio's oneshot Sender::send consumes the sender, so its wake time includes dropping "
                         "the N senders; gort, Go and may send through a reference")
        if w == "chanthroughput":
            notes.append("tokio's mpsc receiver is single-consumer: its 4 consumers take turns through an "
                         "async Mutex, one message per lock; may has no bounded channel: a semaphore of 1024 "
                         "permits gives its unbounded mpmc channel the same back-pressure")
        if w == "pingpong":
            notes.append("gort and Go use unbuffered (rendezvous) channels: a send hands the value straight to "
                         "a receiver already waiting, else parks until one comes; tokio's mpsc::channel(1) and "
                         "may's unbounded mpsc never make the sender wait here (at most one value is queued), so "
                         "they save that park when the sender runs ahead of the receiver")
        if w == "qsort":
            for i in ("gort", "gort-nopreempt"):
                r = med.get(i, {}).get("cb_g_over_plain_g") if i not in na else None
                if r is not None:
                    verdict = "met" if r <= 1.5 else "**NOT met**"
                    notes.append(f"{i}: cb_g_over_plain_g = {r:.3f} (Callback comparator / plain comparator, "
                                 f"both in a goroutine; target <= 1.5): {verdict}")
            if "gort" in impls or "gort-nopreempt" in impls:
                notes.append("gort's cb_thread sorts on a new std::thread each time, so each sort includes the "
                             "runtime binding that thread an M on its first callback; the foreign loop's thread "
                             "(pthread_create) pays that in foreign_first_call_us")
            if "go" in impls and "go" not in na:
                notes.append("Go runs this workload from gobench-cgo (built with cgo); the other workloads "
                             "from gobench, built without it")
                notes.append("Go 1.19 gives a C thread an M for every call into Go and takes it back on return "
                             "(needm/dropm, ~2 us; Go >= 1.21 keeps it bound), so Go's cb_thread sorts only "
                             "min(N, 65536) elements, once (cb_thread_n, cb_thread_sorts; its "
                             "cb_thread_ms_per_sort is then –, cb_thread_over_plain_thread is per comparison), "
                             "and its foreign loop makes min(10 N, 10^6) calls (foreign_calls)")
            notes.append("plain_thread is the same code everywhere (glibc qsort + a plain comparator on a plain "
                         "thread, no runtime involved): differences there are machine noise")
        if w in ("echo", "kv"):
            rows = "`msg_per_s`" if w == "echo" else "the `*_rps` rows"
            notes.append(f"{rows}: throughput (higher is better), so their gort/peer ratios read the other way "
                         "round (> 1: gort is better)")
        if w == "echo" and "gort" in w_impls and "go" in w_impls and not {"gort", "go"} & na:
            r = ratio_of(med["gort"].get("msg_per_s"), med["go"].get("msg_per_s"))
            if r is not None:
                notes.append(f"gort msg/s / go msg/s = {r:.2f} (issue's goal: >= 1.5): "
                             + ("met" if r >= 1.5 else "**NOT met**"))
        if w == "kv":
            for peer, goal in (("go", 1.2), ("redis-server", 1.0)):
                if "gort" in w_impls and peer in w_impls and not {"gort", peer} & na:
                    r = ratio_of(med["gort"].get("mean_rps"), med[peer].get("mean_rps"))
                    if r is not None:
                        notes.append(f"gort mean_rps / {peer} mean_rps = {r:.2f} (non-pipelined; issue's goal: "
                                     f">= {goal}): " + ("met" if r >= goal else "**NOT met**"))
            notes.append("redis-benchmark runs on the same machine and competes with the server for the cores; "
                         "redis-server serves on one thread (threads = 1), gort and Go use every core; without "
                         "-r all SETs/GETs go to one key and all INCRs to another, so gort's and Go's 64 shards "
                         "do not spread them: every connection takes the same shard lock")
        if w == "idle":
            notes.append("rss_bytes_per_conn counts the server process only (user-space pages: stacks, task "
                         "records, socket and poller objects, runtime growth); the kernel's socket memory and the "
                         "client process are not counted")
            notes.append("the clients are a child process so that each process needs ~N descriptors; each "
                         "raises its soft RLIMIT_NOFILE (Go by itself since 1.19), and a hard limit below "
                         "N + 64 fails the run with a message saying so")
        if "gort-nopreempt" in impls and w in ("spawn", "yield"):
            notes.append("gort/gort-nopreempt − 1 is the cost of sysmon + preemption machinery on this "
                         "workload (target: below 3 %); gort-nopreempt is gort built with "
                         "`--cfg gort_no_preempt`, a measurement-only build")
        if w == "preempt":
            if "gort-nopreempt" in impls:
                notes.append("gort-nopreempt is gort without preemption: its gap is what gort's "
                             "preemption removes")
            notes.append("tokio and may cannot preempt a task that does not yield: the expected tokio result is "
                         "one wake with max_gap_ms ≈ N + 1000 (safety_stop = 1), not a failure")
            notes.append("may runs a coroutine woken by its timer on may's timer thread, not on the worker, so "
                         "its sleeper never needs the spinner's worker: low may gaps come from that second "
                         "thread, not from preemption (spin_iters_m shows the spinner ran throughout)")
            notes.append("Go's spinner checks time.Since every 2^27 iterations as its own safety net (Go has no "
                         "thread outside its scheduler); that call is a possible synchronous preemption point "
                         "far rarer than sysmon's 10 ms async preemption")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
        L.append("<details><summary>raw lines</summary>")
        L.append("")
        L.append("```")
        for i in impls:
            for r in runs[i]:
                L.append(r.line if r.ok else f"impl={i} FAILED {r.error}")
        L.append("```")
        L.append("")
        L.append("</details>")
    L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
