//! `tokio-bench <workload> [N]`: the tokio peer of `gort-bench`.
//! Multi-threaded runtime with one worker per core; each workload runs as a
//! task on a worker (see `common::tokio_run`); `preempt` builds its own
//! current-thread runtime instead. Workload details are in the modules of the
//! `gort_bench` library.

use gort_bench::common::{self, Workload};
use gort_bench::{
    chanthroughput, echo, idle, mutex, parked, parkedchan, pingpong, preempt, spawn, spawnjoin,
    timers, yielding,
};

/// Why `qsort` has no tokio version.
const NO_FFI: &str = "tokio has no way to make a closure into a C function pointer that runs \
                      as a task (a C callback into tokio is plain code on the calling thread)";

/// Why `kv` has no tokio version.
const NO_KV: &str = "kv compares RESP servers built the Go way (a goroutine per connection, \
                     blocking reads, sharded mutex maps): gort's examples/kv.rs, a Go server and \
                     redis-server; no tokio server of that design is part of the benchmark";

fn main() {
    common::main("tokio", common::cores, |w, n| match w {
        Workload::Spawn => spawn::run_tokio(n),
        Workload::SpawnJoin => spawnjoin::run_tokio(n),
        Workload::Yield => yielding::run_tokio(n),
        Workload::Timers => timers::run_tokio(n),
        Workload::Parked => parked::run_tokio(n),
        Workload::Preempt => preempt::run_tokio(n),
        Workload::PingPong => pingpong::run_tokio(n),
        Workload::ChanThroughput => chanthroughput::run_tokio(n),
        Workload::Mutex => mutex::run_tokio(n),
        Workload::ParkedChan => parkedchan::run_tokio(n),
        Workload::Qsort => common::not_applicable("tokio", w, NO_FFI),
        Workload::Echo => echo::run_tokio(n),
        Workload::Kv => common::not_applicable("tokio", w, NO_KV),
        Workload::Idle => idle::run_tokio(n),
    });
}
