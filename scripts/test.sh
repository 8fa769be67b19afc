#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else):
#
#   scripts/test.sh                  every suite: host, docker, package, vm
#   scripts/test.sh host             formatting, lints, the release build, then every cargo test
#                                    (unit, fixture trees, real programs in real cgroups)
#   scripts/test.sh docker           scripts/docker-test.sh: real containers the engine limits
#   scripts/test.sh package          scripts/package.sh: the .deb, the tarball and the image, built
#                                    and proven in containers
#   scripts/test.sh vm               scripts/vm-test.sh: the real-cgroup tests on cgroup v2 kernels
#
# Each suite sets up what it drives first: as root, missing Debian packages are installed in one
# quiet apt-get step; otherwise one line gives the command to run. Tests whose programs, root or
# cgroups are missing skip with a message; with CI=true nothing may skip, and a suite that
# cannot run (no Docker engine, no qemu) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/needs.sh
. scripts/lib/busybox-static.sh

# What the host suite drives, as CHECK:PACKAGE (see scripts/lib/needs.sh). This is the one list:
# tests/setup.rs checks that every program a test looks for is in it and that .ci/run keeps none
# of its own.
host_needs=(
    gcc:gcc /usr/include/stdio.h:libc6-dev musl-gcc:musl-tools pkg-config:pkg-config
    nm:binutils objdump:binutils readelf:binutils
    free:procps vmstat:procps top:procps
    busybox:busybox
    unshare:util-linux taskset:util-linux setpriv:util-linux mkswap:util-linux swapon:util-linux prlimit:util-linux
    swapoff:util-linux
    /usr/bin/python3:python3 py:psutil:python3-psutil go:golang-go
    node:nodejs java:openjdk-17-jre-headless nginx:nginx-light valgrind:valgrind
    rsync:rsync tar:tar cp:coreutils dd:coreutils install:coreutils readlink:coreutils stat:coreutils
    mpstat:sysstat sar:sysstat xz:xz-utils parallel:parallel ruby:ruby htop:htop tmux:tmux
    podman:podman runc:runc crun:crun
)

ci() { [ "${CI:-}" = true ]; }

# The engine the Docker and package suites drive, as it was when the run started: if it is gone
# by then, they say so (scripts/lib/docker-engine.sh) before starting another.
DOCKERD_AT_START=$(pidof -s dockerd 2>/dev/null || true)
export DOCKERD_AT_START

suite_host() {
    if ! needs "host suite" "${host_needs[@]}" && ci; then return 1; fi
    # A statically linked Busybox for tests/supervise.rs, as a file (target/tools/).
    if ! fetch_static_busybox "host suite" && ci; then return 1; fi
    cargo fmt --all -- --check
    cargo build --release --workspace
    cargo clippy --release --workspace --all-targets -- -D warnings
    cargo test --release --workspace -- --test-threads=4
}

# The Docker and VM suites set up what they drive themselves; exit status 3 means this machine
# cannot run them (no engine, no qemu), which only CI counts as a failure.
may_skip() { # script
    local rc=0
    "$1" || rc=$?
    if [ $rc = 3 ] && ! ci; then
        echo "$1 did not run here (see the line above); CI runs it"
        return 0
    fi
    return $rc
}

suite_docker() { may_skip scripts/docker-test.sh; }
suite_package() { may_skip scripts/package.sh; }
suite_vm() { may_skip scripts/vm-test.sh; }

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(host docker package vm)
for s in "${suites[@]}"; do
    case $s in
        host | docker | package | vm) ;;
        *)
            echo "scripts/test.sh: no suite named $s (host, docker, package, vm)" >&2
            exit 64
            ;;
    esac
done
for s in "${suites[@]}"; do
    echo "== $s suite"
    "suite_$s"
done
