# Sourced by the scripts that run `docker run --runtime cgshim`: registers a runtime in
# /etc/docker/daemon.json (dockerd reloads `runtimes` on SIGHUP) and puts the engine back as it
# was afterwards. The caller must call docker_runtime_restore from its EXIT trap, so that the
# original configuration comes back whatever happens.
#
#   docker_runtime_register NAME PATH [ARG...]   adds "NAME": {"path": PATH, "runtimeArgs": [ARG...]}
#                                                (once or more; each call reloads)
#   docker_runtime_restore                       the original daemon.json, byte for byte, reloaded
#
# A reload keeps the runtimes it was given when the file has no "runtimes" key at all, so the
# restore first reloads the original file with the original runtimes set explicitly ({} when it
# had none), then puts the original bytes back and reloads again. Docker 20.10 also drops its
# built-in aliases (io.containerd.runc.v2, io.containerd.runtime.v1.linux) from the list at the
# first reload that sets runtimes, until dockerd restarts; newer engines keep them. The restore
# says so when it sees it. Needs python3 (the JSON edit) and root.

DOCKER_DAEMON_JSON=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
DR_SAVED=""      # a copy of the original file ("absent" when there was none)
DR_NAMES=""      # the runtimes registered
DR_BEFORE=""     # the runtimes dockerd listed before

dr_say() { echo "docker-runtime: $*"; }

dr_runtimes() { docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}' 2>/dev/null; }

dr_dockerd_pid() { pidof -s dockerd 2>/dev/null || true; }

# dr_reload WANT NAME: SIGHUP dockerd, then wait until NAME is listed (WANT=present) or not.
dr_reload() {
    local want=$1 name=$2 pid i
    pid=$(dr_dockerd_pid)
    [ -n "$pid" ] || { dr_say "no dockerd process to signal"; return 1; }
    kill -HUP "$pid"
    for i in $(seq 1 50); do
        case " $(dr_runtimes) " in
        *" $name "*) [ "$want" = present ] && return 0 ;;
        *) [ "$want" = absent ] && return 0 ;;
        esac
        sleep 0.2
    done
    dr_say "dockerd did not make runtime $name $want within 10 s (runtimes: $(dr_runtimes))"
    return 1
}

# dr_write_json add NAME PATH [ARG...] | dr_write_json original SAVED_COPY|absent
dr_write_json() {
    python3 - "$@" <<'EOF'
import json, os, sys
target = os.environ["DOCKER_DAEMON_JSON"]
mode = sys.argv[1]

def load(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        text = f.read()
    return json.loads(text) if text.strip() else {}

if mode == "add":  # add NAME PATH ARGS...: to the file as it is now (earlier registrations kept)
    conf = load(target)
    name, path, args = sys.argv[2], sys.argv[3], sys.argv[4:]
    runtimes = dict(conf.get("runtimes") or {})
    runtimes[name] = {"path": path}
    if args:
        runtimes[name]["runtimeArgs"] = args
    conf["runtimes"] = runtimes
else:  # original SAVED|absent: the original settings, its runtimes stated explicitly
    conf = {} if sys.argv[2] == "absent" else load(sys.argv[2])
    conf["runtimes"] = conf.get("runtimes") or {}
tmp = target + ".cgshim-tmp"
with open(tmp, "w") as f:
    json.dump(conf, f, indent=2)
    f.write("\n")
os.rename(tmp, target)
EOF
}

docker_runtime_register() {
    local name=$1 path=$2
    shift 2
    export DOCKER_DAEMON_JSON
    if [ -z "$DR_SAVED" ]; then
        DR_BEFORE=$(dr_runtimes)
        DR_SAVED=$(mktemp /var/tmp/cgshim-daemon-json.XXXXXX)
        if [ -e "$DOCKER_DAEMON_JSON" ]; then
            cp -p "$DOCKER_DAEMON_JSON" "$DR_SAVED"
        else
            echo absent >"$DR_SAVED.absent"
            mkdir -p "$(dirname "$DOCKER_DAEMON_JSON")"
        fi
    fi
    DR_NAMES="$DR_NAMES $name"
    dr_write_json add "$name" "$path" "$@" || return 1
    dr_reload present "$name"
}

docker_runtime_restore() {
    [ -n "$DR_SAVED" ] || return 0
    export DOCKER_DAEMON_JSON
    local src=$DR_SAVED rc=0
    [ ! -e "$DR_SAVED.absent" ] || src=absent
    # 1. The original settings with the original runtimes stated, so that the reload drops ours.
    local name
    if dr_write_json original "$src"; then
        for name in $DR_NAMES; do dr_reload absent "$name" || rc=1; done
    else
        rc=1
    fi
    # 2. The original bytes (or no file), reloaded: nothing else changes.
    if [ "$src" = absent ]; then
        rm -f "$DOCKER_DAEMON_JSON" "$DR_SAVED.absent"
    else
        cp -p "$DR_SAVED" "$DOCKER_DAEMON_JSON"
    fi
    kill -HUP "$(dr_dockerd_pid)" 2>/dev/null || true
    sleep 0.5
    rm -f "$DR_SAVED"
    DR_SAVED=""
    local after lost="" r
    after=$(dr_runtimes)
    for r in $DR_BEFORE; do
        case " $after " in *" $r "*) ;; *) lost="$lost $r" ;; esac
    done
    if [ -n "$lost" ]; then
        dr_say "note: dockerd no longer lists the built-in runtime(s)$lost after the reload (Docker 20.10 drops them" \
            "at a reload that sets runtimes; a restart of dockerd brings them back). $DOCKER_DAEMON_JSON is the original."
    fi
    [ $rc = 0 ] || dr_say "warning: the reload without runtime(s)$DR_NAMES failed; $DOCKER_DAEMON_JSON is the original again"
    DR_NAMES=""
    return $rc
}
