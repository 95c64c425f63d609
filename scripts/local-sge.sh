#!/usr/bin/env bash
# A real single-node Son of Grid Engine for xyzfarm's tests: sge_qmaster + sge_execd from
# Debian's gridengine packages, as root, without systemd, next to the local SLURM.
#
#   scripts/local-sge.sh start [DIR]   install if needed, configure all.q, start, wait for it
#   scripts/local-sge.sh stop  [DIR]   delete jobs, stop only the daemons this script started
#   scripts/local-sge.sh env   [DIR]   print the variables clients need
#
# DIR (default build/sge under the repository) holds spool folders, logs and the pid files of
# what this script started; daemons are stopped by those pids, never by name.
set -euo pipefail

say() { printf '[local-sge] %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; show_logs; exit 1; }

cmd=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${2:-$here/build/sge}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
pids=$dir/pids
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
common=$SGE_ROOT/$SGE_CELL/common

show_logs() {
    for f in "$dir"/qmaster/messages "$dir"/execd/*/messages "$dir"/*.log; do
        [ -f "$f" ] && { printf -- '----- last lines of %s\n' "$f" >&2; tail -n 20 "$f" >&2; }
    done
    return 0
}



# shellcheck source=scripts/daemons.sh
. "$here/scripts/daemons.sh"

host() { /usr/lib/gridengine/gethostname -name 2>/dev/null || hostname; }
queue_usable() { qstat -f -q "all.q@$(host)" 2>/dev/null | grep '^all.q@' | awk '{exit !(NF == 5)}'; }

install_packages() {
    # the packages ask who the master is: answer before they are installed
    debconf-set-selections <<END
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string $SGE_CELL
gridengine-common shared/gridenginemaster string $(hostname)
END
    apt_install gridengine-master gridengine-exec gridengine-client
}

configure() { # after qmaster is up: host, global config, scheduler, smp pe, all.q
    local h t slots=$(( 4 * $(nproc) ))
    h=$(host)
    t=$(mktemp -d)
    qconf -as "$h" >/dev/null 2>&1 || true
    qconf -sconf global | sed -E \
        -e "s#^execd_spool_dir .*#execd_spool_dir $dir/execd#" \
        -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
        -e 's/^load_report_time .*/load_report_time 00:00:05/' \
        -e 's/^max_aj_tasks .*/max_aj_tasks 100000/' \
        -e 's/^max_aj_instances .*/max_aj_instances 10000/' | grep -v '^ ' > "$t/global"
    qconf -Mconf "$t/global" >/dev/null
    qconf -ssconf | sed -E \
        -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec 1/' \
        -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
        -e 's/^job_load_adjustments .*/job_load_adjustments NONE/' \
        -e 's/^load_adjustment_decay_time .*/load_adjustment_decay_time 0:0:0/' > "$t/sconf"
    qconf -Msconf "$t/sconf" >/dev/null
    printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$h" > "$t/exec"
    qconf -Ae "$t/exec" >/dev/null
    printf 'pe_name smp\nslots 9999\nuser_lists NONE\nxuser_lists NONE\nstart_proc_args NONE\nstop_proc_args NONE\nallocation_rule $pe_slots\ncontrol_slaves TRUE\njob_is_first_task TRUE\nurgency_slots min\naccounting_summary FALSE\nqsort_args NONE\n' > "$t/smp"
    qconf -Ap "$t/smp" >/dev/null
    qconf -sq | sed -E \
        -e 's/^qname .*/qname all.q/' -e "s/^hostlist .*/hostlist $h/" \
        -e "s/^slots .*/slots $slots/" -e 's/^load_thresholds .*/load_thresholds NONE/' \
        -e 's/^pe_list .*/pe_list smp/' -e 's/^rerun .*/rerun TRUE/' \
        -e 's/^notify .*/notify 00:00:05/' -e 's#^shell .*#shell /bin/bash#' \
        -e 's/^shell_start_mode .*/shell_start_mode unix_behavior/' > "$t/allq"
    qconf -Aq "$t/allq" >/dev/null
    rm -rf "$t"
}

start() {
    [ "$(id -u)" = 0 ] || fail "must run as root"
    install_packages
    mkdir -p "$pids"
    if is_ours sge_qmaster && is_ours sge_execd; then
        say "already running"
    else
        stop_daemons
        local h aliases
        h=$(host)
        rm -rf "$dir/spooldb" "$dir/qmaster" "$dir/execd"
        install -d -o sgeadmin -g sgeadmin -m 755 "$dir/spooldb" "$dir/qmaster" "$dir/execd" "$common" /run/gridengine
        sed -e "s#^spooling_params .*#spooling_params $dir/spooldb#" \
            -e "s#^qmaster_spool_dir .*#qmaster_spool_dir $dir/qmaster#" \
            /usr/share/gridengine/default-bootstrap > "$common/bootstrap"
        echo "$h" > "$common/act_qmaster"
        # 127.0.0.1 reverse-resolves to localhost here: SGE must know both names are this host
        aliases=$(getent hosts 127.0.0.1 "$h" 2>/dev/null | awk '{for (i = 2; i <= NF; i++) print $i}' | grep -vx "$h" | sort -u | tr '\n' ' ')
        echo "$h localhost $aliases" | tr -s ' ' > "$common/host_aliases"
        chown sgeadmin:sgeadmin "$common/bootstrap" "$common/act_qmaster" "$common/host_aliases"
        runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster "$SGE_ROOT" "$SGE_CELL" "$dir/spooldb" sgeadmin \
            > "$dir/init_cluster.log" 2>&1 || fail "init_cluster failed"
        /usr/sbin/sge_qmaster </dev/null > "$dir/qmaster-start.log" 2>&1 || fail "sge_qmaster did not start"
        retry 10 test -s "$dir/qmaster/qmaster.pid" || fail "sge_qmaster wrote no pid"
        cp "$dir/qmaster/qmaster.pid" "$pids/sge_qmaster.pid"
        retry 60 qconf -sh || fail "sge_qmaster does not answer"
        configure
        /usr/sbin/sge_execd </dev/null > "$dir/execd-start.log" 2>&1 || fail "sge_execd did not start"
        retry 10 bash -c "ls $dir/execd/*/execd.pid" || fail "sge_execd wrote no pid"
        cp "$(ls "$dir"/execd/*/execd.pid | head -n1)" "$pids/sge_execd.pid"
    fi
    retry 60 queue_usable || { qstat -f >&2 || true; fail "queue all.q is not usable"; }
    say "ready: all.q@$(host)"
}


stop_daemons() {
    if is_ours sge_qmaster; then
        qdel -u '*' >/dev/null 2>&1 || true
        retry 15 bash -c '[ -z "$(qstat -u "*" 2>/dev/null)" ]' || true
    fi
    stop_pid sge_execd
    stop_pid sge_qmaster
}

case "$cmd" in
    start) start ;;
    stop) stop_daemons; say "stopped" ;;
    env) echo "export SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL" ;;
    *) echo "usage: $0 start|stop|env [DIR]" >&2; exit 2 ;;
esac
