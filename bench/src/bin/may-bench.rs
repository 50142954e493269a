//! `may-bench <workload> [N]`: the may (stackful coroutines) peer of
//! `gort-bench`. One may worker per core (one in `preempt`); each workload
//! runs inside a coroutine (see `common::may_run`). Workload details are in
//! the modules of the `gort_bench` library.

use gort_bench::common::{self, Workload};
use gort_bench::{
    chanthroughput, echo, idle, mutex, parked, parkedchan, pingpong, preempt, spawn, spawnjoin,
    timers, yielding,
};

/// Why `qsort` has no may version.
const NO_FFI: &str = "may has no way to make a closure into a C function pointer that runs \
                      as a coroutine (a C callback into may is plain code on the calling thread)";

/// Why `kv` has no may version.
const NO_KV: &str = "kv compares RESP servers built the Go way (a goroutine per connection, \
                     blocking reads, sharded mutex maps): gort's examples/kv.rs, a Go server and \
                     redis-server; no may server of that design is part of the benchmark";

fn main() {
    common::main(
        "may",
        || may::config().get_workers(),
        |w, n| match w {
            Workload::Spawn => spawn::run_may(n),
            Workload::SpawnJoin => spawnjoin::run_may(n),
            Workload::Yield => yielding::run_may(n),
            Workload::Timers => timers::run_may(n),
            Workload::Parked => parked::run_may(n),
            Workload::Preempt => preempt::run_may(n),
            Workload::PingPong => pingpong::run_may(n),
            Workload::ChanThroughput => chanthroughput::run_may(n),
            Workload::Mutex => mutex::run_may(n),
            Workload::ParkedChan => parkedchan::run_may(n),
            Workload::Qsort => common::not_applicable("may", w, NO_FFI),
            Workload::Echo => echo::run_may(n),
            Workload::Kv => common::not_applicable("may", w, NO_KV),
            Workload::Idle => idle::run_may(n),
        },
    );
}
