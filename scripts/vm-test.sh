#!/usr/bin/env bash
# The real-cgroup tests on real cgroup v2 kernels, in virtual machines.
#
#   scripts/vm-test.sh [KERNEL...]
#
# KERNEL is `6.1` (Debian 12's cloud kernel, the newest 6.1 ABI the archive has), `6.12` (the
# newest 6.12 cloud kernel of bookworm's archive) or a package name such as
# `linux-image-6.1.0-57-cloud-amd64`. Default: 6.1 6.12.
#
# For each kernel: the kernel package is fetched with `apt-get download` and unpacked (not
# installed) under target/vm/kernels; the guest's root is an initramfs made of this machine's
# own programs and libraries at their host paths, plus the workspace's library, command, test
# binaries and compiled C programs (scripts/vm/rootfs.sh); qemu boots it with cgroup v1 switched
# off (`cgroup_no_v1=all`), and scripts/vm/init runs the test binaries there as root with CI
# semantics (no test may skip). The suite ends with a check of the harness itself: the tests
# run again with a library that hooks nothing, and must fail.
#
# Environment: VM_TIMEOUT (seconds per kernel, default 900), VM_SMP (vCPUs, default 4),
# VM_MEM (MiB, default 2048), VM_ACCEL (`tcg` or `kvm`; default: kvm when a probe boot with it
# succeeds, else tcg), VM_RUN (a shell command the guest runs after the suites, as root in the
# workspace, to look into a failure). Arguments: the kernels (default: 6.1 6.12).
set -euo pipefail
cd "$(dirname "$0")/.."
ws=$(pwd)
vm=$ws/target/vm
mkdir -p "$vm/kernels" "$vm/logs" "$vm/debs"

timeout_s=${VM_TIMEOUT:-900}
smp=${VM_SMP:-4}
mem=${VM_MEM:-2048}
swap_size=512M

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)

say() { echo "vm-test: $*"; }
die() {
    say "$*" >&2
    exit 1
}

. scripts/lib/needs.sh
# What the VM suite drives (installed as root when missing; scripts/test.sh uses the same list).
vm_needs=(qemu-system-x86_64:qemu-system-x86 cpio:cpio xz:xz-utils gcc:gcc apt-get:apt)
# Exit status 3: this machine cannot run the suite (scripts/test.sh skips it then, unless CI).
needs "VM suite" "${vm_needs[@]}" || exit 3
# Kernels and busybox-static come from Debian's archive: a fresh machine needs package lists.
if ! apt-cache show busybox-static >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "no package lists yet: apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
fi

# ---------------------------------------------------------------------------------------------
# What runs in the guest
# ---------------------------------------------------------------------------------------------

# Test binaries and the arguments they get in the guest: filters that pick the tests about
# real cgroups, or --skip for the few whose premise does not hold in a small fresh v2 VM (each
# reason is in the README's VM section). VM_SUITES picks some by name (`VM_SUITES=v2_vm`).
suites=(
    "real_cgroup|"
    "programs|--skip nested_limits"
    "vmstat|vmstat_s_reports_the_limit vmstat_interval_runs disable_vmstat_serves"
    "uptime|pid_namespace initial_namespace"
    "hardening|cgroup_removed_while_the_process_runs proc_unmounted proc_covered_by_an_empty_tmpfs"
    "v2_vm|--include-ignored"
    "noharm|"
    "api|"
    "supervise|--skip thirty_two_threads_open_ten_thousand_times --skip go_goroutines_open_while_the_runtime_preempts"
)
if [ -n "${VM_SUITES:-}" ]; then
    picked=()
    for s in "${suites[@]}"; do
        case " $VM_SUITES " in *" ${s%%|*} "*) picked+=("$s") ;; esac
    done
    suites=("${picked[@]}")
    [ ${#suites[@]} -gt 0 ] || [ "$VM_SUITES" = none ] || die "VM_SUITES=$VM_SUITES names no suite"
fi
# Tests that must FAIL when the library in the guest hooks nothing (the harness's own check).
selftest_binary=v2_vm
selftest_tests=(
    memory::max_host_paths
    memory::max_fresh_cgroupns
    cpu::quota_half
)

say "building the library, the command and the test binaries"
cargo build --release --workspace
test_args=()
for s in "${suites[@]}"; do test_args+=(--test "${s%%|*}"); done
json=$(cargo test --release --no-run --message-format=json "${test_args[@]}")
declare -A exe
while read -r name path; do exe[$name]=$path; done < <(
    printf '%s\n' "$json" | grep '"executable":"/' |
        sed -n 's/.*"target":{[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p'
)
for s in "${suites[@]}"; do
    [ -n "${exe[${s%%|*}]:-}" ] || die "cargo built no test binary named ${s%%|*}"
done
[ -n "${exe[v2_vm]:-}" ] || exe[v2_vm]=$(cargo test --release --no-run --message-format=json --test v2_vm |
    grep '"executable":"/' | grep '"name":"v2_vm"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
# The C programs the tests drive, compiled here (the guest has no compiler): the tests find
# them up to date by mtime and do not compile again.
"${exe[v2_vm]}" --exact guest_programs_compile --quiet >/dev/null ||
    die "compiling the C programs failed: run ${exe[v2_vm]} --exact guest_programs_compile"

# The supervised suite's static and Go programs, built here too (the guest has no Go and no
# static C libraries); static Busybox as a file.
if [ -n "${exe[supervise]:-}" ]; then
    . scripts/lib/busybox-static.sh
    fetch_static_busybox "VM suite" || die "the supervise suite needs target/tools/busybox-static"
    "${exe[supervise]}" --exact the_test_programs_are_what_they_claim --quiet >/dev/null ||
        die "building the supervised programs failed: run ${exe[supervise]} --exact the_test_programs_are_what_they_claim"
fi

# A library that loads everywhere and hooks nothing, for the harness check.
gcc -shared -fPIC -O2 -o "$vm/hooks-nothing.so" scripts/bench/empty.c

# ---------------------------------------------------------------------------------------------
# Kernels and the static Busybox, fetched once and kept under target/vm
# ---------------------------------------------------------------------------------------------

fetch_pkg() { # package directory
    local pkg=$1 dir=$2 tmp
    [ -d "$dir" ] && return 0
    tmp=$(mktemp -d "$vm/debs/dl.XXXX")
    (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
        rm -rf "$tmp"
        return 1
    }
    mkdir -p "$dir.tmp"
    dpkg-deb -x "$tmp"/*.deb "$dir.tmp"
    rm -rf "$tmp"
    mv "$dir.tmp" "$dir"
}

resolve_kernel() {
    local meta pkg
    case $1 in
    linux-image-*) echo "$1"; return ;;
    6.1) meta=linux-image-cloud-amd64 ;;
    6.12) meta=linux-image-6.12-cloud-amd64 ;;
    *) die "unknown kernel $1 (use 6.1, 6.12 or a linux-image-… package name)" ;;
    esac
    pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        # No package lists: the newest kernel of that series already fetched.
        pkg=$(ls "$vm/kernels" 2>/dev/null | grep -E "^linux-image-${1//./\\.}[.-]" | sort -V | tail -n 1)
    fi
    [ -n "$pkg" ] || die "cannot resolve kernel $1: apt-cache knows no $meta (run apt-get update) and none is cached"
    echo "$pkg"
}

busybox_dir=$vm/busybox-static
fetch_pkg busybox-static "$busybox_dir" || die "apt-get download busybox-static failed"
busybox_static=$busybox_dir/bin/busybox
[ -x "$busybox_static" ] || die "no static busybox in $busybox_dir"

# The zram module and what it needs, in load order, uncompressed, for one kernel tree.
zram_modules() { # tree out_dir
    local tree=$1 out=$2 moddir
    moddir=$(ls -d "$tree"/lib/modules/* | head -n 1)
    mkdir -p "$out"
    : >"$out/order"
    local -A done_
    find_mod() { find "$moddir" -name "$1.ko" -o -name "$1.ko.xz" -o -name "${1//_/-}.ko" -o -name "${1//_/-}.ko.xz" | head -n 1; }
    load() {
        local name=$1 f deps d base
        [ -z "${done_[$name]:-}" ] || return 0
        done_[$name]=1
        f=$(find_mod "$name")
        [ -n "$f" ] || return 0
        base=$(basename "$f" .xz)
        case $f in *.xz) xz -dc "$f" >"$out/$base" ;; *) cp "$f" "$out/$base" ;; esac
        deps=$(tr '\0' '\n' <"$out/$base" | sed -n 's/^depends=//p' | head -n 1)
        for d in ${deps//,/ }; do load "$d"; done
        echo "$base" >>"$out/order"
    }
    load zram
    for alg in lzo-rle lzo lz4 zstd; do load "$alg"; done
    grep -q '^zram.ko$' "$out/order" || die "no zram module in $tree"
}

# ---------------------------------------------------------------------------------------------
# The guest root
# ---------------------------------------------------------------------------------------------

say "building the guest root"
base_cpio=$vm/root.cpio
extra=("$ws/target/tmp/cgshim-c" "$vm/hooks-nothing.so")
[ -z "${exe[supervise]:-}" ] ||
    extra+=("$ws/target/tmp/cgshim-go/probe" "$ws/target/tmp/cgshim-go/probe-cgo" "$ws/target/tools/busybox-static")
for s in "${suites[@]}"; do extra+=("${exe[${s%%|*}]}"); done
extra+=("${exe[$selftest_binary]}")
bash scripts/vm/rootfs.sh "$base_cpio" "$ws" "$busybox_static" scripts/vm/init "${extra[@]}"

write_plan() { # file
    local s name args
    {
        echo "cd '$ws'"
        [ "${CI:-}" = true ] && echo "export CI=true"
        echo 'run() { n=$1; shift; echo "cgshim-vm: begin $n $(cut -d" " -f1 /proc/uptime)"; "$@"; echo "cgshim-vm: end $n rc=$? $(cut -d" " -f1 /proc/uptime)"; }'
        for s in "${suites[@]}"; do
            name=${s%%|*} args=${s#*|}
            echo "run $name '${exe[$name]}' --test-threads=2 $args"
        done
        [ -z "${VM_RUN:-}" ] || echo "run custom sh /vm/run.sh"
        echo "CGSHIM_LIB='$vm/hooks-nothing.so' run selftest '${exe[$selftest_binary]}' --include-ignored --exact ${selftest_tests[*]}"
    } >"$1"
}

# ---------------------------------------------------------------------------------------------
# Boot
# ---------------------------------------------------------------------------------------------

accel=${VM_ACCEL:-}
probe_accel() { # kernel
    local k=$1 d out
    [ -e /dev/kvm ] || { echo tcg; return; }
    d=$(mktemp -d)
    mkdir -p "$d/vm"
    cp "$busybox_static" "$d/vm/busybox"
    printf '#!/vm/busybox sh\necho cgshim-vm-probe-ok\n/vm/busybox poweroff -f\n' >"$d/init"
    chmod +x "$d/init"
    (cd "$d" && printf 'init\nvm\nvm/busybox\n' | cpio --quiet -o -H newc >probe.cpio)
    out=$(timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -smp 1 -nodefaults -display none \
        -serial stdio -no-reboot -kernel "$k" -initrd "$d/probe.cpio" \
        -append "console=ttyS0 quiet panic=-1" 2>&1 </dev/null || true)
    rm -rf "$d"
    case $out in *cgshim-vm-probe-ok*) echo kvm ;; *) echo tcg ;; esac
}

failures=()
summary=()
first=1
for k in "${kernels[@]}"; do
    pkg=$(resolve_kernel "$k")
    tree=$vm/kernels/$pkg
    fetch_pkg "$pkg" "$tree" || die "apt-get download $pkg failed"
    vmlinuz=$(ls "$tree"/boot/vmlinuz-* | head -n 1)
    rel=${vmlinuz##*/vmlinuz-}
    [ -n "$accel" ] || accel=$(probe_accel "$vmlinuz")

    part=$(mktemp -d)
    mkdir -p "$part/vm"
    zram_modules "$tree" "$part/vm/modules"
    echo "$swap_size" >"$part/vm/swap-size"
    write_plan "$part/vm/plan"
    [ -z "${VM_RUN:-}" ] || printf '%s\n' "$VM_RUN" >"$part/vm/run.sh"
    if [ $first = 0 ]; then sed -i '/run selftest/d' "$part/vm/plan"; fi
    (cd "$part" && find vm | LC_ALL=C sort | cpio --quiet -o -H newc) >"$part/kernel.cpio"
    cat "$base_cpio" "$part/kernel.cpio" >"$vm/initrd-$rel.cpio"
    rm -rf "$part"

    log=$vm/logs/$rel.log
    say "booting $rel ($accel, $smp vCPUs, $mem MiB): log in ${log#"$ws"/}"
    start=$(date +%s)
    cpu=max
    [ "$accel" = kvm ] && cpu=host
    set +e
    timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp" \
        -nodefaults -display none -serial stdio -no-reboot \
        -kernel "$vmlinuz" -initrd "$vm/initrd-$rel.cpio" \
        -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all" </dev/null 2>&1 | tr -d '\r' | tee "$log"
    qrc=${PIPESTATUS[0]}
    set -e
    secs=$(($(date +%s) - start))
    rm -f "$vm/initrd-$rel.cpio"

    # Per suite: the closing line of the test binary and its exit status.
    verdict=ok
    line="$rel ($secs s):"
    if [ "$qrc" = 124 ]; then
        verdict="timed out after $timeout_s s"
    elif ! grep -q '^cgshim-vm: exit 0$' "$log"; then
        verdict="the guest did not finish its plan ($(grep '^cgshim-vm: \(setup failed\|exit\)' "$log" | tail -n 1))"
    fi
    for s in "${suites[@]}" selftest; do
        name=${s%%|*}
        [ $name != selftest ] || [ $first = 1 ] || continue
        block=$(sed -n "/^cgshim-vm: begin $name /,/^cgshim-vm: end $name /p" "$log")
        rc=$(printf '%s\n' "$block" | sed -n "s/^cgshim-vm: end $name rc=\([0-9]*\).*/\1/p")
        result=$(printf '%s\n' "$block" | grep '^test result:' | tail -n 1)
        counts=$(printf '%s\n' "$result" | sed -n 's/.*\. \([0-9]* passed; [0-9]* failed\).*/\1/p')
        if [ $name = selftest ]; then
            # Every named test must have failed with a library that hooks nothing.
            missed=()
            for t in "${selftest_tests[@]}"; do
                printf '%s\n' "$block" | grep -q "^test $t \.\.\. FAILED$" || missed+=("$t")
            done
            if [ -z "$rc" ]; then
                verdict="the harness check did not run"
            elif [ ${#missed[@]} -gt 0 ]; then
                verdict="harness check: with a library that hooks nothing these tests still passed: ${missed[*]}"
            fi
            line+=" harness check (no library in effect: ${#selftest_tests[@]} tests must fail) $([ ${#missed[@]} = 0 ] && echo ok || echo FAILED);"
            continue
        fi
        if [ "$rc" != 0 ]; then
            verdict="failures"
            failures+=("$rel $name: $(printf '%s\n' "$block" | grep -E '^test .* FAILED$' | sed 's/^test \(.*\) \.\.\. FAILED$/\1/' | tr '\n' ' ')")
        fi
        line+=" $name ${counts:-no result};"
    done
    summary+=("$line => $verdict")
    [ "$verdict" = ok ] || [ "$verdict" = failures ] || failures+=("$rel: $verdict")
    first=0
done

echo
say "summary"
for l in "${summary[@]}"; do echo "  $l"; done
if [ ${#failures[@]} -gt 0 ]; then
    say "FAILED:"
    for f in "${failures[@]}"; do echo "  $f"; done
    exit 1
fi
say "all kernels passed"
