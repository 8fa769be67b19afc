# Sourced by the scripts whose tests drive a statically linked Busybox: `fetch_static_busybox
# WHAT` puts Debian's busybox-static binary at target/tools/busybox-static (once; kept). The
# package itself is never installed: it would replace the dynamically linked /usr/bin/busybox
# that other tests need. Returns 1 (after one line naming WHAT) when it cannot be fetched.
fetch_static_busybox() { # WHAT
    local out=target/tools/busybox-static tmp
    [ -x "$out" ] && return 0
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1 && dpkg-deb -x busybox-static_*.deb x) ||
        { apt-get update -qq >/dev/null 2>&1 &&
            (cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1 && dpkg-deb -x busybox-static_*.deb x); }; then
        mkdir -p target/tools
        cp "$tmp/x/bin/busybox" "$out.tmp" && mv "$out.tmp" "$out"
    else
        echo "$1: cannot fetch busybox-static with apt-get download (needed at $out)"
    fi
    rm -rf "$tmp"
    [ -x "$out" ]
}
