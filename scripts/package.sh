#!/usr/bin/env bash
# Builds cgshim's release artefacts into target/dist/ and proves that each one works:
#
#   cgshim_<version>_amd64.deb            the command (/usr/bin/cgshim), the library
#                                         (/usr/lib/libcgshim.so), the docs; enables nothing
#   cgshim-<version>-x86_64-linux.tar.gz  bin/cgshim (static), lib/libcgshim.so, README, licences
#   cgshim-image-<version>.tar            `docker save` of cgshim:<version>, FROM scratch:
#                                         /usr/local/bin/cgshim (static), /usr/local/lib/libcgshim.so
#   SHA256SUMS
#
#   scripts/package.sh           build and check everything (what CI runs, through scripts/test.sh)
#   scripts/package.sh --build   build only
#
# The checks (as root, with a Docker engine): the .deb installed into the Debian base image
# the Docker suite builds (debootstrap), `cgshim install --preload-file` there, `free` in a
# 256 MiB container, then `dpkg --purge` and /etc/ld.so.preload back byte for byte; the tarball
# unpacked in a temporary directory, `cgshim exec -- free -m` and `cgshim install` from it; an
# application image that copies the library from the minimal image, run with --memory 256m, and
# the README's init-container pattern (`cgshim install --prefix` into a shared volume). Exit
# status 3: this machine cannot run the checks (no Docker engine).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib/needs.sh
. scripts/lib/docker-engine.sh

say() { echo "package: $*"; }
die() {
    echo "package: error: $*" >&2
    exit 1
}

build_only=0
case "${1:-}" in
--build) build_only=1 ;;
"") ;;
*)
    echo "usage: scripts/package.sh [--build]" >&2
    exit 64
    ;;
esac

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"
DIST=$ROOT/target/dist
IMAGE=cgshim:$VERSION
BASE_IMAGE=cgshim-test-base:bookworm
WORK=$(mktemp -d /var/tmp/cgshim-package.XXXXXX)
ROOTFS=""
cleanup() {
    [ -z "$ROOTFS" ] || rm -rf --one-file-system "$ROOTFS"
    docker rm -f "cgshim-package-$$" >/dev/null 2>&1 || true
    docker volume rm -f "cgshim-package-$$" >/dev/null 2>&1 || true
    docker image rm -f "cgshim-package-app:$$" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
needs "packaging" gcc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev || die "packaging needs them"
if ! command -v cargo-deb >/dev/null 2>&1; then
    say "installing cargo-deb (cargo install cargo-deb --locked)"
    cargo install cargo-deb --locked --quiet || die "cargo install cargo-deb failed"
fi
rm -rf "$DIST"
mkdir -p "$DIST"

say "cargo build --release --workspace"
cargo build --release --workspace --quiet
# The command of the tarball and the image is linked statically, so it runs in a FROM scratch
# image and on any distribution; the library stays a shared object (it is loaded into programs).
say "cgshim, statically linked"
CARGO_TARGET_DIR=$ROOT/target/static RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --quiet -p cgshim-cli --target x86_64-unknown-linux-gnu
STATIC=$ROOT/target/static/x86_64-unknown-linux-gnu/release/cgshim
file_says=$(readelf -l "$STATIC" | grep -c 'INTERP' || true)
[ "$file_says" = 0 ] || die "$STATIC is not statically linked"

# The pkg-config file for /usr, as `cgshim install` writes it.
rm -rf target/package-stage && mkdir -p target/package-stage
target/release/cgshim install --root target/package-stage --prefix /usr >"$WORK/stage.log" 2>&1 ||
    { cat "$WORK/stage.log"; die "staging cgshim.pc failed"; }

say "cgshim_${VERSION}_amd64.deb"
cargo deb -p cgshim-cli --no-build --output "$DIST/cgshim_${VERSION}_amd64.deb" >"$WORK/deb.log" 2>&1 ||
    { cat "$WORK/deb.log"; die "cargo deb failed"; }

TARNAME=cgshim-$VERSION-x86_64-linux
say "$TARNAME.tar.gz"
mkdir -p "$WORK/$TARNAME/bin" "$WORK/$TARNAME/lib/pkgconfig" "$WORK/$TARNAME/include"
install -m 755 "$STATIC" "$WORK/$TARNAME/bin/cgshim"
install -m 644 target/release/libcgshim.so "$WORK/$TARNAME/lib/libcgshim.so"
install -m 644 include/cgshim.h "$WORK/$TARNAME/include/cgshim.h"
# Relocatable: the prefix is where the tarball is unpacked.
sed 's|^prefix=.*|prefix=${pcfiledir}/../..|' target/package-stage/usr/lib/pkgconfig/cgshim.pc \
    >"$WORK/$TARNAME/lib/pkgconfig/cgshim.pc"
install -m 644 README.md LICENSE-MIT LICENSE-APACHE "$WORK/$TARNAME/"
tar -C "$WORK" --owner=0 --group=0 --numeric-owner -czf "$DIST/$TARNAME.tar.gz" "$TARNAME"

if docker_engine_up package; then
    say "$IMAGE (FROM scratch) and cgshim-image-$VERSION.tar"
    mkdir -p "$WORK/image"
    install -m 755 "$STATIC" "$WORK/image/cgshim"
    install -m 644 target/release/libcgshim.so "$WORK/image/libcgshim.so"
    cat >"$WORK/image/Dockerfile" <<EOF
FROM scratch
COPY cgshim /usr/local/bin/cgshim
COPY libcgshim.so /usr/local/lib/libcgshim.so
LABEL org.opencontainers.image.title="cgshim" org.opencontainers.image.version="$VERSION"
ENTRYPOINT ["/usr/local/bin/cgshim"]
EOF
    docker build -q -t "$IMAGE" "$WORK/image" >"$WORK/image.log" 2>&1 || { cat "$WORK/image.log"; die "docker build of $IMAGE failed"; }
    docker save -o "$DIST/cgshim-image-$VERSION.tar" "$IMAGE"
    chmod 644 "$DIST/cgshim-image-$VERSION.tar"
else
    say "no Docker engine: cgshim-image-$VERSION.tar not built"
    [ $build_only = 1 ] || exit 3
fi
(cd "$DIST" && sha256sum ./*.deb ./*.tar.gz ./*.tar 2>/dev/null | sed 's| \./| |' >SHA256SUMS)
say "artefacts in target/dist:"
(cd "$DIST" && ls -l | sed 1d | awk '{ printf "  %9d  %s\n", $5, $9 }')
[ $build_only = 0 ] || exit 0

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
pass=0
fail=0
ok() {
    pass=$((pass + 1))
    echo "ok: $*"
}
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}
eq() { # LABEL EXPECTED GOT
    if [ "$3" = "$2" ]; then ok "$1 = $3"; else bad "$1: expected $2, got ${3:-<nothing>}"; fi
}
mem_total_mib() { awk '/^Mem:/ { print $2 }'; }
HOST_MIB=$(free -m | mem_total_mib)

. scripts/lib/base-image.sh
ensure_base_image "$BASE_IMAGE" bookworm "$WORK"

# --- the .deb in a Debian root ----------------------------------------------------------------
say "the .deb in $BASE_IMAGE, in a 256 MiB container"
cat >"$WORK/deb-check.sh" <<'EOF'
set -e
# A site entry of its own, without a trailing newline: it must come back byte for byte.
printf '/lib/x86_64-linux-gnu/libm.so.6' >/etc/ld.so.preload
cp -p /etc/ld.so.preload /tmp/before
echo "free-before=$(free -m | awk '/^Mem:/ { print $2 }')"
dpkg -i /dist/cgshim.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
echo "installed-enables-nothing=$(cmp -s /etc/ld.so.preload /tmp/before && echo yes || echo no)"
echo "version=$(cgshim --version)"
echo "library=$(test -f /usr/lib/libcgshim.so && echo present)"
echo "api=$(test -f /usr/include/cgshim.h && grep -q '^prefix=/usr$' /usr/lib/pkgconfig/cgshim.pc && echo present)"
cgshim install --preload-file >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
echo "line-added=$(grep -c '^/usr/local/lib/libcgshim.so$' /etc/ld.so.preload)"
echo "free-preloaded=$(free -m | awk '/^Mem:/ { print $2 }')"
echo "show-library=$(cgshim show --json | tr -d ' \n' | grep -o '"via":"/etc/ld.so.preload","version":"[^"]*"' | head -n 1)"
dpkg --purge cgshim >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }
echo "preload-restored=$(cmp -s /etc/ld.so.preload /tmp/before && echo yes || echo no)"
echo "copy-removed=$(test -e /usr/local/lib/libcgshim.so && echo no || echo yes)"
echo "command-removed=$(test -e /usr/bin/cgshim && echo no || echo yes)"
echo "free-after=$(free -m | awk '/^Mem:/ { print $2 }')"
EOF
out=$(docker run --rm --name "cgshim-package-$$" --memory 256m --memory-swap 256m \
    -v "$DIST/cgshim_${VERSION}_amd64.deb:/dist/cgshim.deb:ro" -v "$WORK/deb-check.sh:/check.sh:ro" \
    "$BASE_IMAGE" bash /check.sh 2>&1) || bad "the .deb check script failed: $out"
kv() { sed -n "s/^$1=//p" <<<"$out" | head -n 1; }
eq ".deb: free -m before installing (the host's)" "$HOST_MIB" "$(kv free-before)"
eq ".deb: installing enables nothing (/etc/ld.so.preload untouched)" yes "$(kv installed-enables-nothing)"
eq ".deb: cgshim --version" "cgshim $VERSION" "$(kv version)"
eq ".deb: /usr/lib/libcgshim.so" present "$(kv library)"
eq ".deb: /usr/include/cgshim.h and /usr/lib/pkgconfig/cgshim.pc (prefix /usr)" present "$(kv api)"
eq ".deb: cgshim install --preload-file adds one line" 1 "$(kv line-added)"
eq ".deb: free -m with the library preloaded" 256 "$(kv free-preloaded)"
eq ".deb: cgshim show names the preloaded library's version" "\"via\":\"/etc/ld.so.preload\",\"version\":\"$VERSION\"" "$(kv show-library)"
eq ".deb: purge leaves /etc/ld.so.preload byte for byte as it was" yes "$(kv preload-restored)"
eq ".deb: purge removes the library copy install made" yes "$(kv copy-removed)"
eq ".deb: purge removes the command" yes "$(kv command-removed)"
eq ".deb: free -m after purging (the host's)" "$HOST_MIB" "$(kv free-after)"

# --- the tarball, in place ----------------------------------------------------------------------
say "the tarball, unpacked in a temporary directory"
mkdir -p "$WORK/unpack"
tar -C "$WORK/unpack" -xzf "$DIST/$TARNAME.tar.gz"
T=$WORK/unpack/$TARNAME
eq "tarball: contents" "LICENSE-APACHE LICENSE-MIT README.md bin/cgshim include/cgshim.h lib/libcgshim.so lib/pkgconfig/cgshim.pc" \
    "$(cd "$T" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
CG=""
if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
    CG=/sys/fs/cgroup/memory/cgshim-package-$$
    mkdir "$CG" && echo $((256 * 1024 * 1024)) >"$CG/memory.limit_in_bytes"
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    CG=/sys/fs/cgroup/cgshim-package-$$
    mkdir "$CG" && echo $((256 * 1024 * 1024)) >"$CG/memory.max"
fi
if [ -n "$CG" ]; then
    got=$(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$T/bin/cgshim" exec -- free -m | mem_total_mib)
    rmdir "$CG" 2>/dev/null || true
    eq "tarball: bin/cgshim exec -- free -m in a 256 MiB cgroup (the library found in ../lib)" 256 "$got"
else
    bad "tarball: no writable memory cgroup to run cgshim exec in"
fi
if command -v pkg-config >/dev/null 2>&1; then
    printf '#include <cgshim.h>\n#include <stdio.h>\nint main(void) { struct cgshim_memory m = { .size = sizeof m }; return cgshim_memory(&m) != 0; }\n' >"$WORK/api.c"
    # shellcheck disable=SC2046
    if gcc -o "$WORK/api" "$WORK/api.c" $(PKG_CONFIG_PATH="$T/lib/pkgconfig" pkg-config --cflags --libs cgshim) 2>"$WORK/cc.log" &&
        "$WORK/api"; then
        ok "tarball: a program builds with pkg-config --cflags --libs cgshim from it, and runs"
    else
        bad "tarball: building against lib/pkgconfig/cgshim.pc failed: $(cat "$WORK/cc.log")"
    fi
fi
mkdir -p "$WORK/root"
"$T/bin/cgshim" install --root "$WORK/root" --prefix /opt/cgshim >"$WORK/install.log" 2>&1 || true
eq "tarball: bin/cgshim install copies lib/libcgshim.so" \
    "$(sha256sum <"$T/lib/libcgshim.so")" "$(sha256sum <"$WORK/root/opt/cgshim/lib/libcgshim.so" 2>/dev/null)"

# --- the minimal image ----------------------------------------------------------------------------
say "the minimal image: COPY --from in an application image, and the init-container pattern"
docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
docker load -q -i "$DIST/cgshim-image-$VERSION.tar" >/dev/null
eq "image: cgshim --version in the FROM scratch image" "cgshim $VERSION" "$(docker run --rm "$IMAGE" --version)"
mkdir -p "$WORK/app"
cat >"$WORK/app/Dockerfile" <<EOF
FROM $BASE_IMAGE
COPY --from=$IMAGE /usr/local/lib/libcgshim.so /usr/local/lib/libcgshim.so
ENV LD_PRELOAD=/usr/local/lib/libcgshim.so
EOF
docker build -q -t "cgshim-package-app:$$" "$WORK/app" >"$WORK/app.log" 2>&1 ||
    bad "image: docker build of the application image failed: $(cat "$WORK/app.log")"
eq "image: free -m in the application image with --memory 256m" 256 \
    "$(docker run --rm --memory 256m "cgshim-package-app:$$" free -m | mem_total_mib)"
# The README's Kubernetes init container: the image's cgshim copies the library into a shared
# volume, which the application preloads from.
docker volume create "cgshim-package-$$" >/dev/null
docker run --rm -v "cgshim-package-$$:/cgshim" "$IMAGE" install --prefix /cgshim >"$WORK/init.log" 2>&1 ||
    bad "image: cgshim install --prefix /cgshim in the image failed: $(cat "$WORK/init.log")"
eq "image: free -m in a 256 MiB container preloading from the shared volume" 256 \
    "$(docker run --rm --memory 256m -v "cgshim-package-$$:/cgshim:ro" -e LD_PRELOAD=/cgshim/lib/libcgshim.so \
        "$BASE_IMAGE" free -m | mem_total_mib)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
