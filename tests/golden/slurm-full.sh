#!/bin/bash
#SBATCH --job-name=sweep-1
#SBATCH --array=0-1%4
#SBATCH --output=%x-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --cpus-per-task=8
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --requeue
#SBATCH --signal=B:USR1@60
#SBATCH --time=01:05:00
#SBATCH --mem=8192M
#SBATCH --gres=gpu:2
#SBATCH --partition=gpu
#SBATCH --account=proj42
#SBATCH --qos=long
#SBATCH --constraint=a100
# site: needs exclusive nodes

# xyzfarm array task for the crop sweep: it grows the batches that the map file gives
# to this task's array index. Rendered from xyzfarm/schedulers/templates/slurm.sh.j2: change
# the template (or your own copy in a template folder), not this file. To submit it by hand:
#   cd /scratch/my project/.xyz-sweep/logs && sbatch chunk-0.sh
set -eu
# requeued tasks (preemption, node failure) resume from their checkpoints
echo "xyzfarm: job ${SLURM_ARRAY_JOB_ID:-?} task ${SLURM_ARRAY_TASK_ID:-?} on $(hostname), restart ${SLURM_RESTART_COUNT:-0}"
module load python/3.11
source ~/venvs/sim/bin/activate

# the session's working directory and its own path entries, before what setup exported
cd '/home/me/my notebooks' || { echo "xyzfarm: the working directory of the session that submitted this task, "'/home/me/my notebooks'", is gone: restore it, or grow again from an existing folder." >&2; exit 2; }
export PYTHONPATH=/opt/site"${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export XYZFARM_MAX_REQUEUES=1
export OMP_NUM_THREADS=2
export MKL_NUM_THREADS=2
export OPENBLAS_NUM_THREADS=2
export VECLIB_MAXIMUM_THREADS=2
export NUMEXPR_NUM_THREADS=2
export NUMBA_NUM_THREADS=2

exec /opt/venv/bin/python -m xyzfarm.worker task '/scratch/my project/.xyz-sweep' \
    --map '/scratch/my project/.xyz-sweep/jobs/J/chunk-0.map.json' --task "${SLURM_ARRAY_TASK_ID:-0}" \
    --workers 4 --threads 2

