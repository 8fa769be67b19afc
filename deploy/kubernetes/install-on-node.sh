#!/bin/sh
# Puts cgshim and libcgshim.so under HOST/usr/local (HOST: where the node's / is mounted, /host
# in daemonset.yaml), each file replaced atomically by a rename, so that running containers keep
# the library they mounted and a runtime call never finds half a binary:
#   HOST/usr/local/lib/libcgshim.so                       (cgshim install: proven to load first,
#                                                          with include/cgshim.h and lib/pkgconfig/cgshim.pc)
#   HOST/usr/local/bin/cgshim
#   HOST/usr/local/bin/cgshim-runtime -> cgshim           (runc behind it)
#   HOST/usr/local/bin/cgshim-runtime-crun -> cgshim      (crun behind it)
set -eu
host=${1:?usage: install-on-node.sh HOST_ROOT}
src=$(dirname "$0")
mkdir -p "$host/usr/local/bin" "$host/usr/local/lib"
"$src/cgshim" install --root "$host" --prefix /usr/local --lib "$src/libcgshim.so"
cp "$src/cgshim" "$host/usr/local/bin/.cgshim.new"
chmod 0755 "$host/usr/local/bin/.cgshim.new"
mv -f "$host/usr/local/bin/.cgshim.new" "$host/usr/local/bin/cgshim"
for name in cgshim-runtime cgshim-runtime-crun; do
    ln -sfn cgshim "$host/usr/local/bin/.$name.new"
    mv -Tf "$host/usr/local/bin/.$name.new" "$host/usr/local/bin/$name"
done
echo "cgshim: installed under $host/usr/local (bin/cgshim, bin/cgshim-runtime[-crun], lib/libcgshim.so)"
