#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, the release build of
# libcgshim.so and the cgshim CLI, then every test (unit, fixture trees, real programs in real
# cgroups). Tests that need root and writable cgroups skip with a message elsewhere; with
# CI=true they must run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo build --release --workspace
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace -- --test-threads=4
