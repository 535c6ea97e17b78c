#!/usr/bin/env bash
# Run the example pipeline through a real SLURM scheduler and check it gives the same tables as a
# local run.
#
# What it does (as root, on a Debian machine; it is NOT part of the default test suite or CI):
#   1. installs Debian's slurm-wlm (slurmctld, slurmd, client tools) and munge (apt-get update
#      first) and the optional Python extra `.[slurm]` (snakemake-executor-plugin-slurm);
#   2. writes a single-node /etc/slurm/slurm.conf: SelectType=select/cons_tres, one node with this
#      machine's CPUs and memory (from `slurmd -C`), one partition `main`, no accounting database
#      (so sacct has nothing to report: job status is polled with squeue, which needs finished
#      jobs kept visible for a while: MinJobAge=600);
#   3. starts munged, slurmctld and slurmd as root and waits until `sinfo` shows the node idle;
#   4. runs the example workflow twice from one copy of its config, each into its own output
#      folder (paths.derived / paths.reports under $WORK): once locally (--cores 2) and once
#      through the SLURM executor with workflow/profiles/slurm (every job an sbatch job);
#   5. compares every file under reports/<trial>/tables/ byte for byte (report.html and
#      provenance.json carry the run time and are not compared; figures are compared too, for
#      information) and prints which files are identical;
#   6. stops the daemons it started (by their PIDs) and leaves the packages installed.
#
# Usage (from the project root, as root):
#   bash tests/slurm/run_slurm_example.sh                # the example as configured
#   M=5 bash tests/slurm/run_slurm_example.sh            # fewer imputations, for a quicker check
#   WORK=/tmp/slurm-run KEEP=1 bash tests/slurm/run_slurm_example.sh   # keep the outputs
# Environment: M (imputations; default: the config's imputation.m), CONFIG (default
# config/refocus.yaml), WORK (scratch folder; default a new temp folder), JOBS (SLURM jobs at once;
# default 4), KEEP=1 (keep WORK and the SLURM logs).
# Exit status: 0 when every compared table is byte-identical, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CONFIG="${CONFIG:-$ROOT/config/refocus.yaml}"
WORK="${WORK:-$(mktemp -d /tmp/trial-slurm-XXXXXX)}"
JOBS="${JOBS:-4}"
M="${M:-}"
NODE="$(hostname -s)"
PARTITION=main
STARTED_PIDS=()

say() { printf '\n== %s\n' "$*"; }

if [[ "$(id -u)" != 0 ]]; then
    echo "run as root: the single-node cluster's daemons run as root" >&2
    exit 2
fi

cleanup() {
    say "stopping the daemons this script started: ${STARTED_PIDS[*]:-none}"
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    sleep 2
    if [[ "${KEEP:-0}" != 1 ]]; then
        rm -rf "$WORK"
    else
        echo "outputs kept in $WORK"
    fi
}
trap cleanup EXIT

say "installing slurm-wlm and munge (Debian) and the SLURM executor plugin"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
python -m pip install --quiet -e "$ROOT[slurm]"
echo "$(sinfo --version 2>/dev/null), $(munged --version 2>&1 | head -1)," \
    "plugin $(python -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')"

say "writing a single-node slurm.conf"
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/munge
# slurmd -C prints this machine's node line (CPUs, boards, sockets, cores, threads, memory).
NODE_LINE="$(slurmd -C | head -1)"
CPUS="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")"
MEM="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")"
MEM=$((MEM - 1024))   # leave 1 GiB to the operating system and the daemons
cat >/etc/slurm/slurm.conf <<EOF
# Single-node test cluster written by tests/slurm/run_slurm_example.sh
ClusterName=trialtest
SlurmctldHost=$NODE
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups in a container: track processes by their parent, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# No accounting database: sacct cannot answer, squeue must still see jobs after they end.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
grep -E '^(SelectType|NodeName|PartitionName|MinJobAge|AccountingStorageType)' /etc/slurm/slurm.conf

say "starting munged, slurmctld and slurmd"
chown munge:munge /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
sleep 1
STARTED_PIDS+=("$(cat /run/munge/munged.pid)")
munge -n | unmunge | grep -q 'STATUS: *Success' && echo "munge: credentials round-trip"
rm -f /run/slurmctld.pid /run/slurmd.pid
slurmctld -i   # -i: ignore state left by an earlier run
for _ in $(seq 20); do [[ -s /run/slurmctld.pid ]] && break; sleep 0.5; done
STARTED_PIDS+=("$(cat /run/slurmctld.pid)")
slurmd
for _ in $(seq 20); do [[ -s /run/slurmd.pid ]] && break; sleep 0.5; done
STARTED_PIDS+=("$(cat /run/slurmd.pid)")

say "waiting for the node to be idle"
for attempt in $(seq 60); do
    state="$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)"
    [[ "$state" == idle ]] && break
    if [[ "$attempt" == 60 ]]; then
        echo "node state '$state' after 60 s; slurmctld log tail:" >&2
        tail -20 /var/log/slurm/slurmctld.log >&2
        exit 1
    fi
    sleep 1
done
sinfo

say "making the run config (outputs under $WORK)"
mkdir -p "$WORK/local" "$WORK/slurm"
python - "$CONFIG" "$WORK" "$ROOT" "$M" <<'EOF'
import sys
from pathlib import Path

import yaml

config_path, work, root, m = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
config = yaml.safe_load(open(config_path, encoding="utf-8"))
raw = Path(config["paths"]["raw"])
if m:
    config["imputation"]["m"] = int(m)
for run in ("local", "slurm"):
    run_config = dict(config)
    run_config["paths"] = {
        **config["paths"],
        "raw": str(raw if raw.is_absolute() else root / raw),
        "derived": str(work / run / "derived"),
        "reports": str(work / run / "reports"),
    }
    run_config["paths"].pop("expected", None)
    with open(work / run / "config.yaml", "w", encoding="utf-8") as out:
        yaml.safe_dump(run_config, out, sort_keys=False)
print(f"imputation.m = {config['imputation']['m']}, engine = {config['imputation']['engine']}")
EOF

snake() {  # snakemake on the project's Snakefile, in its own working directory
    local run="$1"
    shift
    python -m snakemake --snakefile "$ROOT/Snakefile" --directory "$WORK/$run" \
        --configfile "$WORK/$run/config.yaml" "$@"
}

say "local run (--cores 2)"
start=$(date +%s)
snake local --profile "$ROOT/workflow/profiles/local" --cores 2 --quiet rules \
    >"$WORK/local.log" 2>&1 || { tail -40 "$WORK/local.log"; exit 1; }
echo "local run: $(($(date +%s) - start)) s"

say "SLURM run (workflow/profiles/slurm, squeue status checks)"
start=$(date +%s)
snake slurm --profile "$ROOT/workflow/profiles/slurm" --jobs "$JOBS" \
    --default-resources "slurm_partition=$PARTITION" runtime=60 mem_mb=1000 \
    --slurm-status-command squeue --slurm-no-account \
    --slurm-init-seconds-before-status-checks 5 --slurm-keep-successful-logs \
    >"$WORK/slurm.log" 2>&1 &
snake_pid=$!
# Show the queue while the run goes on (squeue is the only job record without accounting).
while kill -0 "$snake_pid" 2>/dev/null; do
    squeue -h -o '%i %j %T %M %C %m' >>"$WORK/squeue.log" 2>/dev/null || true
    echo "--" >>"$WORK/squeue.log"
    sleep 5
done
wait "$snake_pid" || { tail -60 "$WORK/slurm.log"; exit 1; }
echo "SLURM run: $(($(date +%s) - start)) s"
submitted=$(grep -c 'submitted' "$WORK/slurm.log" || true)
echo "jobs submitted to SLURM: $submitted (Snakemake log: $WORK/slurm.log)"
echo "largest queue seen: $(awk '/^--$/ {print n; n=0; next} {n++}' "$WORK/squeue.log" | sort -n | tail -1) jobs"
echo "distinct SLURM job IDs seen by squeue: $(awk '$1 ~ /^[0-9]/ {print $1}' "$WORK/squeue.log" | sort -u | wc -l)"
echo "slurmd launched batch jobs: $(grep -c 'Launching batch job' /var/log/slurm/slurmd.log || true)"
echo "squeue now (finished jobs kept for MinJobAge):"
squeue -t all -h -o '%i %j %T' | awk '{print $3}' | sort | uniq -c

say "comparing result tables (byte for byte)"
status=0
local_reports="$(find "$WORK/local/reports" -maxdepth 0)"
for kind in tables figures; do
    while IFS= read -r file; do
        rel="${file#"$local_reports"/}"
        other="$WORK/slurm/reports/$rel"
        if [[ ! -f "$other" ]]; then
            echo "MISSING   $rel (not made by the SLURM run)"
            [[ "$kind" == tables ]] && status=1
        elif cmp -s "$file" "$other"; then
            echo "identical $rel"
        else
            echo "DIFFERENT $rel"
            [[ "$kind" == tables ]] && status=1
        fi
    done < <(find "$local_reports/$kind" -type f | sort)
done
if [[ "$status" == 0 ]]; then
    say "every table under reports/tables/ is byte-identical between the local and the SLURM run"
else
    say "some tables differ or are missing (see above)"
fi
exit "$status"
