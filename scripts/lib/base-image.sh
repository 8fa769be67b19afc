# Sourced by the scripts that run containers: `ensure_base_image IMAGE SUITE WORKDIR` makes the
# Debian base image the suites build on, without any registry: debootstrap --variant=minbase of
# SUITE (with procps, busybox, python3) from the mirror apt already uses, imported as IMAGE.
# Built once per machine (kept while the image exists; CGSHIM_DOCKER_REBUILD_BASE=1 rebuilds
# it). The caller defines `say` and `die`, and sources scripts/lib/needs.sh; ROOTFS names the
# directory being assembled, for the caller's cleanup.

debian_mirror() {
    local m=${CGSHIM_DEBIAN_MIRROR:-}
    if [ -z "$m" ]; then
        m=$({
            cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }'
            cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }'
        } | grep -E '/debian/?$' | head -n1 || true)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

ensure_base_image() { # IMAGE SUITE WORKDIR
    local image=$1 suite=$2 work=$3 mirror t0
    if [ "${CGSHIM_DOCKER_REBUILD_BASE:-0}" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
        docker image rm -f "$image" >/dev/null
    fi
    if docker image inspect "$image" >/dev/null 2>&1; then
        say "base image $image exists (built $(docker image inspect -f '{{.Created}}' "$image" | cut -c1-19)); reusing it"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "building $image needs root (debootstrap)"
    needs "base image" debootstrap:debootstrap || die "building $image needs debootstrap"
    mirror=$(debian_mirror)
    ROOTFS=$(mktemp -d /var/tmp/cgshim-rootfs.XXXXXX)
    say "building $image: debootstrap --variant=minbase --include=procps,busybox,python3 $suite <dir> $mirror"
    t0=$(date +%s)
    if ! debootstrap --variant=minbase --include=procps,busybox,python3 "$suite" "$ROOTFS" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log"
        [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log"
        die "debootstrap failed (mirror $mirror; set CGSHIM_DEBIAN_MIRROR to use another)"
    fi
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/debootstrap
    tar --numeric-owner -C "$ROOTFS" -c . |
        docker import -m "debootstrap --variant=minbase --include=procps,busybox,python3 $suite $mirror" \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
    rm -rf --one-file-system "$ROOTFS"
    ROOTFS=""
    say "base image $image built in $(($(date +%s) - t0)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MiB", $1 / 1048576 }'))"
}
