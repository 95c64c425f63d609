"""Cluster benchmarks on the local one-node SLURM (``make bench`` starts it).

1. Submitting 10,000 batches with MaxArraySize 1001: number of sbatch calls and client time
   (planning, map files, rendering, submitting); the jobs are cancelled right after.
2. Time from ``grow(scheduler="slurm")`` to the reaped Dataset for 100 trivial batches,
   side by side with submitit's ``map_array`` of the same work (100 jobs each computing one
   batch of cases, results gathered and labelled).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xyzfarm

HERE = str(Path(__file__).resolve().parent)
sys.path.insert(0, HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
from trivial import add_xy  # noqa: E402


def batch_of(rows: list[tuple[int, int]]) -> list[int]:
    return [add_xy(x, y) for x, y in rows]


def submit_10k(tmp: Path) -> tuple[float, int]:
    crop = xyzfarm.Runner(add_xy, "v").Crop(name="many", parent_dir=str(tmp), batchsize=1)
    crop.sow_combos({"x": range(100), "y": range(100)}, verbosity=0)
    start = time.perf_counter()
    job = crop.grow(scheduler="slurm", max_array_size=1001, job_name="bench-10k")
    elapsed = time.perf_counter() - start
    job.cancel()
    return elapsed, len(job.job_ids)


def xyzfarm_100(tmp: Path, name: str) -> float:
    runner = xyzfarm.Runner(add_xy, "v")
    crop = runner.Crop(name=name, parent_dir=str(tmp), num_batches=100)
    crop.sow_combos({"x": range(100), "y": range(10)}, verbosity=0)
    start = time.perf_counter()
    job = crop.grow(scheduler="slurm", job_name="bench-100")
    job.wait(poll_interval_s=0.2)
    crop.reap()
    return time.perf_counter() - start


def submitit_100(tmp: Path) -> float:
    import submitit

    rows = [(x, y) for x in range(100) for y in range(10)]
    batches = [rows[i : i + 10] for i in range(0, len(rows), 10)]
    executor = submitit.AutoExecutor(folder=tmp / "submitit", cluster="slurm")
    executor.update_parameters(
        timeout_min=10, slurm_partition="debug", slurm_array_parallelism=1000
    )
    start = time.perf_counter()
    jobs = executor.map_array(batch_of, batches)
    results = [r for job in jobs for r in job.result()]
    xyzfarm.combo_runner_to_ds(
        lambda x, y: results[x * 10 + y], {"x": range(100), "y": range(10)}, "v", verbosity=0
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF"):
        print("bench_clusters: no SLURM_CONF; run via `make bench` (starts the local SLURM)")
        return 1
    with tempfile.TemporaryDirectory(dir=Path.home()) as name:
        tmp = Path(name)
        seconds, calls = submit_10k(tmp)
        subprocess.run(["scancel", "--name=bench-10k"], check=False)
        ours = [xyzfarm_100(tmp, f"c{i}") for i in range(args.repeats)]
        theirs = [submitit_100(tmp) for _ in range(args.repeats)]
    print(
        f"submit 10,000 batches (MaxArraySize 1001): {calls} sbatch calls, "
        f"{seconds:.2f} s of client time"
    )
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(
        f"100 trivial batches, submit to reaped Dataset: xyzfarm {ours_s:.2f} s, "
        f"submitit map_array {theirs_s:.2f} s (submitit / xyzfarm = {theirs_s / ours_s:.2f}x); "
        f"median of {args.repeats}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
