#!/bin/bash
# The in-container half of scripts/docker-test.sh: runs real programs (procps free, busybox free,
# cat, grep, getconf, python3, nproc, a small C probe, the cgshim CLI) with libcgshim.so loaded
# and asserts what they print against the values the host script passes in. One line per check:
#   ok: CASE: what = value
#   FAIL: CASE: what: expected X got Y
#   skip: CASE: what: why          (a feature not there yet; counted neither way)
# and exits 1 when any check failed.
#
# Environment (set by scripts/docker-test.sh with `docker run -e`):
#   CASE                  label printed on every line
#   CGSHIM_TEST_MODE      env  = the library comes from LD_PRELOAD (set on `docker run`)
#                         file = it comes from /etc/ld.so.preload and LD_PRELOAD must be unset
#   EXPECT_MEM_BYTES      the container's memory limit in bytes, or "host" (no limit: the library
#                         must pass the host's numbers through)
#   EXPECT_SWAP_LIMIT     the container's swap allowance in bytes (memsw limit − memory limit,
#                         0 when swappiness is 0), or "none" (no swap limit: the host's swap)
#   EXPECT_SWAP_BYTES     what the host script expected from the host's swap at launch:
#                         min(EXPECT_SWAP_LIMIT, host SwapTotal). Re-derived here from the swap the
#                         kernel reports at check time (the README's rule: capped at the host's swap)
#   EXPECT_CPUS           N, the container's CPU count
#   EXPECT_CPU_LIST       S, the CPU list every file must show (e.g. 0 or 0-1), or "window": N
#                         CPUs of the affinity mask from its (seed mod count)-th, seed = the
#                         inode of the container's cpu cgroup directory / (its files + 1)
#   EXPECT_AFFINITY_CPUS  CPUs in the affinity mask (what nproc says with CGSHIM_CPU_AFFINITY=0)
#   EXPECT_UPTIME         container (own PID namespace: time since its init started) | host
#   EXPECT_MEMFD          allowed | denied (a seccomp profile makes memfd_create fail: the library
#                         serves everything as usual, stdio streams through an unlinked file in
#                         /dev/shm instead of a memfd)
set -u
export LC_ALL=C

for v in EXPECT_MEM_BYTES EXPECT_SWAP_LIMIT EXPECT_CPUS EXPECT_CPU_LIST EXPECT_AFFINITY_CPUS EXPECT_UPTIME EXPECT_MEMFD; do
    if [ -z "${!v:-}" ]; then
        echo "check.sh: $v is not set; scripts/docker-test.sh passes the expectations (see this script's header)" >&2
        exit 2
    fi
done
CASE=${CASE:-unnamed}
MODE=${CGSHIM_TEST_MODE:-env}
LIB_ENV=/opt/cgshim/libcgshim.so
PROBE=/opt/cgshim-test/probe
CGSHIM=/opt/cgshim/cgshim
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $CASE: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $CASE: $*"; }
skip() { echo "skip: $CASE: $*"; }
info() { echo "info: $CASE: $*"; }

# run LABEL CMD...: the command as the container's programs run it (the library loaded through
# LD_PRELOAD or /etc/ld.so.preload). Its stdout lands in $OUT. A non-zero exit or anything on
# stderr is a failure: the library must never make a program fail or complain.
run() {
    local label=$1
    shift
    local rc=0
    "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    OUT=$(cat "$TMP/out")
    if [ "$rc" != 0 ]; then
        bad "$label: \`$*\` exited $rc: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
        return 1
    fi
    if [ -s "$TMP/err" ]; then
        bad "$label: \`$*\` wrote to stderr: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
        return 1
    fi
    return 0
}

# raw CMD...: the same program without the library (the kernel's, i.e. the host's, answer).
raw() { env -u LD_PRELOAD CGSHIM_DISABLE=1 "$@"; }

is_num() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }

# eq LABEL EXPECTED GOT
eq() {
    if [ "$3" = "$2" ]; then ok "$1 = $3"; else bad "$1: expected $2 got ${3:-<nothing>}"; fi
}

# served LABEL CONTAINER HOST GOT: a file the library serves: the container's value, whether
# memfds are allowed or not (HOST is named in the message only).
served() {
    if [ "$4" = "$2" ]; then ok "$1 = $4"; else bad "$1: expected $2 (the host has $3) got ${4:-<nothing>}"; fi
}

# range LABEL LO HI GOT
range() {
    if is_num "$4" && [ "$4" -ge "$2" ] && [ "$4" -le "$3" ]; then
        ok "$1 = $4 (within $2..$3)"
    else
        bad "$1: expected a number within $2..$3 got ${4:-<nothing>}"
    fi
}

field() { awk -v k="$1" -F'[: ]+' '$1 == k { print $2; exit }'; }      # "Key: value" → value
kv() { awk -F= -v k="$1" '$1 == k { print $2; exit }'; }                # key=value → value

expand_cpus() { # 0-2,5 → "0 1 2 5"
    local part out=""
    for part in ${1//,/ }; do
        case $part in
        *-*) out="$out $(seq -s ' ' "${part%-*}" "${part#*-}")" ;;
        *) out="$out $part" ;;
        esac
    done
    echo $out
}

# ---------------------------------------------------------------------------------------------
# Where the library comes from
# ---------------------------------------------------------------------------------------------
if [ "$MODE" = env ]; then
    if [ "${LD_PRELOAD:-}" = "$LIB_ENV" ] && [ -f "$LIB_ENV" ]; then
        ok "route: LD_PRELOAD=$LD_PRELOAD"
    else
        bad "route: expected LD_PRELOAD=$LIB_ENV got '${LD_PRELOAD:-}'"
    fi
else
    if [ -n "${LD_PRELOAD:-}" ]; then
        bad "route: /etc/ld.so.preload case but LD_PRELOAD is set ('$LD_PRELOAD')"
    fi
    route=$(head -n1 /opt/cgshim-test/install-route 2>/dev/null)
    why=$(tail -n +2 /opt/cgshim-test/install-route 2>/dev/null | tr '\n' ' ')
    case $route in
    installed) ok "route: /etc/ld.so.preload written by \`cgshim install --prefix /usr --preload-file\` at image build" ;;
    missing) skip "route: TODO \`cgshim install --preload-file\` is not in this cgshim yet ($why); the image wrote /etc/ld.so.preload itself" ;;
    *) bad "route: \`cgshim install --prefix /usr --preload-file\` failed at image build: $why" ;;
    esac
    lib_line=$(grep -v '^[[:space:]]*#' /etc/ld.so.preload 2>/dev/null | grep libcgshim | head -n1)
    if [ -n "$lib_line" ] && [ -f "$lib_line" ]; then
        ok "route: /etc/ld.so.preload names $lib_line (no LD_PRELOAD)"
    else
        bad "route: /etc/ld.so.preload has no line naming an existing libcgshim.so: $(tr '\n' ' ' </etc/ld.so.preload 2>/dev/null)"
    fi
    if run "route: mapped" cat /proc/self/maps; then
        if grep -q libcgshim <<<"$OUT"; then ok "route: libcgshim.so is mapped into cat without LD_PRELOAD"; else bad "route: libcgshim.so is not mapped into cat"; fi
    fi
fi

# memfd_create as the container's seccomp profile allows it (checked without the library).
if raw python3 -c 'import os; os.memfd_create("probe")' 2>/dev/null; then memfd=allowed; else memfd=denied; fi
eq "seccomp: memfd_create" "$EXPECT_MEMFD" "$memfd"

# What the engine applied, for the record (read without the library).
rd() { cat "$1" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    info "cgroup v2 $(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup); at /sys/fs/cgroup: memory.max=$(rd /sys/fs/cgroup/memory.max)" \
        "memory.swap.max=$(rd /sys/fs/cgroup/memory.swap.max) cpu.max=$(rd /sys/fs/cgroup/cpu.max) cpuset=$(rd /sys/fs/cgroup/cpuset.cpus.effective)"
else
    info "memory cgroup $(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup); at /sys/fs/cgroup/memory:" \
        "limit=$(rd /sys/fs/cgroup/memory/memory.limit_in_bytes) memsw=$(rd /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)" \
        "swappiness=$(rd /sys/fs/cgroup/memory/memory.swappiness); cfs_quota_us=$(rd /sys/fs/cgroup/cpu/cpu.cfs_quota_us);" \
        "cpuset=$(rd /sys/fs/cgroup/cpuset/cpuset.cpus)"
fi

# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------
PS=$(raw getconf PAGESIZE)
raw cat /proc/meminfo >"$TMP/host_meminfo"
H_MEM=$(($(field MemTotal <"$TMP/host_meminfo") * 1024))
H_SWAP=$(($(field SwapTotal <"$TMP/host_meminfo") * 1024))
if [ "$EXPECT_MEM_BYTES" = host ]; then C_MEM=$H_MEM; else C_MEM=$EXPECT_MEM_BYTES; fi
if [ "$EXPECT_SWAP_LIMIT" = none ]; then
    C_SWAP=$H_SWAP
elif [ "$EXPECT_SWAP_LIMIT" -lt "$H_SWAP" ]; then
    C_SWAP=$EXPECT_SWAP_LIMIT
else
    C_SWAP=$H_SWAP
fi
if [ "$C_SWAP" != "${EXPECT_SWAP_BYTES:-$C_SWAP}" ]; then
    info "the host's swap is $H_SWAP bytes now (it changed since launch): expecting swap $C_SWAP instead of $EXPECT_SWAP_BYTES"
fi
info "host MemTotal=$H_MEM SwapTotal=$H_SWAP; expecting MemTotal=$C_MEM SwapTotal=$C_SWAP"

if run "free -b" free -b; then
    served "free -b: Mem total" "$C_MEM" "$H_MEM" "$(awk '$1 == "Mem:" { print $2 }' <<<"$OUT")"
    served "free -b: Swap total" "$C_SWAP" "$H_SWAP" "$(awk '$1 == "Swap:" { print $2 }' <<<"$OUT")"
    read -r t u f s bc a < <(awk '$1 == "Mem:" { print $2, $3, $4, $5, $6, $7 }' <<<"$OUT")
    range "free -b: Mem free" 1 "$t" "$f"
    range "free -b: Mem available" "$f" "$t" "$a"
fi

# Busybox free takes total/free from sysinfo(2) and buff/cache/available from /proc/meminfo, and
# prints used = total − free − buffers − cached unsigned: the two sources must agree, or the
# columns run together into a 20-digit "used".
if run "busybox free" busybox free -b; then
    memline=$(awk '$1 == "Mem:"' <<<"$OUT")
    read -r _ t u f _ <<<"$memline"
    if [ "$(wc -w <<<"$memline")" = 7 ] && is_num "$u" && [ "${#u}" -le 19 ] && [ "$u" -le "$t" ]; then
        ok "busybox free -b: Mem line well-formed, used $u <= total $t"
        eq "busybox free -b: Mem total (sysinfo)" "$C_MEM" "$t"
    else
        bad "busybox free -b: Mem line garbled (sysinfo and /proc/meminfo disagree): '$memline'"
    fi
    eq "busybox free -b: Swap total (sysinfo)" "$C_SWAP" "$(awk '$1 == "Swap:" { print $2 }' <<<"$OUT")"
fi

if run "/proc/meminfo" cat /proc/meminfo; then
    garbled=$(grep -Evc '^[A-Za-z0-9_()]+: +[0-9]+( kB)?$' <<<"$OUT")
    eq "/proc/meminfo: malformed lines" 0 "$garbled"
    eq "/proc/meminfo: line count (the host's layout)" "$(wc -l <"$TMP/host_meminfo")" "$(wc -l <<<"$OUT")"
    mt=$(($(field MemTotal <<<"$OUT") * 1024))
    served "/proc/meminfo: MemTotal bytes" "$C_MEM" "$H_MEM" "$mt"
    mf=$(($(field MemFree <<<"$OUT") * 1024))
    range "/proc/meminfo: MemFree bytes" 1 "$mt" "$mf"
    range "/proc/meminfo: MemAvailable bytes" "$mf" "$mt" "$(($(field MemAvailable <<<"$OUT") * 1024))"
    st=$(($(field SwapTotal <<<"$OUT") * 1024))
    served "/proc/meminfo: SwapTotal bytes" "$C_SWAP" "$H_SWAP" "$st"
    range "/proc/meminfo: SwapFree bytes" 0 "$st" "$(($(field SwapFree <<<"$OUT") * 1024))"
fi

if run "getconf _PHYS_PAGES" getconf _PHYS_PAGES; then
    eq "getconf _PHYS_PAGES" "$((C_MEM / PS))" "$OUT"
fi
if run "python3 sysconf" python3 -c 'import os; print(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))'; then
    eq "python3 os.sysconf(SC_PHYS_PAGES) * SC_PAGE_SIZE" "$C_MEM" "$OUT"
fi

if run "probe" "$PROBE"; then
    cp "$TMP/out" "$TMP/probe"
    eq "sysinfo() totalram bytes" "$C_MEM" "$(kv sysinfo_totalram <"$TMP/probe")"
    range "sysinfo() freeram bytes" 1 "$C_MEM" "$(kv sysinfo_freeram <"$TMP/probe")"
    eq "sysinfo() totalswap bytes" "$C_SWAP" "$(kv sysinfo_totalswap <"$TMP/probe")"
    range "sysinfo() freeswap bytes" 0 "$C_SWAP" "$(kv sysinfo_freeswap <"$TMP/probe")"
    eq "get_phys_pages()" "$((C_MEM / PS))" "$(kv get_phys_pages <"$TMP/probe")"
    range "sysconf(_SC_AVPHYS_PAGES)" 1 "$((C_MEM / PS))" "$(kv sc_avphys_pages <"$TMP/probe")"
    # pids.current of the container's pids cgroup: a handful of tasks, not the host's.
    range "sysinfo() procs (the container's pids cgroup; the host has $(kv raw_procs <"$TMP/probe"))" 1 64 "$(kv sysinfo_procs <"$TMP/probe")"
fi

if run "/proc/vmstat" cat /proc/vmstat; then
    eq "/proc/vmstat: malformed lines" 0 "$(grep -Evc '^[a-z0-9_]+ [0-9]+$' <<<"$OUT")"
    nfp=$(awk '$1 == "nr_free_pages" { print $2 }' <<<"$OUT")
    range "/proc/vmstat: nr_free_pages" 1 "$((C_MEM / PS))" "$nfp"
fi

# /proc/swaps: the host's file when nothing is limited; otherwise the header plus one
# "none … virtual" line for the allowance (none when the container may not swap).
raw cat /proc/swaps >"$TMP/host_swaps"
host_swaps=$(awk 'NR > 1 { print $1, $2, $3 }' "$TMP/host_swaps" | tr '\n' ';')
if [ "$EXPECT_MEM_BYTES" = host ]; then
    want_swaps=$host_swaps
elif [ "$C_SWAP" -gt 0 ]; then
    want_swaps="none virtual $((C_SWAP / 1024));"
else
    want_swaps=""
fi
if run "/proc/swaps" cat /proc/swaps; then
    eq "/proc/swaps: header (the kernel's)" "$(head -n1 "$TMP/host_swaps")" "$(head -n1 <<<"$OUT")"
    got_swaps=$(awk 'NR > 1 { print $1, $2, $3 }' <<<"$OUT" | tr '\n' ';')
    served "/proc/swaps: entries (name type KiB)" "${want_swaps:-<none>}" "${host_swaps:-<none>}" "${got_swaps:-<none>}"
fi

# The CLI as a user runs it in this image (library loaded: its own reads of /proc go through the
# library too) and, in the LD_PRELOAD image, without the library (CGSHIM_DISABLE is not an option:
# the CLI honours it as part of what it explains). It may explain on stderr why the host's
# values are served, but only when they are (no limit).
hows="library-loaded"
[ "$MODE" = env ] && hows="library-loaded no-LD_PRELOAD"
for how in $hows; do
    rc=0
    if [ "$how" = no-LD_PRELOAD ]; then
        env -u LD_PRELOAD "$CGSHIM" show --meminfo >"$TMP/out" 2>"$TMP/err" || rc=$?
    else
        "$CGSHIM" show --meminfo >"$TMP/out" 2>"$TMP/err" || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        bad "cgshim show --meminfo ($how) exited $rc: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
        continue
    fi
    eq "cgshim show --meminfo ($how): MemTotal bytes" "$C_MEM" "$(($(field MemTotal <"$TMP/out") * 1024))"
    if [ "$EXPECT_MEM_BYTES" != host ] && [ -s "$TMP/err" ]; then
        bad "cgshim show --meminfo ($how): in a container limited to $C_MEM bytes it says on stderr: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
    fi
done

# ---------------------------------------------------------------------------------------------
# CPUs
# ---------------------------------------------------------------------------------------------
N=$EXPECT_CPUS
if [ "$EXPECT_CPU_LIST" = window ]; then
    # The container's cpu cgroup is the directory mounted at the controller's place.
    for d in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup; do
        [ -f "$d/cpu.cfs_quota_us" ] || [ -f "$d/cpu.max" ] && break
    done
    seed=$(($(stat -c %i "$d/") / ($(find "$d/" -mindepth 1 -maxdepth 1 ! -type d | wc -l) + 1)))
    read -ra aff <<<"$(expand_cpus "$(raw awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status)")"
    start=$((seed % ${#aff[@]}))
    EXPECT_CPU_LIST=$(for ((i = 0; i < N; i++)); do echo "${aff[$(((start + i) % ${#aff[@]}))]}"; done | sort -n | paste -sd, -)
    info "S = the window of $N CPU(s) from position $start of ${aff[*]} (seed $seed of $d): $EXPECT_CPU_LIST"
fi
S=$(expand_cpus "$EXPECT_CPU_LIST")
H_ONLINE=$(raw cat /sys/devices/system/cpu/online)
H_S=$(expand_cpus "$H_ONLINE")
H_N=$(wc -w <<<"$H_S")
eq "expected CPU list has N entries" "$N" "$(wc -w <<<"$S")"

if run "getconf _NPROCESSORS_ONLN" getconf _NPROCESSORS_ONLN; then eq "getconf _NPROCESSORS_ONLN" "$N" "$OUT"; fi
if run "python3 os.cpu_count" python3 -c 'import os; print(os.cpu_count())'; then eq "python3 os.cpu_count()" "$N" "$OUT"; fi
if [ -f "$TMP/probe" ]; then
    eq "get_nprocs()" "$N" "$(kv get_nprocs <"$TMP/probe")"
    eq "sysconf(_SC_NPROCESSORS_ONLN)" "$N" "$(kv sc_nprocessors_onln <"$TMP/probe")"
    eq "get_nprocs_conf() (stays the host's)" "$(raw getconf _NPROCESSORS_CONF)" "$(kv get_nprocs_conf <"$TMP/probe")"
fi

if run "/proc/cpuinfo" cat /proc/cpuinfo; then
    procs=$(awk -F': *' '/^processor/ { print $2 }' <<<"$OUT" | tr '\n' ' ')
    served "/proc/cpuinfo: processor numbers" "$S" "$H_S" "$(echo $procs)"
    blocks=$(awk 'BEGIN { RS = "" } END { print NR }' <<<"$OUT")
    eq "/proc/cpuinfo: whole blocks (one per processor line)" "$(wc -w <<<"$procs")" "$blocks"
fi
if run "grep -c ^processor" grep -c ^processor /proc/cpuinfo; then
    served "grep -c ^processor /proc/cpuinfo" "$N" "$H_N" "$OUT"
fi
if run "/sys/devices/system/cpu/online" cat /sys/devices/system/cpu/online; then
    served "/sys/devices/system/cpu/online" "$EXPECT_CPU_LIST" "$H_ONLINE" "$OUT"
fi
if run "/proc/stat" cat /proc/stat; then
    cpus=$(awk '$1 ~ /^cpu[0-9]+$/ { sub("cpu", "", $1); print $1 }' <<<"$OUT" | tr '\n' ' ')
    served "/proc/stat: cpuN lines" "$S" "$H_S" "$(echo $cpus)"
    if [ "$N" -lt "$H_N" ] && [ "$(echo $cpus)" = "$S" ]; then
        sums=$(awk '$1 ~ /^cpu[0-9]+$/ { for (i = 2; i <= NF; i++) s[i] += $i; n = NF }
                    END { for (i = 2; i <= n; i++) printf "%s%d", (i > 2 ? " " : ""), s[i] }' <<<"$OUT")
        eq "/proc/stat: aggregate cpu line = sum of the cpuN lines" "$sums" "$(awk '$1 == "cpu" { $1 = ""; sub(/^ +/, ""); print; exit }' <<<"$OUT")"
    fi
fi
if run "nproc" nproc; then eq "nproc (sched_getaffinity)" "$N" "$OUT"; fi
if run "nproc, affinity off" env CGSHIM_CPU_AFFINITY=0 nproc; then
    eq "CGSHIM_CPU_AFFINITY=0 nproc (the kernel's mask)" "$EXPECT_AFFINITY_CPUS" "$OUT"
fi
if run "python3 affinity" python3 -c 'import os; print(sorted(os.sched_getaffinity(0)))'; then
    eq "python3 os.sched_getaffinity(0)" "[$(echo $S | sed 's/ /, /g')]" "$OUT"
fi
if run "Cpus_allowed_list" awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status; then
    eq "/proc/self/status Cpus_allowed_list" "$EXPECT_CPU_LIST" "$OUT"
fi

# ---------------------------------------------------------------------------------------------
# Uptime
# ---------------------------------------------------------------------------------------------
H_UP=$(raw cat /proc/uptime | awk '{ printf "%d", $1 }')
if run "/proc/uptime" cat /proc/uptime; then
    if grep -Eq '^[0-9]+\.[0-9]{2} [0-9]+\.[0-9]{2}$' <<<"$OUT"; then
        ok "/proc/uptime: well-formed ($OUT)"
    else
        bad "/proc/uptime: malformed: $OUT"
    fi
    up=$(awk '{ printf "%d", $1 }' <<<"$OUT")
    idle=$(awk '{ printf "%d", $2 }' <<<"$OUT")
    if [ "$EXPECT_UPTIME" = host ]; then
        range "/proc/uptime (host PID namespace: the host's; host says $H_UP)" "$((H_UP - 2))" "$((H_UP + 2))" "$up"
    else
        range "/proc/uptime (own PID namespace: since the container started; host up $H_UP s)" 0 60 "$up"
        range "/proc/uptime idle (<= N x uptime)" 0 "$((N * (up + 1)))" "$idle"
    fi
fi
if [ -f "$TMP/probe" ]; then
    if [ "$EXPECT_UPTIME" = host ]; then
        range "sysinfo() uptime (the host's)" "$(($(kv raw_uptime <"$TMP/probe") - 2))" "$(($(kv raw_uptime <"$TMP/probe") + 2))" "$(kv sysinfo_uptime <"$TMP/probe")"
    else
        range "sysinfo() uptime (since the container started)" 0 60 "$(kv sysinfo_uptime <"$TMP/probe")"
    fi
fi

# ---------------------------------------------------------------------------------------------
# The cgshim command's newer subcommands (issue 6): asserted once they exist.
# ---------------------------------------------------------------------------------------------
absent() { [ "$1" = 2 ] && grep -Eqi 'unrecogni[sz]ed|unexpected argument|invalid subcommand|usage' "$TMP/err"; }
rc=0
env -u LD_PRELOAD "$CGSHIM" exec -- free -b >"$TMP/out" 2>"$TMP/err" || rc=$?
if absent "$rc"; then
    skip "cgshim exec: not in this cgshim yet ($(head -n1 "$TMP/err"))"
elif [ "$rc" != 0 ]; then
    bad "cgshim exec -- free -b exited $rc: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
else
    served "cgshim exec -- free -b (no LD_PRELOAD before): Mem total" "$C_MEM" "$H_MEM" "$(awk '$1 == "Mem:" { print $2 }' "$TMP/out")"
fi
# A statically linked Busybox, out of the library's reach, under cgshim exec's supervisor
# (seccomp user notification under the engine's own seccomp profile, without CAP_SYS_ADMIN).
BB=/opt/cgshim-test/busybox-static
if [ -x "$BB" ]; then
    rc=0
    env -u LD_PRELOAD "$CGSHIM" exec -- "$BB" sh -c 'free -b; nproc; head -n 1 /proc/meminfo' >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" != 0 ] || [ -s "$TMP/err" ]; then
        bad "cgshim exec -- busybox-static: exit $rc, stderr: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
    else
        served "supervised static busybox free: Mem total" "$C_MEM" "$H_MEM" "$(awk '$1 == "Mem:" { print $2 }' "$TMP/out")"
        eq "supervised static busybox nproc (sched_getaffinity)" "$N" "$(sed -n 4p "$TMP/out")"
        served "supervised static busybox /proc/meminfo MemTotal" "$((C_MEM / 1024))" "$((H_MEM / 1024))" "$(sed -n 5p "$TMP/out" | awk '{ print $2 }')"
    fi
    raw "$BB" free -b >"$TMP/out" 2>&1
    eq "static busybox free without cgshim exec: Mem total (the host's)" "$H_MEM" "$(awk '$1 == "Mem:" { print $2 }' "$TMP/out")"
fi
rc=0
"$CGSHIM" show --json >"$TMP/out" 2>"$TMP/err" || rc=$?
if absent "$rc"; then
    skip "cgshim show --json: not in this cgshim yet ($(head -n1 "$TMP/err"))"
elif [ "$rc" != 0 ]; then
    bad "cgshim show --json exited $rc: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
elif raw python3 -c '
import json, sys
d = json.load(sys.stdin)
def get(*path):
    x = d
    for k in path:
        if not isinstance(x, dict) or k not in x:
            return "<missing>"
        x = x[k]
    return x
for key, path in [("MemTotal_kB", ("meminfo_kB", "MemTotal")), ("totalram", ("sysinfo", "totalram")),
                  ("totalswap", ("sysinfo", "totalswap")), ("n", ("cpu", "n")), ("set", ("cpu", "set")),
                  ("streams", ("streams", "backing"))]:
    print("%s=%s" % (key, get(*path)))
' <"$TMP/out" >"$TMP/json" 2>"$TMP/err"; then
    mt=$(kv MemTotal_kB <"$TMP/json")
    is_num "$mt" && mt=$((mt * 1024))
    eq "cgshim show --json: meminfo_kB.MemTotal x 1024" "$C_MEM" "$mt"
    eq "cgshim show --json: sysinfo.totalram" "$C_MEM" "$(kv totalram <"$TMP/json")"
    eq "cgshim show --json: sysinfo.totalswap" "$C_SWAP" "$(kv totalswap <"$TMP/json")"
    eq "cgshim show --json: cpu.n" "$N" "$(kv n <"$TMP/json")"
    eq "cgshim show --json: cpu.set" "$EXPECT_CPU_LIST" "$(kv set <"$TMP/json")"
    if [ "$EXPECT_MEMFD" = denied ]; then want_streams="tmpfile in /dev/shm"; else want_streams=memfd; fi
    eq "cgshim show --json: streams.backing" "$want_streams" "$(kv streams <"$TMP/json")"
else
    bad "cgshim show --json: not one JSON object: $(head -c 200 "$TMP/err" | tr '\n' ' ')"
fi

echo "done: $CASE: $pass passed, $fail failed"
[ "$fail" = 0 ]
