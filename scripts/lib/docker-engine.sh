# Sourced by the scripts that drive a Docker engine (docker-test.sh, package.sh).
#
#   docker_engine_up WHAT    returns 0 once `docker info` answers (WHAT names the caller in what
#                            it prints). An engine started just before may take a few seconds to
#                            answer: it is given 60 s (a remote engine through DOCKER_HOST is
#                            asked once). As root, when no dockerd process runs at
#                            all, one is started (its log: target/dockerd.log), since the suites
#                            need an engine and the machine has one installed. When a dockerd that
#                            ran when scripts/test.sh started (DOCKERD_AT_START) is gone, that is
#                            said first, with the kernel's last OOM lines: a run must not hide
#                            what ended it. Returns 1, after a line saying why, when there is none.

docker_engine_up() { # WHAT
    local what=$1 tries=0 log=target/dockerd.log pid
    command -v docker >/dev/null 2>&1 || { echo "$what: there is no docker command on this machine"; return 1; }
    docker info >/dev/null 2>&1 && return 0
    pid=$(pidof -s dockerd 2>/dev/null || true)
    if [ -n "${DOCKERD_AT_START:-}" ] && [ "$pid" != "$DOCKERD_AT_START" ]; then
        echo "$what: warning: dockerd (pid $DOCKERD_AT_START when the test run started) is gone${pid:+, pid $pid runs}"
        dmesg 2>/dev/null | grep -iE 'out of memory|killed process|oom-kill' | tail -n 5 | sed "s/^/$what:   /" || true
    fi
    if [ -z "$pid" ] && [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
        mkdir -p "$(dirname "$log")"
        echo "$what: no Docker engine runs; starting dockerd (log: $log)"
        setsid dockerd >"$log" 2>&1 </dev/null &
    elif [ -z "$pid" ] && ! docker info >/dev/null 2>&1; then
        echo "$what: no usable Docker engine: no dockerd runs here (and this is not root, or there is no dockerd)"
        return 1
    fi
    until docker info >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ $tries -ge 30 ]; then
            echo "$what: no usable Docker engine: $(docker info 2>&1 | grep -v '^ *$' | tail -n1)"
            [ ! -s "$log" ] || tail -n 5 "$log" | sed "s/^/$what:   dockerd: /"
            return 1
        fi
        sleep 2
    done
}
