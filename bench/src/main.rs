//! `gort-bench <workload> [N]`: the gort side of the benchmark harness.
//! Workloads and their peer implementations are described in each module of
//! the `gort_bench` library (src/spawn.rs, src/yielding.rs, src/timers.rs,
//! src/parked.rs, src/preempt.rs, src/pingpong.rs, src/chanthroughput.rs,
//! src/mutex.rs, src/parkedchan.rs, src/qsort.rs, src/echo.rs, src/idle.rs). gort runs with its default number of procs
//! (= cores), except in `preempt`, which sets one.

use gort_bench::common::{self, Workload};
use gort_bench::{
    chanthroughput, echo, idle, mutex, parked, parkedchan, pingpong, preempt, qsort, spawn,
    spawnjoin, timers, yielding,
};

fn main() {
    // The measurement build without preemption (bench/run.py builds it with
    // `--cfg gort_no_preempt`) names itself.
    let imp = if cfg!(gort_no_preempt) {
        "gort-nopreempt"
    } else {
        "gort"
    };
    common::main(imp, gort::procs, |w, n| match w {
        Workload::Spawn => spawn::run_gort(n),
        Workload::SpawnJoin => spawnjoin::run_gort(n),
        Workload::Yield => yielding::run_gort(n),
        Workload::Timers => timers::run_gort(n),
        Workload::Parked => parked::run_gort(n),
        Workload::Preempt => preempt::run_gort(n),
        Workload::PingPong => pingpong::run_gort(n),
        Workload::ChanThroughput => chanthroughput::run_gort(n),
        Workload::Mutex => mutex::run_gort(n),
        Workload::ParkedChan => parkedchan::run_gort(n),
        Workload::Qsort => qsort::run_gort(n),
        Workload::Echo => echo::run_gort(n),
        Workload::Kv => common::not_applicable(imp, w, common::KV_IS_RUN_PY),
        Workload::Idle => idle::run_gort(n),
    });
}
