#!/bin/bash
#BSUB -J "sweep-1[1-2]%4"
#BSUB -o sweep-1-%J_%I.out
#BSUB -n 8
#BSUB -R "span[hosts=1]"
#BSUB -wa USR1
#BSUB -wt 1
#BSUB -W 65
#BSUB -M 8192MB
#BSUB -R "rusage[mem=8192MB]"
#BSUB -gpu "num=2"
#BSUB -q gpu
#BSUB -P proj42
# site: needs exclusive nodes

# xyzfarm array task for the crop sweep: it grows the batches that the map file gives
# to this task's array index. Rendered from xyzfarm/schedulers/templates/lsf.sh.j2: change
# the template (or your own copy in a template folder), not this file. To submit it by hand:
#   cd /scratch/my project/.xyz-sweep/logs && sbatch chunk-0.sh
set -eu
# a task warned before its run limit (-wa/-wt) requeues itself and resumes from its checkpoints
echo "xyzfarm: job ${LSB_JOBID:-?} index ${LSB_JOBINDEX:-?} on $(hostname)"
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
    --map '/scratch/my project/.xyz-sweep/jobs/J/chunk-0.map.json' --task "${LSB_JOBINDEX:-1}" \
    --workers 4 --threads 2

