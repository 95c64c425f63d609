#!/usr/bin/env bash
# A real single-node SLURM cluster for xyzfarm's tests: munged + slurmctld + slurmd from
# Debian's packages, on 127.0.0.1, as root, without systemd.
#
#   scripts/local-slurm.sh start [DIR]   install if needed, start, wait until the node is usable
#   scripts/local-slurm.sh stop  [DIR]   cancel jobs, stop only the daemons this script started
#   scripts/local-slurm.sh env   [DIR]   print "export SLURM_CONF=..." for the cluster in DIR
#
# DIR (default build/slurm under the repository) holds slurm.conf, gres.conf, state, spool,
# logs and the pid files of what this script started. The daemons are stopped by those pids,
# never by name. Knobs: XYZ_SLURM_MAX_ARRAY (MaxArraySize, default 100001), XYZ_SLURM_GPUS
# (fake GPUs declared as gres, default 2), XYZ_SLURM_WAIT (seconds to wait, default 60),
# XYZ_SLURM_ACCOUNTING (1: also MariaDB + slurmdbd, so that sacct answers, and memory as a
# consumable resource with a task over its --mem killed: jobacct_gather/linux with
# OverMemoryKill, sampled every second, needs no cgroups; jobs without --mem get
# XYZ_SLURM_DEF_MEM_MB, default 512, per CPU; default 0), XYZ_SLURM_PORT (slurmctld's port,
# default 6817; slurmd, slurmdbd and MariaDB take the next three), so that a second cluster
# can be tried beside a running one. The database lives in DIR/db.
set -euo pipefail

say() { printf '[local-slurm] %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; show_logs; exit 1; }

cmd=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${2:-$here/build/slurm}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
conf=$dir/slurm.conf
pids=$dir/pids
logs=$dir/log
export SLURM_CONF=$conf
node=$(hostname -s 2>/dev/null || echo localhost)
[[ "$node" =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || node=localhost

show_logs() {
    for f in "$logs"/*.log; do
        [ -f "$f" ] && { printf -- '----- last lines of %s\n' "$f" >&2; tail -n 30 "$f" >&2; }
    done
    return 0
}



# shellcheck source=scripts/daemons.sh
. "$here/scripts/daemons.sh"

accounting=${XYZ_SLURM_ACCOUNTING:-0}
db=$dir/db
ctld_port=${XYZ_SLURM_PORT:-6817}
slurmd_port=$((ctld_port + 1))
dbd_port=$((ctld_port + 2))
db_port=$((ctld_port + 3))
db_password=xyzfarm-local  # reachable only on 127.0.0.1 of a throw-away test machine

node_usable() { sinfo -h -N -n "$node" -o %t 2>/dev/null | grep -Eq '^(idle|mix|mixed|alloc|allocated)'; }
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then return 0; fi
    install -d -o munge -g munge -m 700 /etc/munge /var/log/munge
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 711 /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --force </dev/null >"$logs/munged-start.log" 2>&1 \
        || fail "munged did not start"
    retry 10 munge_works || fail "munged does not answer"
    cp /run/munge/munged.pid "$pids/munged.pid"
}

# the slurm.conf lines of accounting: none, or slurmdbd + per-task memory limits enforced
accounting_config() {
    if [ "$accounting" != 1 ]; then
        printf '%s\n' AccountingStorageType=accounting_storage/none JobAcctGatherType=jobacct_gather/none
        return
    fi
    # OverMemoryKill: without cgroups, only the gatherer's sampling (every second) can kill a
    # step over its --mem; sacct then says FAILED 0:9 and the task output "Exceeded job memory"
    cat <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
DefMemPerCPU=${XYZ_SLURM_DEF_MEM_MB:-512}
EOF
}

db_answers() { mariadb-admin --no-defaults -S "$db/mysqld.sock" -u root ping; }

# MariaDB on 127.0.0.1:$db_port with its files in $db, then slurmdbd in front of it
start_accounting() {
    if ! is_ours mariadbd; then
        if [ ! -d "$db/data/mysql" ]; then
            install -d -o mysql -g mysql -m 750 "$db"
            mariadb-install-db --no-defaults --user=mysql --datadir="$db/data" \
                --auth-root-authentication-method=socket --skip-test-db \
                >"$logs/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
        fi
        setsid mariadbd --no-defaults --user=mysql --datadir="$db/data" \
            --socket="$db/mysqld.sock" --port="$db_port" --bind-address=127.0.0.1 \
            --pid-file="$db/mysqld.pid" --log-error="$logs/mariadb.log" --skip-name-resolve \
            --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
        retry 30 db_answers || fail "mariadbd does not answer"
        cp "$db/mysqld.pid" "$pids/mariadbd.pid"
    fi
    # idempotent: the user and grant are re-stated at every start
    mariadb --no-defaults -S "$db/mysqld.sock" -u root -e \
        "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_password';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;" \
        || fail "cannot create the slurm database user"
    (umask 077 && cat > "$dir/slurmdbd.conf" <<EOF
# written by xyzfarm scripts/local-slurm.sh (slurmdbd refuses a world-readable file)
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$logs/slurmdbd.log
PidFile=$pids/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$db_password
StorageLoc=slurm_acct_db
EOF
    )
    if ! is_ours slurmdbd; then
        slurmdbd </dev/null >"$logs/slurmdbd-start.log" 2>&1 || fail "slurmdbd did not start"
    fi
    retry 30 sacctmgr -n list cluster || fail "slurmdbd does not answer"
    sacctmgr -i add cluster xyzfarm-local >/dev/null 2>&1 || true
}

# whether the running cluster was configured with the accounting this start asks for
config_matches() {
    local has=0
    grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$conf" 2>/dev/null && has=1
    [ "$has" = "$accounting" ]
}

write_config() {
    local topo gres="" gpus=${XYZ_SLURM_GPUS:-2} i
    topo=$(slurmd -C 2>/dev/null | head -n1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime=.*//')
    [ -n "$topo" ] || topo="CPUs=$(nproc)"
    : > "$dir/gres.conf"
    if [ "$gpus" -gt 0 ]; then
        mkdir -p "$dir/gpu"
        for ((i = 0; i < gpus; i++)); do
            # slurmd accepts only device files here: a clone of /dev/null will do
            # (a symlink to /dev/null where mknod is not allowed, e.g. in some containers)
            [ -c "$dir/gpu/nvidia$i" ] || mknod -m 666 "$dir/gpu/nvidia$i" c 1 3 2>/dev/null \
                || ln -sfn /dev/null "$dir/gpu/nvidia$i"
        done
        gres=" Gres=gpu:$gpus"
        echo "NodeName=$node Name=gpu File=$dir/gpu/nvidia[0-$((gpus - 1))]" > "$dir/gres.conf"
    fi
    cat > "$conf" <<EOF
# written by xyzfarm scripts/local-slurm.sh: a one-node test cluster
ClusterName=xyzfarm-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$pids/slurmctld.pid
SlurmdPidFile=$pids/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=1,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=$([ "$accounting" = 1 ] && echo CR_Core_Memory || echo CR_Core)
MaxArraySize=${XYZ_SLURM_MAX_ARRAY:-100001}
MaxJobCount=100000
MinJobAge=300
KillWait=5
InactiveLimit=0
JobCompType=jobcomp/filetxt
JobCompLoc=$logs/jobcomp.txt
$(accounting_config)
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 $topo$gres State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:32
PartitionName=strict Nodes=$node Default=NO MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start() {
    [ "$(id -u)" = 0 ] || fail "must run as root (the daemons run as root here)"
    mkdir -p "$pids" "$logs"
    apt_install slurmctld slurmd slurm-client munge
    if [ "$accounting" = 1 ]; then apt_install slurmdbd mariadb-server mariadb-client; fi
    if is_ours slurmctld && is_ours slurmd && config_matches \
        && { [ "$accounting" != 1 ] || { is_ours slurmdbd && is_ours mariadbd; }; }; then
        say "already running"
    else
        stop_daemons
        rm -rf "$dir/state" "$dir/spool" "$db" "$logs"/*.log
        mkdir -p "$dir/state" "$dir/spool"
        start_munge
        write_config
        if [ "$accounting" = 1 ]; then start_accounting; fi
        slurmctld </dev/null >"$logs/slurmctld-start.log" 2>&1 || fail "slurmctld did not start"
        retry 20 scontrol ping || fail "slurmctld does not answer"
        slurmd </dev/null >"$logs/slurmd-start.log" 2>&1 || fail "slurmd did not start"
    fi
    retry "${XYZ_SLURM_WAIT:-60}" node_usable || { sinfo -N -l >&2 || true; fail "node $node is not usable"; }
    if [ "$accounting" = 1 ]; then
        retry 30 sacct -n -X -j 1 || fail "sacct does not answer"
    fi
    say "ready: node $node, $(sinfo -h -N -o '%c CPUs, gres %G' | head -n1), SLURM_CONF=$conf$(
        [ "$accounting" = 1 ] && echo ', accounting (sacct) on')"
}


stop_daemons() {
    if is_ours slurmctld; then
        local jobs
        jobs=$(squeue -h -o %F 2>/dev/null | sort -u | tr '\n' ' ')
        if [ -n "${jobs// /}" ]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            retry 15 bash -c '[ -z "$(squeue -h -o %i 2>/dev/null)" ]' || true
        fi
    fi
    stop_pid slurmd
    stop_pid slurmctld
    stop_pid slurmdbd
    stop_pid mariadbd
}

case "$cmd" in
    start) start ;;
    stop) stop_daemons; stop_pid munged; say "stopped" ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) echo "usage: $0 start|stop|env [DIR]" >&2; exit 2 ;;
esac
