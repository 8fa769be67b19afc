#!/usr/bin/env bash
# Builds the guest's root file system as an uncompressed initramfs (newc cpio) made of the
# host's own files at their host paths: every program the tests drive, every library `ldd`
# names for it, the data those programs read (the JVM, Python's standard library and psutil,
# terminfo), the workspace's library, command, test binaries, compiled C programs, C sources
# and fixtures. Nothing is rebuilt or imitated: the guest runs the very bytes the host suite
# runs. The static Busybox that boots the guest lives apart in /vm, outside PATH, so that the
# tests' `sh`, `free`, `cat` are the host's dynamic programs, which LD_PRELOAD reaches.
#
#   rootfs.sh OUT.cpio WORKSPACE BUSYBOX_STATIC INIT [EXTRA_PATH...]
#
# EXTRA_PATH: more files or directories to include (test binaries, the C build directory).
set -euo pipefail

out=$1 ws=$2 busybox_static=$3 init=$4
shift 4

list=$(mktemp)
trap 'rm -f "$list" "$list.sorted" "$list.libs"' EXIT

# Programs the tests run by name (looked up in PATH) or the guest needs to set up cgroups,
# namespaces and swap. A missing one is an error: the suite would otherwise fail obscurely.
programs=(
    sh dash bash cat env true false sleep kill grep sed head tail tr wc cut sort uniq tee id
    mkdir rmdir rm cp mv ln ls chmod stat readlink dirname basename dd sync timeout nproc seq
    mount umount unshare nsenter taskset setpriv prlimit swapon swapoff mkswap mkfifo getconf
    date awk paste xargs nm objdump readelf mktemp install tar rsync md5sum pkg-config
    free top vmstat ps uptime busybox python3 node java nginx musl-gcc sar
)
# Data directories the programs read at run time.
data_dirs=(
    /usr/lib/jvm/java-17-openjdk-amd64 /etc/java-17-openjdk
    /usr/lib/python3/dist-packages/psutil
    /usr/share/terminfo /usr/lib/terminfo /etc/terminfo
    /etc/nginx /usr/share/nginx /usr/lib/nginx
    /usr/lib/x86_64-linux-musl /usr/lib/musl
)
data_files=(/etc/passwd /etc/group /etc/nsswitch.conf /etc/ld.so.cache /etc/mime.types
    /usr/lib/sysstat/sadc)

# Adds one path: the chain of symbolic links that leads to it (each link kept as a link), with
# every directory component made canonical. Prints the final target.
declare -A seen
add_path() {
    local p=$1 dir t i=0
    while :; do
        dir=$(realpath -e "${p%/*}/" 2>/dev/null) || return 0
        p=${dir%/}/${p##*/}
        [ -e "$p" ] || [ -L "$p" ] || return 0
        if [ -z "${seen[$p]:-}" ]; then
            seen[$p]=1
            echo "$p" >>"$list"
        fi
        [ -L "$p" ] || break
        t=$(readlink "$p")
        case $t in /*) p=$t ;; *) p=$dir/$t ;; esac
        i=$((i + 1))
        [ $i -lt 40 ] || return 0
    done
    echo "$p"
}

# add_path, and for an ELF file every library ldd names (ldd already gives the whole closure).
add() {
    local p lib
    p=$(add_path "$1")
    [ -n "$p" ] && [ -f "$p" ] || return 0
    ldd "$p" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' >"$list.libs" || true
    while read -r lib; do add_path "$lib" >/dev/null; done <"$list.libs"
}

# Adds a directory tree as it is (Python's byte-code caches included: compiling them under
# emulation would cost seconds per run) and the libraries its ELF files need, asked of ldd in
# one batch.
add_tree() {
    local d=$1
    [ -e "$d" ] || return 0
    add "$d"
    d=$(realpath -e "$d")
    find "$d" \( -name test -o -name tests -o -name idlelib -o -name tkinter -o -name turtledemo \
        -o -name ensurepip \) -prune -o -print >>"$list"
    find "$d" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 |
        xargs -0 -r ldd 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p' | sort -u >"$list.libs" || true
    while read -r lib; do add_path "$lib" >/dev/null; done <"$list.libs"
}

for prog in "${programs[@]}"; do
    path=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin type -P "$prog" || true)
    if [ -z "$path" ]; then
        echo "rootfs: \`$prog\` is not installed on this machine" >&2
        exit 1
    fi
    add "$path"
done
# Python: the interpreter's standard library (the interpreter itself came with `python3`).
py=$(realpath /usr/bin/python3)
add_tree "/usr/lib/$(basename "$py")"
for d in "${data_dirs[@]}"; do add_tree "$d"; done
for f in "${data_files[@]}"; do add "$f"; done
# The merged-/usr links and the loader.
for l in /bin /sbin /lib /lib64 /lib/ld-musl-x86_64.so.1 /lib64/ld-linux-x86-64.so.2; do add "$l"; done
# The workspace: library, command, C sources and the API's header (the tests compare their
# mtimes with the compiled programs), fixtures, and whatever the caller adds (test binaries, compiled C programs).
add "$ws/target/release/libcgshim.so"
add "$ws/target/release/cgshim"
add_tree "$ws/tests/c"
add_tree "$ws/tests/go"
# The C API's header and the README, whose examples the API tests run.
add_tree "$ws/include"
add "$ws/README.md"
add_tree "$ws/tests/fixtures"
add_tree "$ws/scripts/bench"
for x in "$@"; do
    if [ -d "$x" ]; then add_tree "$x"; else add "$x"; fi
done

# Every parent directory before its children, each path once; relative to / for cpio.
awk '{ p = $0; while (p != "" && p != "/") { print substr(p, 2); sub(/\/[^\/]*$/, "", p) } }' "$list" |
    LC_ALL=C sort -u >"$list.sorted"

(cd / && cpio --quiet -o -H newc <"$list.sorted") >"$out.tmp"

# The guest's own part: /init, the static Busybox in /vm, mount points.
stage=$(mktemp -d)
mkdir -p "$stage/vm" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/run" "$stage/var/log/nginx" \
    "$stage/var/lib/nginx" "$stage/root"
cp "$busybox_static" "$stage/vm/busybox"
cp "$init" "$stage/init"
chmod 0755 "$stage/init" "$stage/vm/busybox"
chmod 1777 "$stage/tmp"
(cd "$stage" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | cpio --quiet -o -H newc) >>"$out.tmp"
rm -rf "$stage"
mv "$out.tmp" "$out"
