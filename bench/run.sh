#!/usr/bin/env bash
# Build and run the gort benchmark suite against Go, tokio and may, and write
# bench/RESULTS.md. All the logic (builds, alternating rounds, medians,
# ratios, the report) is in bench/run.py; `bench/run.sh --help` lists the
# environment overrides (BENCH_ROUNDS, BENCH_IMPLS, BENCH_N_<WORKLOAD>, ...).
#
#   bench/run.sh                     # all workloads: spawn yield timers parked preempt
#                                    #   pingpong chanthroughput mutex parkedchan qsort
#                                    #   echo kv idle
#   bench/run.sh preempt             # one workload
#   BENCH_ROUNDS=1 BENCH_N_SPAWN=100000 bench/run.sh spawn yield
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
