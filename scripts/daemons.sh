# Shared by local-slurm.sh and local-sge.sh (sourced, not run): pid-file bookkeeping of the
# daemons they start, waiting, and package installation without Debian starting anything.
# The sourcing script sets $pids (folder of NAME.pid files), $dir, and defines show_logs.

# is_ours NAME: the pid recorded for NAME is alive and is that program (pids get reused)
is_ours() {
    local pid
    pid=$(cat "$pids/$1.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm")" = "$1" ] && ! grep -q '^State:.*Z' "/proc/$pid/status"
}

# retry SECONDS COMMAND...: run COMMAND until it succeeds, for at most SECONDS
retry() {
    local until=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$until" ] || return 1
        sleep 0.2
    done
}

# stop_pid NAME: TERM, then KILL after 15 s, only while the recorded pid is still that program
stop_pid() {
    local pid i
    is_ours "$1" || { rm -f "$pids/$1.pid"; return 0; }
    pid=$(cat "$pids/$1.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do is_ours "$1" || break; sleep 0.1; done
    is_ours "$1" && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pids/$1.pid"
}

# apt_install PACKAGE...: install the missing ones; their postinst may not start daemons
apt_install() {
    local need=() p guard=0
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing ${need[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y --no-install-recommends "${need[@]}" \
        || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }; } \
        > "$dir/apt.log" 2>&1; then
        [ $guard = 1 ] && rm -f /usr/sbin/policy-rc.d
        tail -n 30 "$dir/apt.log" >&2
        fail "apt-get install ${need[*]} failed"
    fi
    [ $guard = 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}
