#!/usr/bin/env bash
# cgshim benchmark: what the shim costs, measured side by side with the native calls and LXCFS in
# one run. Prints a table of ratios against the targets in design.md (invariants 2 and 9); a missed
# target is printed as MISS, never turned into a failing exit status (timings are not assertions).
#
#   scripts/bench.sh                 full run (~60 s)
#   BENCH_QUICK=1 scripts/bench.sh   short run, noisier
#   CGSHIM_LIB=/path/libcgshim.so    library to measure (default target/release/libcgshim.so,
#                                    built with `cargo build --release` when missing)
#
# As root the measured processes run in a fresh memory cgroup limited to 256 MiB, so the shim
# serves real cgroup numbers rather than falling open; an LXCFS instance of our own (if lxcfs is
# installed) gives the FUSE comparison column. Everything created here is removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

quick=${BENCH_QUICK:-0}
[[ $quick == 0 || -z $quick ]] && quick=0 || quick=1
limit_bytes=268435456

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cgshim-bench.XXXXXX")
lxcfs_pid=""
bench_pid=""
lxcfs_mnt=""
cgroup_dir=""
cpu_dirs=()

cleanup() {
    local rc=$?
    set +e
    if [[ -n $bench_pid ]]; then
        kill -TERM "$bench_pid" 2>/dev/null
        wait "$bench_pid" 2>/dev/null
    fi
    if [[ -n $lxcfs_pid ]]; then
        kill -TERM "$lxcfs_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$lxcfs_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$lxcfs_pid" 2>/dev/null
        wait "$lxcfs_pid" 2>/dev/null
    fi
    if [[ -n $lxcfs_mnt ]] && grep -qsF " $lxcfs_mnt " /proc/self/mountinfo; then
        fusermount -u "$lxcfs_mnt" 2>/dev/null || fusermount3 -u "$lxcfs_mnt" 2>/dev/null \
            || umount "$lxcfs_mnt" 2>/dev/null || umount -l "$lxcfs_mnt" 2>/dev/null
    fi
    for d in "${cpu_dirs[@]}"; do
        for _ in $(seq 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
    done
    if [[ -n $cgroup_dir && -d $cgroup_dir ]]; then
        # The measured processes have exited by now; retry briefly in case the kernel is still
        # tearing the last one down.
        for _ in $(seq 20); do rmdir "$cgroup_dir" 2>/dev/null && break; sleep 0.1; done
        [[ -d $cgroup_dir ]] && echo "bench: warning: could not remove $cgroup_dir" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the library under test ----------------------------------------------------------------
if [[ -n ${CGSHIM_LIB:-} ]]; then
    lib=$CGSHIM_LIB
    [[ -f $lib ]] || { echo "bench: CGSHIM_LIB=$lib does not exist" >&2; exit 1; }
else
    lib=$repo/target/release/libcgshim.so
    if [[ ! -f $lib ]]; then
        echo "bench: $lib missing, running cargo build --release" >&2
        cargo build --release >&2
    fi
    [[ -f $lib ]] || { echo "bench: cargo build --release did not produce $lib" >&2; exit 1; }
fi
lib=$(realpath "$lib")
# Measure a private copy: a concurrent `cargo build` replacing the file mid-run would otherwise
# mix two versions of the library in one table.
lib_copy=$tmp/$(basename "$lib")
cp "$lib" "$lib_copy"

# ---- build the driver and the empty baseline library ----------------------------------------
cc=${CC:-gcc}
"$cc" -O2 -Wall -Wextra -pthread -o "$tmp/bench" "$repo/scripts/bench/bench.c" -lm
"$cc" -O2 -shared -fPIC -o "$tmp/libempty.so" "$repo/scripts/bench/empty.c"

# The supervised rows' static program (the library cannot load into it: `cgshim exec` supervises
# it). Without a static C library they are skipped with the reason.
supervised_note=""
cgshim_bin=$(dirname "$lib")/cgshim
if ! "$cc" -O2 -static -o "$tmp/supervised" "$repo/scripts/bench/supervised.c" 2>"$tmp/static.log"; then
    supervised_note="no static C library ($cc -static failed): supervised rows skipped"
elif [[ ! -x $cgshim_bin ]]; then
    supervised_note="no cgshim command next to $lib: supervised rows skipped"
fi

# A regular file for the unrelated-open row: /etc/hostname when present, else one of ours.
file=/etc/hostname
if [[ ! -f $file || ! -r $file ]]; then
    file=$tmp/regular-file
    echo bench >"$file"
fi

# ---- LXCFS (started before the cgroup exists, so the daemon is not charged to it) -----------
lxcfs_note=""
lxcfs_meminfo=""
if ! command -v lxcfs >/dev/null 2>&1; then
    lxcfs_note="lxcfs is not installed: LXCFS column skipped"
elif [[ $(id -u) != 0 ]]; then
    lxcfs_note="not root: cannot mount LXCFS, LXCFS column skipped"
else
    lxcfs_mnt=$tmp/lxcfs
    mkdir "$lxcfs_mnt"
    lxcfs -f -p "$tmp/lxcfs.pid" "$lxcfs_mnt" >"$tmp/lxcfs.log" 2>&1 &
    lxcfs_pid=$!
    for _ in $(seq 100); do
        [[ -r $lxcfs_mnt/proc/meminfo ]] && head -c1 "$lxcfs_mnt/proc/meminfo" >/dev/null 2>&1 && break
        kill -0 "$lxcfs_pid" 2>/dev/null || break
        sleep 0.1
    done
    if head -c1 "$lxcfs_mnt/proc/meminfo" >/dev/null 2>&1; then
        lxcfs_meminfo=$lxcfs_mnt/proc/meminfo
        lxcfs_note="$(lxcfs --version 2>&1 | tr -d '"' | head -n1) mounted at $lxcfs_mnt (pid $lxcfs_pid)"
    else
        lxcfs_note="lxcfs failed to start, LXCFS column skipped; its log: $(tr '\n' ' ' <"$tmp/lxcfs.log" | cut -c1-300)"
    fi
fi

# ---- memory cgroup with a 256 MiB limit --------------------------------------------------------
cgroup_note="no cgroup: not root, the shim ran against whatever cgroup this shell is in"
if [[ $(id -u) == 0 ]]; then
    cgroup_note="no cgroup: could not create a memory cgroup (the shim ran against this shell's cgroup)"
    name=cgshim-bench-$$
    if [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
        # cgroup v1 (or hybrid with a v1 memory controller)
        if mkdir /sys/fs/cgroup/memory/$name 2>/dev/null; then
            cgroup_dir=/sys/fs/cgroup/memory/$name
            if echo $limit_bytes >"$cgroup_dir/memory.limit_in_bytes"; then
                cgroup_note="cgroup v1 memory:/$name, memory.limit_in_bytes=$limit_bytes"
            else
                rmdir "$cgroup_dir"; cgroup_dir=""
            fi
        fi
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
        # cgroup v2: the root may hold processes, so a child of the root can always be created
        grep -qw memory /sys/fs/cgroup/cgroup.subtree_control \
            || echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        if mkdir /sys/fs/cgroup/$name 2>/dev/null; then
            cgroup_dir=/sys/fs/cgroup/$name
            if echo $limit_bytes >"$cgroup_dir/memory.max" 2>/dev/null; then
                cgroup_note="cgroup v2 /$name, memory.max=$limit_bytes"
            else
                rmdir "$cgroup_dir"; cgroup_dir=""
            fi
        fi
    fi
fi

# ---- a CPU quota of one CPU -----------------------------------------------------------------------
# N = 1 on a multi-CPU machine: /proc/stat is served from the container's own CPU time and
# sched_getaffinity is narrowed, the paths a container under a quota takes. One CPU's worth of
# quota does not throttle this single-threaded benchmark.
cpu_dirs=()
cpu_note="no CPU quota"
if [[ $(id -u) == 0 ]]; then
    name=cgshim-bench-$$
    if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
        for c in cpu cpuacct; do
            [[ -d /sys/fs/cgroup/$c ]] && mkdir -p /sys/fs/cgroup/$c/$name 2>/dev/null && cpu_dirs+=(/sys/fs/cgroup/$c/$name)
        done
        echo 100000 >/sys/fs/cgroup/cpu/$name/cpu.cfs_quota_us 2>/dev/null && cpu_note="cgroup v1 cpu:/$name, cpu.cfs_quota_us=100000 (1 CPU)"
    elif [[ -n $cgroup_dir && -f /sys/fs/cgroup/cgroup.controllers ]]; then
        echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        echo "100000 100000" >"$cgroup_dir/cpu.max" 2>/dev/null && cpu_note="cgroup v2 cpu.max=100000 100000 (1 CPU)"
    fi
fi

# ---- run ---------------------------------------------------------------------------------------
if [[ $quick == 1 ]]; then
    params=(--rounds 5 --batches 3 --budget-ms 10 --spawn-runs 300 --cold-samples 100)
else
    params=(--rounds 9 --batches 5 --budget-ms 40 --spawn-runs 2000 --cold-samples 200)
fi
args=(all --shim "$lib_copy" --empty "$tmp/libempty.so" --file "$file" --prog /bin/true "${params[@]}")
# A file named stat that the library does not serve: the first block device's statistics.
for dev in /sys/block/*/stat; do [[ -r $dev ]] && { args+=(--block-stat "$dev"); break; }; done
[[ -n $lxcfs_meminfo ]] && args+=(--lxcfs-meminfo "$lxcfs_meminfo")
[[ -n $cgroup_dir ]] && args+=(--expect-memtotal-kb $((limit_bytes / 1024)))

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo "libc unknown")
echo "cgshim benchmark$([[ $quick == 1 ]] && echo " (BENCH_QUICK=1: short run, noisier)")"
echo "  library : $lib ($(stat -c %s "$lib_copy") bytes, sha256 $(sha256sum "$lib_copy" | cut -c1-12), measured as a copy)"
echo "  machine : $(uname -sr), $(nproc) CPUs, $glibc"
echo "  cgroup  : $cgroup_note"
echo "  cpu     : $cpu_note"
echo "  lxcfs   : $lxcfs_note"
echo "  params  : ${params[*]}"
echo

# Run in the background and wait, so an INT/TERM reaches our trap at once (not after the run).
# Only the measuring process tree joins the cgroup; this shell stays out so it can remove it.
if [[ -n $cgroup_dir ]]; then
    ( for d in "${cpu_dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
      echo "$BASHPID" >"$cgroup_dir/cgroup.procs" && exec "$tmp/bench" "${args[@]}" ) &
else
    "$tmp/bench" "${args[@]}" &
fi
bench_pid=$!
bench_rc=0
wait "$bench_pid" || bench_rc=$?
bench_pid=""
if [[ $bench_rc != 0 ]]; then
    echo "bench: the benchmark driver failed (exit status $bench_rc)" >&2
    exit "$bench_rc"
fi

echo
echo "native = no preload (for the start rows: an empty C .so preloaded); shim = LD_PRELOAD=$(basename "$lib");"
echo "lxcfs = <lxcfs mount>/proc/meminfo read without the shim. Cold rows: one timed operation per"
echo "sample after an untimed ~2 ms sleep (past the shim's 1 ms value window), median sample per round."
echo "Targets: meminfo back-to-back loop <= 4x native, unrelated open within 2%, process start within"
echo "2% of the empty library; cold and procps-pattern rows are info. MISS is reported, not fatal."

# ---- supervised static programs (cgshim exec's seccomp supervisor) ---------------------------
echo
if [[ -n $supervised_note ]]; then
    echo "supervised: $supervised_note"
    exit 0
fi
# In the benchmark's cgroups, so the supervisor serves the container's values.
in_cgroups() {
    ( for d in "${cpu_dirs[@]}" ${cgroup_dir:+"$cgroup_dir"}; do echo "$BASHPID" >"$d/cgroup.procs"; done
      exec "$@" )
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if [[ $quick == 1 ]]; then rounds=5 ops=2000 spawns=100; else rounds=9 ops=10000 spawns=400; fi
sup=(env --unset=LD_PRELOAD "$cgshim_bin" exec --lib "$lib_copy" --)
printf '%-44s %12s %12s %10s   %s\n' "supervised static program" native supervised ratio target
row() { # LABEL PATH TARGET-KIND [PREFIX...]
    local label=$1 path=$2 kind=$3 native=() supervised=() n s i
    shift 3
    for ((i = 0; i < rounds; i++)); do
        native+=("$(in_cgroups "$@" "$tmp/supervised" ops "$path" "$ops")")
        supervised+=("$(in_cgroups "$@" "${sup[@]}" "$tmp/supervised" ops "$path" "$ops")")
    done
    n=$(printf '%s\n' "${native[@]}" | median)
    s=$(printf '%s\n' "${supervised[@]}" | median)
    case $kind in
        info) verdict=info ;;
        delta) verdict=$(awk -v n="$n" -v s="$s" 'BEGIN { d = s - n; printf "+%.1f us %s", d, (d <= 10 ? "ok (<= +10 us)" : "MISS (<= +10 us)") }') ;;
        ratio) verdict=$(awk -v n="$n" -v s="$s" 'BEGIN { r = s / n; printf "%s", (r <= 4 ? "ok (<= 4x)" : "MISS (<= 4x)") }') ;;
    esac
    awk -v l="$label" -v n="$n" -v s="$s" -v v="$verdict" 'BEGIN { printf "%-44s %9.2f us %9.2f us %9.2fx   %s\n", l, n, s, s / n, v }'
}
row "open+read+close $file (unrelated)" "$file" delta
row "open+read+close /proc/meminfo (served)" /proc/meminfo ratio
row "open+read+close /proc/stat (served)" /proc/stat ratio
# The same, the program and the supervisor on one CPU: what the calls cost without the wake-ups
# across CPUs that handing over an fd involves (the rows above are what programs get).
if command -v taskset >/dev/null; then
    row "  /etc/hostname, both on CPU 0 (taskset)" "$file" info taskset -c 0
    row "  /proc/meminfo, both on CPU 0 (taskset)" /proc/meminfo info taskset -c 0
fi
direct=$(in_cgroups "$tmp/supervised" spawn "$spawns" "$tmp/supervised" true)
plain=$(in_cgroups "$tmp/supervised" spawn "$spawns" "$cgshim_bin" exec --no-supervise --lib "$lib_copy" -- "$tmp/supervised" true 2>/dev/null)
supervised=$(in_cgroups "$tmp/supervised" spawn "$spawns" "$cgshim_bin" exec --lib "$lib_copy" -- "$tmp/supervised" true)
awk -v d="$direct" -v p="$plain" -v s="$supervised" 'BEGIN {
    printf "%-44s %9.0f us %9.0f us %9.2fx   info (cgshim exec --no-supervise: %.0f us)\n", "start a static program (median)", d, s, s / d, p }'
echo
echo "supervised rows: a static C program (scripts/bench/supervised.c) run directly and under cgshim exec,"
echo "alternating, $rounds rounds of $ops operations, median of the per-round means; start: median of $spawns runs."
