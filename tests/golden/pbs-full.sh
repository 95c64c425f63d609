#!/bin/bash
#PBS -N sweep-1
#PBS -l select=1:ncpus=8:mem=8192mb:ngpus=2
#PBS -r y
#PBS -j oe
#PBS -J 0-1%4
#PBS -l walltime=01:05:00
#PBS -q gpu
#PBS -A proj42
# site: needs exclusive nodes

# xyzfarm array task for the crop sweep: it grows the batches that the map file gives
# to this task's array index. Rendered from xyzfarm/schedulers/templates/pbs.sh.j2: change
# the template (or your own copy in a template folder), not this file. To submit it by hand:
#   cd /scratch/my project/.xyz-sweep/logs && sbatch chunk-0.sh
set -eu
echo "xyzfarm: job ${PBS_JOBID:-?} index ${PBS_ARRAY_INDEX:-0} on $(hostname)"
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
    --map '/scratch/my project/.xyz-sweep/jobs/J/chunk-0.map.json' --task "${PBS_ARRAY_INDEX:-0}" \
    --workers 4 --threads 2

