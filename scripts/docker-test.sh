#!/usr/bin/env bash
# The Docker suite: libcgshim.so and the cgshim CLI inside real containers, limited by the engine
# itself (--memory, --memory-swap, --cpus, --cpuset-cpus, cgroup namespaces, seccomp).
#
#   1. cargo build --release; compiles scripts/docker/probe.c on the host, dynamically linked
#      (a static binary makes its own system calls, out of any preload library's reach).
#   2. A base image without any registry: debootstrap --variant=minbase of Debian bookworm from
#      the mirror apt already uses, imported as cgshim-test-base:bookworm. Built once per machine
#      (kept while the image exists; CGSHIM_DOCKER_REBUILD_BASE=1 rebuilds it).
#   3. Dockerfile.test, stages "test" (LD_PRELOAD) and "preload-file" (/etc/ld.so.preload via
#      `cgshim install --preload-file`), from a context holding only the files it copies.
#   4. The matrix: one container per case. scripts/docker/check.sh runs real programs in it and
#      prints ok:/FAIL:/skip: lines against the expectations passed in with -e. A case whose limit
#      this engine refuses (docker create fails) or drops (docker create warns about it) is
#      skipped with the engine's exact words; no assertion is ever relaxed.
#   5. The runtime wrapper: `cgshim runtime` registered in /etc/docker/daemon.json as runtime
#      "cgshim" (scripts/lib/docker-runtime.sh; the original configuration comes back on exit,
#      whatever happens), then the base image, which has no library at all, run with
#      --runtime cgshim and with --runtime runc side by side: --memory/--cpus, --read-only,
#      --user, docker exec, CGSHIM_DISABLE. CGSHIM_DOCKER_RUNTIME=0 skips this part.
#
# The memfd case uses scripts/docker/seccomp-deny-memfd.json: every system call allowed except
# memfd_create, which fails with EPERM (deliberately nothing else, so that only memfd differs
# from the default profile the other cases run under).
#
# As root on a host without swap it enables a 384 MiB swap file for the run (removed on exit),
# so that the swap allowance (256 MiB) is visible and differs from the host's swap;
# CGSHIM_DOCKER_SWAPFILE=0 turns that off. Exits 0 only when every check passed; the last line
# is "N passed, M failed"; exit status 3 when this machine has no usable Docker engine. Needs:
# docker, cargo, gcc, and (first run only) debootstrap + root; what is missing of gcc, readelf
# and debootstrap is installed as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib/needs.sh
. scripts/lib/docker-runtime.sh
. scripts/lib/busybox-static.sh
. scripts/lib/docker-engine.sh

BASE_IMAGE=cgshim-test-base:bookworm
IMAGE=cgshim-test:latest
PRELOAD_IMAGE=cgshim-test:preload-file
SUITE=bookworm
LIB_IN_IMAGE=/opt/cgshim/libcgshim.so
SECCOMP_DENY_MEMFD=$ROOT/scripts/docker/seccomp-deny-memfd.json
CASE_TIMEOUT=180
MIB=$((1024 * 1024))

say() { echo "docker-test: $*"; }
die() { echo "docker-test: error: $*" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/cgshim-docker-test.XXXXXX)
SWAPFILE=""
ROOTFS=""
cleanup() {
    docker_runtime_restore || true
    local ids
    ids=$(docker ps -aq --filter "label=cgshim-docker-test=$$" 2>/dev/null || true)
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    if [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ]; then
        awk -v d="$ROOTFS" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf --one-file-system "$ROOTFS"
    fi
    if [ -n "$SWAPFILE" ]; then
        if swapoff "$SWAPFILE" 2>/dev/null; then
            rm -f "$SWAPFILE"
        else
            say "warning: swapoff $SWAPFILE failed; run: swapoff $SWAPFILE && rm $SWAPFILE"
        fi
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)

# ---------------------------------------------------------------------------------------------
# 0. The engine
# ---------------------------------------------------------------------------------------------
docker_engine_up docker-test || exit 3
needs "Docker suite" gcc:gcc readelf:binutils python3:python3 || die "the Docker suite needs them"
say "engine: $(docker version --format 'server {{.Server.Version}}' 2>/dev/null);" \
    "$(docker info --format 'cgroup v{{.CgroupVersion}}, {{.CgroupDriver}} driver, {{.Driver}}, security {{join .SecurityOptions " "}}' 2>/dev/null)"

# ---------------------------------------------------------------------------------------------
# 1. The library, the CLI and the probe
# ---------------------------------------------------------------------------------------------
say "cargo build --release --workspace"
cargo build --release --workspace --quiet
mkdir -p target/docker-test
gcc -O2 -Wall -Wextra -o target/docker-test/probe scripts/docker/probe.c
readelf -d target/docker-test/probe | grep -q 'NEEDED.*libc\.so\.6' || die "target/docker-test/probe is not dynamically linked against libc.so.6"

# ---------------------------------------------------------------------------------------------
# 2. The base image, without a registry
# ---------------------------------------------------------------------------------------------
. scripts/lib/base-image.sh
ensure_base_image "$BASE_IMAGE" "$SUITE" "$WORK"

# ---------------------------------------------------------------------------------------------
# 3. The test images, from a context holding only what Dockerfile.test copies
# ---------------------------------------------------------------------------------------------
ctx=$WORK/context
mkdir -p "$ctx/target/release" "$ctx/target/docker-test" "$ctx/scripts/docker"
cp target/release/libcgshim.so target/release/cgshim "$ctx/target/release/"
cp target/docker-test/probe "$ctx/target/docker-test/"
# A statically linked program, which `cgshim exec` supervises (seccomp user notification).
fetch_static_busybox "Docker suite" || die "the supervised checks need target/tools/busybox-static"
mkdir -p "$ctx/target/tools"
cp target/tools/busybox-static "$ctx/target/tools/"
cp scripts/docker/check.sh scripts/docker/install-preload.sh "$ctx/scripts/docker/"
for target in test preload-file; do
    tag=$IMAGE
    [ "$target" = test ] || tag=$PRELOAD_IMAGE
    if ! docker build -f Dockerfile.test --build-arg "BASE=$BASE_IMAGE" --target "$target" -t "$tag" "$ctx" >"$WORK/build-$target.log" 2>&1; then
        tail -n 40 "$WORK/build-$target.log"
        die "docker build --target $target failed"
    fi
    say "built $tag (Dockerfile.test --target $target, BASE=$BASE_IMAGE)"
done
docker image prune -f --filter label=org.cgshim.test=1 >/dev/null # earlier builds' untagged layers
route=$(docker run --rm "$PRELOAD_IMAGE" cat /opt/cgshim-test/install-route | head -n1)
say "preload-file image: /etc/ld.so.preload route = $route"

# ---------------------------------------------------------------------------------------------
# 4. What the host has, and the expectations derived from it
# ---------------------------------------------------------------------------------------------
expand_cpus() {
    local part out=""
    for part in ${1//,/ }; do
        case $part in
        *-*) out="$out $(seq -s ' ' "${part%-*}" "${part#*-}")" ;;
        *) out="$out $part" ;;
        esac
    done
    echo $out
}
# cpu_list "0 1 2 5" → 0-2,5
cpu_list() {
    local out="" start="" prev="" c
    for c in $1 ""; do
        if [ -n "$prev" ] && [ -n "$c" ] && [ "$c" = $((prev + 1)) ]; then prev=$c; continue; fi
        if [ -n "$start" ]; then
            [ "$start" = "$prev" ] && out="$out,$start" || out="$out,$start-$prev"
        fi
        start=$c
        prev=$c
    done
    echo "${out#,}"
}
first_cpus() { cpu_list "$(expand_cpus "$1" | tr ' ' '\n' | head -n "$2" | tr '\n' ' ')"; }

HOST_ONLINE=$(cat /sys/devices/system/cpu/online)
HOST_CPUS=$(expand_cpus "$HOST_ONLINE" | wc -w)
FIRST_CPU=$(expand_cpus "$HOST_ONLINE" | awk '{ print $1 }')
LAST_CPU=$(expand_cpus "$HOST_ONLINE" | awk '{ print $NF }')
host_swap_bytes() { awk '$1 == "SwapTotal:" { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }

if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ] || [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    SWAP_ACCOUNTING=1
else
    SWAP_ACCOUNTING=0
fi

if [ "$(host_swap_bytes)" = 0 ] && [ "$(id -u)" = 0 ] && [ "${CGSHIM_DOCKER_SWAPFILE:-1}" != 0 ]; then
    SWAPFILE=/var/tmp/cgshim-docker-swap.$$
    if dd if=/dev/zero of="$SWAPFILE" bs=1M count=384 status=none && chmod 600 "$SWAPFILE" &&
        mkswap "$SWAPFILE" >/dev/null && swapon "$SWAPFILE" 2>"$WORK/swapon.err"; then
        say "the host had no swap: enabled a 384 MiB swap file for this run ($SWAPFILE, removed on exit)"
    else
        say "the host has no swap and a swap file could not be enabled ($(cat "$WORK/swapon.err" 2>/dev/null)): swap is expected to be 0"
        rm -f "$SWAPFILE"
        SWAPFILE=""
    fi
fi
say "host: CPUs online $HOST_ONLINE ($HOST_CPUS), MemTotal $(awk '$1 == "MemTotal:" { printf "%.0f", $2 * 1024 }' /proc/meminfo) bytes," \
    "swap $(host_swap_bytes) bytes, swap accounting $([ "$SWAP_ACCOUNTING" = 1 ] && echo on || echo off)"

# ---------------------------------------------------------------------------------------------
# 5. The matrix
# ---------------------------------------------------------------------------------------------
passed=0
failed=0
skipped=()
failed_cases=()
ncase=0

# run_case NAME IMAGE MODE MEM SWAP_LIMIT CPUS CPU_LIST AFFINITY UPTIME MEMFD -- DOCKER_FLAGS...
#   MEM: bytes | host      SWAP_LIMIT: bytes | none (the host's swap)
#   MODE: env (LD_PRELOAD) | file (/etc/ld.so.preload)
run_case() {
    local name=$1 image=$2 mode=$3 mem=$4 swap_limit=$5 cpus=$6 cpu_list=$7 aff=$8 uptime=$9 memfd=${10}
    shift 11
    local flags=("$@") env_flags=() hs swap_bytes id rc=0 out=$WORK/case.out
    ncase=$((ncase + 1))
    hs=$(host_swap_bytes)
    if [ "$swap_limit" = none ] || [ "$swap_limit" -ge "$hs" ]; then swap_bytes=$hs; else swap_bytes=$swap_limit; fi
    [ "$mode" = env ] && env_flags+=(-e "LD_PRELOAD=$LIB_IN_IMAGE")
    echo
    echo "== case $ncase: $name"
    echo "   docker run ${flags[*]} ${image}  (expect mem=$mem swap=$swap_bytes cpus=$cpus [$cpu_list] affinity=$aff uptime=$uptime memfd=$memfd, library via $mode)"
    if ! id=$(docker create --label "cgshim-docker-test=$$" "${flags[@]}" "${env_flags[@]}" \
        -e "CASE=$name" -e "CGSHIM_TEST_MODE=$mode" -e "EXPECT_MEM_BYTES=$mem" \
        -e "EXPECT_SWAP_LIMIT=$swap_limit" -e "EXPECT_SWAP_BYTES=$swap_bytes" -e "EXPECT_CPUS=$cpus" \
        -e "EXPECT_CPU_LIST=$cpu_list" -e "EXPECT_AFFINITY_CPUS=$aff" -e "EXPECT_UPTIME=$uptime" \
        -e "EXPECT_MEMFD=$memfd" "$image" /opt/cgshim-test/check.sh 2>"$WORK/create.err"); then
        echo "skip: $name: the engine refused it: $(tr '\n' ' ' <"$WORK/create.err")"
        skipped+=("$name: refused by the engine: $(tr '\n' ' ' <"$WORK/create.err")")
        return 0
    fi
    # The engine accepted the container but may have dropped a limit with a warning (e.g. no swap
    # accounting: "Memory limited without swap."). Skip the case when a warning is about a limit
    # it asks for; any other warning is printed and the case runs.
    local warning
    while IFS= read -r warning; do
        if dropped_limit "$warning" "${flags[@]}"; then
            docker rm -f "$id" >/dev/null
            echo "skip: $name: the engine did not apply a limit: $warning"
            skipped+=("$name: not applied by the engine: $warning")
            return 0
        fi
        echo "   note: $name: the engine warned: $warning"
    done < <(grep -i 'warning' "$WORK/create.err" || true)
    timeout "$CASE_TIMEOUT" docker start -a "$id" >"$out" 2>&1 || rc=$?
    docker rm -f "$id" >/dev/null 2>&1 || true
    sed 's/^/   /' "$out"
    local p f
    p=$(grep -c '^ok:' "$out" || true)
    f=$(grep -c '^FAIL:' "$out" || true)
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "   FAIL: $name: the container exited $rc without a FAIL line$([ "$rc" = 124 ] && echo " (timed out after $CASE_TIMEOUT s)")"
        f=1
    elif [ "$rc" = 0 ] && ! grep -q '^done:' "$out"; then
        echo "   FAIL: $name: check.sh did not finish"
        f=1
    fi
    while IFS= read -r line; do echo "${line#"skip: $name: "}"; done < <(grep '^skip:' "$out" || true) >>"$WORK/skipped-checks"
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" = 0 ] || failed_cases+=("$name ($f failed)")
}

# dropped_limit WARNING FLAGS...: does the engine's warning say it dropped a limit we asked for?
dropped_limit() {
    local w=$1 flag
    shift
    for flag in "$@"; do
        case $flag in
        --memory-swap=* | --memory-swappiness=*) grep -qi 'swap' <<<"$w" && return 0 ;;
        --memory=*) grep -i 'memory' <<<"$w" | grep -qvi 'swap' && return 0 ;;
        --cpus=*) grep -Eqi 'cpu|cfs|quota|period' <<<"$w" && return 0 ;;
        --cpuset-cpus=*) grep -qi 'cpuset' <<<"$w" && return 0 ;;
        --cgroupns=*) grep -qi 'namespace' <<<"$w" && return 0 ;;
        esac
    done
    return 1
}

MEM=$((256 * MIB))
# Docker without --memory-swap gives a memory-limited container as much swap as memory
# (memsw = 2 x memory); without swap accounting the container has no swap at all.
if [ "$SWAP_ACCOUNTING" = 1 ]; then DEFAULT_SWAP=$MEM; else DEFAULT_SWAP=0; fi
# Under a quota, S is a window of the affinity mask placed by the container's cgroup: check.sh
# works it out inside the container from its own cgroup directory ("window").
ONE=window

# The limits, under each cgroup namespace mode (v1 engines default to host, v2 to private).
for ns in host private; do
    run_case "memory=256m cgroupns=$ns" "$IMAGE" env "$MEM" "$DEFAULT_SWAP" "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed -- \
        --cgroupns="$ns" --memory=256m
    run_case "memory=256m memory-swap=512m cgroupns=$ns" "$IMAGE" env "$MEM" $((512 * MIB - MEM)) "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed -- \
        --cgroupns="$ns" --memory=256m --memory-swap=512m
    run_case "cpus=0.5 cgroupns=$ns" "$IMAGE" env host none 1 "$ONE" "$HOST_CPUS" container allowed -- \
        --cgroupns="$ns" --cpus=0.5
    run_case "cpuset-cpus=$FIRST_CPU cgroupns=$ns" "$IMAGE" env host none 1 "$FIRST_CPU" 1 container allowed -- \
        --cgroupns="$ns" --cpuset-cpus="$FIRST_CPU"
    run_case "no limits cgroupns=$ns" "$IMAGE" env host none "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed -- \
        --cgroupns="$ns"
done

# Swap corner cases, a CPU other than the first, the host's PID namespace.
run_case "memory=256m memory-swap=-1 (unlimited swap: the host's)" "$IMAGE" env "$MEM" none "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed -- \
    --memory=256m --memory-swap=-1
run_case "memory=256m memory-swappiness=0 (no swap)" "$IMAGE" env "$MEM" 0 "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed -- \
    --memory=256m --memory-swappiness=0
if [ "$LAST_CPU" != "$FIRST_CPU" ]; then
    run_case "cpuset-cpus=$LAST_CPU memory=256m (real CPU numbers kept)" "$IMAGE" env "$MEM" "$DEFAULT_SWAP" 1 "$LAST_CPU" 1 container allowed -- \
        --memory=256m --cpuset-cpus="$LAST_CPU"
fi
run_case "memory=256m cpus=0.5 pid=host (uptime: the host's)" "$IMAGE" env "$MEM" "$DEFAULT_SWAP" 1 "$ONE" "$HOST_CPUS" host allowed -- \
    --memory=256m --cpus=0.5 --pid=host

# seccomp: Docker's default profile (memfd_create allowed) is what every case above runs under;
# here a profile denies memfd_create. Nothing changes for the program: reads of the kernel's own
# fds need no memfd, and stdio streams get an unlinked file in /dev/shm instead.
run_case "seccomp denies memfd_create, memory=256m cpuset-cpus=$FIRST_CPU" "$IMAGE" env "$MEM" "$DEFAULT_SWAP" 1 "$FIRST_CPU" 1 container denied -- \
    --security-opt seccomp="$SECCOMP_DENY_MEMFD" --memory=256m --cpuset-cpus="$FIRST_CPU"

# /etc/ld.so.preload (cgshim install --preload-file), no LD_PRELOAD.
run_case "ld.so.preload memory=256m memory-swap=512m cpus=0.5" "$PRELOAD_IMAGE" file "$MEM" $((512 * MIB - MEM)) 1 "$ONE" "$HOST_CPUS" container allowed -- \
    --memory=256m --memory-swap=512m --cpus=0.5
run_case "ld.so.preload no limits" "$PRELOAD_IMAGE" file host none "$HOST_CPUS" "$HOST_ONLINE" "$HOST_CPUS" container allowed --
run_case "ld.so.preload + seccomp denies memfd_create, memory=256m cpus=0.5" "$PRELOAD_IMAGE" file "$MEM" "$DEFAULT_SWAP" 1 "$ONE" "$HOST_CPUS" container denied -- \
    --security-opt seccomp="$SECCOMP_DENY_MEMFD" --memory=256m --cpus=0.5

# ---------------------------------------------------------------------------------------------
# 6. The runtime wrapper: the base image (no library in it) through `cgshim runtime`
# ---------------------------------------------------------------------------------------------
# One line per value, from real programs: procps free, getconf, the environment, mountinfo.
RT_PROBE='free -b | awk "/^Mem:/ { print \"free=\" \$2 }"; echo "cpus=$(getconf _NPROCESSORS_ONLN)";
echo "ld_preload=${LD_PRELOAD:--}"; echo "uid=$(id -u)";
if grep -q " /usr/lib/cgshim/libcgshim.so " /proc/self/mountinfo; then echo mounted=1; else echo mounted=0; fi;
if touch /cgshim-written 2>/dev/null; then echo writable=1; else echo writable=0; fi'
HOST_MEM_BYTES=$(awk '$1 == "MemTotal:" { printf "%.0f", $2 * 1024 }' /proc/meminfo)

# rt_check NAME OUTPUT_FILE KEY=VALUE...: one ok:/FAIL: line per expected value.
rt_check() {
    local name=$1 out=$2 kv key want got
    shift 2
    for kv in "$@"; do
        key=${kv%%=*} want=${kv#*=}
        got=$(sed -n "s/^$key=//p" "$out" | head -n1)
        if [ "$got" = "$want" ]; then
            echo "   ok: $name: $key = $got"
            passed=$((passed + 1))
        else
            echo "   FAIL: $name: $key: expected $want got ${got:-nothing}"
            failed=$((failed + 1))
            failed_cases+=("$name")
        fi
    done
}

# rt_case NAME EXPECT(container|host|off) DOCKER_RUN_FLAGS...: the probe as the container's process.
rt_case() {
    local name=$1 expect=$2 rc=0
    shift 2
    ncase=$((ncase + 1))
    echo
    echo "== case $ncase: runtime wrapper: $name"
    echo "   docker run $*"
    timeout "$CASE_TIMEOUT" docker run --rm --label "cgshim-docker-test=$$" "$@" "$BASE_IMAGE" sh -c "$RT_PROBE" >"$WORK/rt.out" 2>"$WORK/rt.err" || rc=$?
    sed 's/^/   | /' "$WORK/rt.out"
    # The engine's own warnings (a limit it cannot apply fully) are notes; anything else on
    # stderr (a loader complaining about a preload) is a failure.
    grep '^WARNING:' "$WORK/rt.err" | sed 's/^/   note: /' || true
    sed -i '/^WARNING:/d' "$WORK/rt.err"
    if [ "$rc" != 0 ] || [ -s "$WORK/rt.err" ]; then
        echo "   FAIL: $name: exit $rc, stderr: $(tr '\n' ' ' <"$WORK/rt.err")"
        failed=$((failed + 1))
        failed_cases+=("$name")
        return 0
    fi
    rt_expect "$name" "$expect" "$WORK/rt.out"
}

# rt_expect NAME EXPECT FILE: container = the 256 MiB / 0.5-CPU view through the mounted library;
# host = no library, the host's numbers; off = the same, by the container's own choice.
rt_expect() {
    case $2 in
    container) rt_check "$1" "$3" free=$MEM cpus=1 ld_preload=/usr/lib/cgshim/libcgshim.so mounted=1 ;;
    host | off) rt_check "$1" "$3" free="$HOST_MEM_BYTES" cpus="$HOST_CPUS" mounted=0 ;;
    esac
}

if [ "${CGSHIM_DOCKER_RUNTIME:-1}" = 0 ]; then
    skipped+=("runtime wrapper: CGSHIM_DOCKER_RUNTIME=0")
elif ! docker_runtime_register cgshim "$ROOT/target/release/cgshim" runtime --; then
    echo "FAIL: runtime wrapper: could not register runtime cgshim in $DOCKER_DAEMON_JSON"
    failed=$((failed + 1))
    failed_cases+=("runtime wrapper: registration")
else
    say "registered runtime cgshim in $DOCKER_DAEMON_JSON: $ROOT/target/release/cgshim runtime -- (runtimes: $(dr_runtimes))"
    LIMITS=(--memory=256m --cpus=0.5)
    rt_case "--runtime runc ${LIMITS[*]}" host --runtime runc "${LIMITS[@]}"
    rt_case "--runtime cgshim ${LIMITS[*]}" container --runtime cgshim "${LIMITS[@]}"
    rt_case "--runtime runc --read-only" host --runtime runc --read-only "${LIMITS[@]}"
    rt_case "--runtime cgshim --read-only" container --runtime cgshim --read-only "${LIMITS[@]}"
    rt_check "--runtime cgshim --read-only" "$WORK/rt.out" writable=0
    rt_case "--runtime runc --user 1000:1000" host --runtime runc --user 1000:1000 "${LIMITS[@]}"
    rt_case "--runtime cgshim --user 1000:1000" container --runtime cgshim --user 1000:1000 "${LIMITS[@]}"
    rt_check "--runtime cgshim --user 1000:1000" "$WORK/rt.out" uid=1000
    rt_case "--runtime cgshim -e CGSHIM_DISABLE=1" off --runtime cgshim -e CGSHIM_DISABLE=1 "${LIMITS[@]}"
    rt_check "--runtime cgshim -e CGSHIM_DISABLE=1" "$WORK/rt.out" ld_preload=-
    # docker exec sessions into a running container (the engine passes a process.json).
    for rt in runc cgshim; do
        ncase=$((ncase + 1))
        echo
        echo "== case $ncase: runtime wrapper: docker exec, --runtime $rt"
        if id=$(docker run -d --label "cgshim-docker-test=$$" --runtime "$rt" "${LIMITS[@]}" "$BASE_IMAGE" sleep 600 2>"$WORK/rt.err"); then
            for session in 1 2; do
                rc=0
                timeout "$CASE_TIMEOUT" docker exec "$id" sh -c "$RT_PROBE" >"$WORK/rt.out" 2>"$WORK/rt.err" || rc=$?
                sed 's/^/   | /' "$WORK/rt.out"
                if [ "$rc" != 0 ]; then
                    echo "   FAIL: docker exec ($rt, session $session): exit $rc: $(cat "$WORK/rt.err")"
                    failed=$((failed + 1))
                    failed_cases+=("docker exec $rt")
                    continue
                fi
                if [ "$rt" = cgshim ]; then
                    rt_expect "docker exec session $session, --runtime cgshim" container "$WORK/rt.out"
                else
                    rt_expect "docker exec session $session, --runtime runc" host "$WORK/rt.out"
                fi
            done
            docker rm -f "$id" >/dev/null 2>&1 || true
        else
            echo "   FAIL: docker run -d --runtime $rt: $(cat "$WORK/rt.err")"
            failed=$((failed + 1))
            failed_cases+=("docker exec $rt")
        fi
    done
    docker_runtime_restore || { failed=$((failed + 1)); failed_cases+=("runtime wrapper: restoring $DOCKER_DAEMON_JSON"); }
    say "restored $DOCKER_DAEMON_JSON (runtimes now: $(dr_runtimes))"
fi

# ---------------------------------------------------------------------------------------------
echo
say "$ncase cases in $(($(date +%s) - started)) s"
for s in ${skipped[@]+"${skipped[@]}"}; do echo "skipped case: $s"; done
if [ -s "$WORK/skipped-checks" ]; then
    sort "$WORK/skipped-checks" | uniq -c | while read -r n reason; do echo "skipped check ($n cases): $reason"; done
fi
for c in ${failed_cases[@]+"${failed_cases[@]}"}; do echo "failed case: $c"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
