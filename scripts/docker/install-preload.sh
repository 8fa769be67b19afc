#!/bin/sh
# Run by Dockerfile.test (stage preload-file) at image build: installs libcgshim.so into
# /etc/ld.so.preload the way a user's image would, with `cgshim install --prefix /usr
# --preload-file` (issue 6). Records what happened in /opt/cgshim-test/install-route for
# check.sh: "installed", "missing" (this cgshim has no such subcommand yet: the line is written
# here instead, and check.sh prints a skip line saying so) or "failed" (the subcommand exists
# and refused: check.sh fails the case with its message).
set -u
route=/opt/cgshim-test/install-route
rc=0
out=$(/opt/cgshim/cgshim install --prefix /usr --preload-file 2>&1) || rc=$?
if [ "$rc" = 0 ]; then
    printf 'installed\n%s\n' "$out" >"$route"
elif [ "$rc" = 2 ] && printf '%s' "$out" | grep -Eqi 'unrecogni[sz]ed|unexpected argument|invalid subcommand'; then
    printf 'missing\n%s\n' "$(printf '%s' "$out" | head -n1)" >"$route"
    cp /opt/cgshim/libcgshim.so /usr/lib/libcgshim.so
    echo /usr/lib/libcgshim.so >>/etc/ld.so.preload
else
    printf 'failed\nexit %s: %s\n' "$rc" "$out" >"$route"
fi
cat "$route"
# Whatever happened, the image must still run programs.
/bin/true
