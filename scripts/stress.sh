#!/usr/bin/env bash
# The long form of the load test in tests/hardening.rs: 32 threads, each doing ITERATIONS rounds
# of open/read/lseek(0)/read/close of every virtualized file plus sysinfo/sysconf/get_nprocs,
# while another thread forks children that do the same (tests/c/stress.c), inside a real
# 256 MiB cgroup (needs root). It checks every answer, that no fd leaks and that RSS does not
# grow, and repeats the signal test. The short form (60 rounds) runs with the normal test suite.
#
#   scripts/stress.sh [ITERATIONS]      # default 5000 (several minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cgshim-preload
export CGSHIM_LIB="${CGSHIM_LIB:-${CARGO_TARGET_DIR:-target}/release/libcgshim.so}"
CGSHIM_STRESS_ITERATIONS="${1:-5000}" cargo test --release --test hardening -- \
    --nocapture --test-threads=1 stress_threads_forks_every_file signal_handler_opens_while_inside_hooked_calls
