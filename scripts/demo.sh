#!/usr/bin/env bash
# Builds libcgshim.so and shows what it changes: the same commands without and with the library.
# As root on a machine with a writable memory cgroup (v1 or v2) it runs them inside a fresh
# 256 MiB cgroup, removed afterwards; otherwise it shows the current process's own cgroup.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/needs.sh
# Busybox's `free` calls sysinfo(2), the case a file-based fix cannot reach: show it too.
needs "demo" busybox:busybox free:procps || true

cargo build --release --quiet -p cgshim-preload
LIB=$PWD/target/release/libcgshim.so
LIMIT=$((256 * 1024 * 1024))
cg=""

cleanup() {
    if [ -n "$cg" ] && [ -d "$cg" ]; then
        # Move anything left back to the parent before removing the directory.
        while read -r pid; do echo "$pid" >"$(dirname "$cg")/cgroup.procs" 2>/dev/null || true; done <"$cg/cgroup.procs"
        rmdir "$cg" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" = 0 ] && [ -w /sys/fs/cgroup/memory ]; then
    cg=/sys/fs/cgroup/memory/cgshim-demo-$$
    mkdir "$cg" && echo "$LIMIT" >"$cg/memory.limit_in_bytes"
elif [ "$(id -u)" = 0 ] && grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    cg=/sys/fs/cgroup/cgshim-demo-$$
    mkdir "$cg" && echo "$LIMIT" >"$cg/memory.max"
fi
if [ -n "$cg" ]; then
    echo "== inside a new 256 MiB memory cgroup: $cg"
else
    echo "== not root (or no writable memory cgroup): showing this process's own cgroup;"
    echo "   without a memory limit below the host's memory, both columns are the host's."
fi

show() {
    local label=$1
    shift
    echo
    echo "-- $label"
    for preload in "" "$LIB"; do
        if [ -z "$preload" ]; then echo "   without the library:"; else echo "   with LD_PRELOAD=$LIB:"; fi
        if [ -n "$cg" ]; then
            LD_PRELOAD=$preload sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" | sed 's/^/     /'
        else
            LD_PRELOAD=$preload "$@" | sed 's/^/     /'
        fi
    done
}

show "free -m (procps: /proc/meminfo)" free -m
command -v busybox >/dev/null && show "busybox free (sysinfo(2) + /proc/meminfo)" busybox free
show "head -3 /proc/meminfo" head -3 /proc/meminfo
show "getconf _PHYS_PAGES (sysconf)" getconf _PHYS_PAGES
command -v python3 >/dev/null && show "python3 os.sysconf('SC_PHYS_PAGES') * page size" \
    python3 -c 'import os; print(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))'
