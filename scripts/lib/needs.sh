# Sourced by the scripts that drive other programs: `needs WHAT ENTRY...` makes sure each
# ENTRY is there, installing the missing ones' Debian packages in one quiet apt-get step when
# run as root, or printing one line with the exact command to run otherwise.
#
# An ENTRY is CHECK:PACKAGE, where CHECK is a command name (`busybox`), an absolute path
# (`/usr/include/stdio.h`) or a module of /usr/bin/python3, the Python the tests run
# (`py:psutil`). Returns 1 when something is still missing afterwards (the caller decides
# whether that is fatal).

needs_have() { # CHECK
    case $1 in
        py:*) /usr/bin/python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
        /*) [ -e "$1" ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

needs() { # WHAT ENTRY...
    local what=$1 entry check pkg log
    shift
    local missing=() pkgs=()
    for entry in "$@"; do
        check=${entry%%:*} pkg=${entry##*:}
        [ "$check" != py ] || check=${entry%:*}
        needs_have "$check" && continue
        missing+=("$check")
        case " ${pkgs[*]} " in *" $pkg "*) ;; *) pkgs+=("$pkg") ;; esac
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$what: missing ${missing[*]}; install with: apt-get install --no-install-recommends ${pkgs[*]}" \
            "(as root; until then what drives them skips, or fails with CI=true)"
        return 1
    fi
    echo "$what: installing ${pkgs[*]} (for ${missing[*]})"
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet: update only when the install needs it.
    if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
            tail -n 20 "$log"
            rm -f "$log"
            echo "$what: apt-get install ${pkgs[*]} failed"
            return 1
        fi
    fi
    rm -f "$log"
    for check in "${missing[@]}"; do
        needs_have "$check" || { echo "$what: $check is still missing after installing ${pkgs[*]}"; return 1; }
    done
}
