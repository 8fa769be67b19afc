#!/usr/bin/env bash
# What `cgshim runtime` adds to a container start (target: at most 5 ms), measured side by side:
#
#   1. the wrapper alone: `cgshim runtime --runtime /bin/true -- create --bundle B ID` against
#      `/bin/true create --bundle B ID`, with a fresh copy of a real-sized config.json before
#      each run in both arms (so every run of the wrapper reads, edits and replaces it);
#   2. `podman run --rm` of /bin/true over runc and over crun, plain and through the wrapper;
#   3. `docker run --rm` of /bin/true with --runtime runc and through the wrapper, registered in
#      /etc/docker/daemon.json for the run (restored on exit, whatever happens) both ways: with
#      runtimeArgs (dockerd puts a shell script in front) and by path alone.
#
# Runs alternate between the arms; the table gives medians, the difference and the ratio. Needs
# root; parts whose engine is missing are skipped with a line. No assertion: a benchmark on a
# shared machine informs, it does not gate.
#
#   scripts/bench-runtime.sh [ROUNDS]      (default 15 container starts per arm, 300 for part 1)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib/docker-runtime.sh

ROUNDS=${1:-15}
MICRO_ROUNDS=$((ROUNDS * 20))
WORK=$(mktemp -d /var/tmp/cgshim-bench-runtime.XXXXXX)
IMAGE=cgshim-bench-runtime:tiny
imported=0
cleanup() {
    docker_runtime_restore || true
    [ $imported = 0 ] || docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "bench-runtime: needs root (container engines)"; exit 2; }
cargo build --release --workspace --quiet
CGSHIM=$ROOT/target/release/cgshim
ln -s "$CGSHIM" "$WORK/cgshim-runtime"
ln -s "$CGSHIM" "$WORK/cgshim-runtime-crun"

now() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -n1; }
# row LABEL PLAIN_FILE WRAPPED_FILE: medians in ms, their difference and ratio, and the difference
# of the fastest runs (less disturbed by other work on a shared machine).
row() {
    local a b amin bmin
    a=$(median <"$2") b=$(median <"$3") amin=$(minimum <"$2") bmin=$(minimum <"$3")
    awk -v l="$1" -v a="$a" -v b="$b" -v amin="$amin" -v bmin="$bmin" 'BEGIN {
        printf "| %-48s | %9.2f | %10.2f | %+8.2f | %6.3fx | %+8.2f |\n", l, a / 1e6, b / 1e6, (b - a) / 1e6, b / a, (bmin - amin) / 1e6 }'
}
header() {
    echo "| start                                            | plain ms  | wrapped ms | diff ms  | ratio   | min diff |"
    echo "|--------------------------------------------------|-----------|------------|----------|---------|----------|"
}

# A root with /bin/true and its libraries.
rootfs=$WORK/rootfs
mkdir -p "$rootfs/bin"
cp "$(type -P true)" "$rootfs/bin/true"
for lib in $(ldd "$(type -P true)" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done

rows=()

# 1. The wrapper alone.
bundle=$WORK/bundle
mkdir -p "$bundle/rootfs"
(cd "$bundle" && runc spec 2>/dev/null || crun spec 2>/dev/null)
[ -f "$bundle/config.json" ] || { echo "bench-runtime: neither runc nor crun to write a config.json"; exit 2; }
cp "$bundle/config.json" "$WORK/config.orig"
for i in $(seq "$MICRO_ROUNDS"); do
    cp "$WORK/config.orig" "$bundle/config.json"
    t0=$(now)
    /bin/true create --bundle "$bundle" bench
    t1=$(now)
    echo $((t1 - t0)) >>"$WORK/micro.plain"
    cp "$WORK/config.orig" "$bundle/config.json"
    t0=$(now)
    "$CGSHIM" runtime --runtime /bin/true -- create --bundle "$bundle" bench
    t1=$(now)
    echo $((t1 - t0)) >>"$WORK/micro.wrapped"
done
grep -q /usr/lib/cgshim/libcgshim.so "$bundle/config.json" || { echo "bench-runtime: the wrapper did not edit the bundle"; exit 1; }
rows+=("$(row "wrapper alone: create ($(wc -c <"$WORK/config.orig")-byte config)" "$WORK/micro.plain" "$WORK/micro.wrapped")")
# Every other call (start, state, kill, delete) only passes through.
for i in $(seq "$MICRO_ROUNDS"); do
    t0=$(now); /bin/true delete bench; t1=$(now)
    echo $((t1 - t0)) >>"$WORK/pass.plain"
    t0=$(now); "$CGSHIM" runtime --runtime /bin/true -- delete bench; t1=$(now)
    echo $((t1 - t0)) >>"$WORK/pass.wrapped"
done
rows+=("$(row "wrapper alone: any other call (delete)" "$WORK/pass.plain" "$WORK/pass.wrapped")")

# 2. podman.
podman_limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$(($(ulimit -Hu) < $(cat /proc/sys/kernel/pid_max) ? $(ulimit -Hu) : $(cat /proc/sys/kernel/pid_max))):$(($(ulimit -Hu) < $(cat /proc/sys/kernel/pid_max) ? $(ulimit -Hu) : $(cat /proc/sys/kernel/pid_max)))")
podman_run() { # RUNTIME
    local prefix=()
    # crun refuses a hybrid hierarchy whose cgroup2 mount has controllers (see tests/runtime.rs).
    if [[ $1 == *crun ]] && grep -qs . /sys/fs/cgroup/unified/cgroup.controllers; then
        prefix=(unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"')
    fi
    "${prefix[@]}" podman --runtime "$1" run --rm "${podman_limits[@]}" --rootfs "$rootfs" /bin/true
}
for rt in runc crun; do
    if ! command -v podman >/dev/null || ! command -v $rt >/dev/null; then
        rows+=("| podman run --rm over $rt: skipped (podman or $rt not installed) | | | | |")
        continue
    fi
    wrapped=$WORK/cgshim-runtime
    [ $rt = runc ] || wrapped=$WORK/cgshim-runtime-crun
    podman_run $rt >/dev/null # warm caches
    podman_run "$wrapped" >/dev/null
    for i in $(seq "$ROUNDS"); do
        t0=$(now); podman_run $rt; t1=$(now)
        echo $((t1 - t0)) >>"$WORK/podman-$rt.plain"
        t0=$(now); podman_run "$wrapped"; t1=$(now)
        echo $((t1 - t0)) >>"$WORK/podman-$rt.wrapped"
    done
    rows+=("$(row "podman run --rm over $rt" "$WORK/podman-$rt.plain" "$WORK/podman-$rt.wrapped")")
done

# 3. Docker: the wrapper registered by path alone (a cgshim-runtime symlink) and with runtimeArgs
# (path cgshim, ["runtime", "--"]: dockerd then runs it through a shell script it generates).
# "runc-path" is runc itself registered the same way by path: what any registered runtime costs
# in dockerd before the wrapper adds anything. "runc -v" is runc with the same read-only bind mount
# of the library the wrapper adds (-v): what the mount itself costs the runtime and the storage.
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null
    imported=1
    docker_runtime_register cgshim "$CGSHIM" runtime --
    docker_runtime_register cgshim-path "$WORK/cgshim-runtime"
    docker_runtime_register runc-path "$(type -P runc)"
    arms=(runc runc-path cgshim-path cgshim runc-mount)
    docker_start() { # ARM
        case $1 in
        runc-mount) docker run --rm --runtime runc -v "$ROOT/target/release/libcgshim.so:/usr/lib/cgshim/libcgshim.so:ro" "$IMAGE" /bin/true ;;
        *) docker run --rm --runtime "$1" "$IMAGE" /bin/true ;;
        esac
    }
    for rt in "${arms[@]}"; do docker_start "$rt"; done
    for i in $(seq "$ROUNDS"); do
        for rt in "${arms[@]}"; do
            t0=$(now); docker_start "$rt"; t1=$(now)
            echo $((t1 - t0)) >>"$WORK/docker-$rt"
        done
    done
    rows+=("$(row "docker run --rm: runc-path vs cgshim-runtime" "$WORK/docker-runc-path" "$WORK/docker-cgshim-path")")
    rows+=("$(row "docker run --rm: runc vs cgshim-runtime (path)" "$WORK/docker-runc" "$WORK/docker-cgshim-path")")
    rows+=("$(row "docker run --rm: runc vs cgshim runtime (args)" "$WORK/docker-runc" "$WORK/docker-cgshim")")
    rows+=("$(row "docker run --rm: runc vs runc-path" "$WORK/docker-runc" "$WORK/docker-runc-path")")
    rows+=("$(row "docker run --rm: runc vs runc -v (the mount alone)" "$WORK/docker-runc" "$WORK/docker-runc-mount")")
else
    rows+=("| docker run --rm: skipped (no Docker engine) | | | | |")
fi

echo
echo "Container start with and without cgshim runtime (medians; $ROUNDS starts per arm, $MICRO_ROUNDS for the wrapper alone):"
echo
header
printf '%s\n' "${rows[@]}"
echo
echo "target: the wrapper adds at most 5 ms to a start"
