#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ (one per parser of src/read/, the CPU quota parsers, and
# the whole read → decide → show pipeline over generated cgroup trees) for SECONDS each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: 60 seconds, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer needs nightly compiler flags; with no
# nightly toolchain installed, the stable one is used with RUSTC_BOOTSTRAP=1. New inputs go to
# fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/), crashes to fuzz/artifacts/<target>/.
# Replay one with `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`.
# No sanitizer: the core is `#![forbid(unsafe_code)]`, so AddressSanitizer would find nothing and
# only slow the tree generator down; debug assertions and overflow checks stay on.
# CI runs the deterministic smoke instead (tests/fuzz_smoke.rs: same harness, seeded PRNG).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-60}
shift || true
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 2
fi
fuzz=(cargo fuzz)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
fi
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <("${fuzz[@]}" list); fi

"${fuzz[@]}" build -s none
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: ${secs}s"
    if "${fuzz[@]}" run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 2>"artifacts-$t.log"; then
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' "artifacts-$t.log" || true
        rm -f "artifacts-$t.log"
    else
        echo "!! $t FAILED: see fuzz/artifacts/$t/ and fuzz/artifacts-$t.log"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "artifacts-$t.log" | head -20 || true
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${secs}s each, no failure"
