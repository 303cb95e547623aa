#!/usr/bin/env bash
# A real single-host Slurm cluster for the tests: munged + slurmctld + slurmd on loopback, one node
# `llammas` with 2 CPUs, partition `debug`. Debian's slurm-wlm and munge; run as root.
#
#   deploy/slurm/ci_cluster.sh install   # apt-get install slurm-wlm munge (slurmctld, slurmd, sbatch...)
#   deploy/slurm/ci_cluster.sh start     # writes /etc/slurm/slurm.conf, starts the daemons, waits for an idle node
#   deploy/slurm/ci_cluster.sh stop      # cancels every job, stops the daemons it started
#   deploy/slurm/ci_cluster.sh status
#
# No cgroups (containers rarely allow them): proctrack/linuxproc, task/none; no accounting daemon
# (slurmdbd), so a finished job is known to `scontrol show job` for MinJobAge seconds only.
set -euo pipefail

STATE=${LLAMMAS_SLURM_STATE:-/var/lib/llammas-slurm}
CONF=/etc/slurm/slurm.conf
NODE=llammas
CPUS=${LLAMMAS_SLURM_CPUS:-2}

log() { echo "[slurm-ci] $*"; }

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    log "slurm-wlm and munge already installed"; return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  log "installed $(slurmctld -V) and $(munged -V 2>&1 | head -1)"
}

write_conf() {
  local mem_mb
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
  cat >"$CONF" <<EOF
# written by deploy/slurm/ci_cluster.sh: a one-node test cluster on loopback
ClusterName=llammas-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=900
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n </dev/null >/dev/null 2>&1; then log "munged already running"; return; fi
  [ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  echo started >"$STATE/munged.ours"
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && return; sleep 0.1; done
  log "munged did not start"; return 1
}

start() {
  local t0; t0=$(date +%s.%N)
  # (sinfo alone would retry for ~10 s when no controller runs)
  if pgrep -x slurmctld >/dev/null && sinfo -h -o %t 2>/dev/null | grep -qx idle; then log "a cluster is already up"; return; fi
  command -v slurmctld >/dev/null || { log "slurmctld not installed (run: $0 install)"; return 1; }
  write_conf
  start_munge
  rm -rf "$STATE/ctld" "$STATE/d" && mkdir -p "$STATE/ctld" "$STATE/d"
  slurmctld -c   # -c: no jobs from an earlier run (a fresh cluster every time)
  slurmd -N "$NODE"
  for _ in $(seq 300); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
      local t1; t1=$(date +%s.%N)
      log "up in $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"
      return
    fi
    # a node left down by an unclean stop comes back
    sinfo -h -o %t 2>/dev/null | grep -qE 'down|drain' && scontrol update nodename="$NODE" state=resume 2>/dev/null || true
    sleep 0.2
  done
  log "no idle node after 60 s; logs in $STATE"; tail -5 "$STATE"/slurm*.log; return 1
}

stop_pid() {  # stop the daemon whose pid file is $1, waiting up to 10 s
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  if pgrep -x slurmctld >/dev/null; then
    scancel --full --user=root 2>/dev/null || true   # jobs of this private cluster only
    for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  stop_pid "$STATE/slurmd.pid"
  stop_pid "$STATE/slurmctld.pid"
  if [ -f "$STATE/munged.ours" ]; then
    stop_pid /run/munge/munged.pid
    rm -f "$STATE/munged.ours"
  fi
  log "stopped"
}

status() { sinfo && squeue; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
