"""SLURM: directives, submission, state queries and limits (pure: argv in, parsed text out)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import shell
from .arrays import ArrayChunk
from .resources import Resources

NAME = "slurm"
TEMPLATE = "slurm.sh.j2"
FIRST_INDEX = 0
INDEX_VAR = "SLURM_ARRAY_TASK_ID"
DEFAULT_MAX_ARRAY_SIZE = 1001


def directives(res: Resources, chunk: ArrayChunk, *, cpus: int) -> list[str]:
    """The ``#SBATCH`` lines of one array chunk."""
    array = f"{chunk.first}-{chunk.last}"
    if res.array_throttle:
        array += f"%{res.array_throttle}"
    lines = [
        f"--job-name={res.job_name}",
        f"--array={array}",
        # relative: tasks start in the folder sbatch ran in (the output folder)
        "--output=%x-%A_%a.out",
        "--open-mode=append",  # a requeued task adds to its output instead of erasing it
        f"--cpus-per-task={cpus}",
        f"--nodes={res.nodes}",
        "--ntasks=1",
        "--requeue",
        # warn the batch step (our exec'd worker) before the limit: it checkpoints and exits
        f"--signal=B:USR1@{res.signal_lead_s}",
    ]
    if res.walltime:
        lines.append(f"--time={res.walltime}")
    if res.mem_mb:
        lines.append(f"--mem={res.mem_mb}M")
    if res.gpus:
        lines.append(f"--gres=gpu:{res.gpus}")
    for key in ("partition", "account", "qos", "constraint"):
        value = getattr(res, key)
        if value:
            lines.append(f"--{key}={value}")
    return [f"#SBATCH {line}" for line in lines] + list(res.extra_directives)


def submit_argv(script: str) -> list[str]:
    return ["sbatch", "--parsable", script]


def parse_job_id(stdout: str) -> str:
    """``sbatch --parsable`` prints ``jobid[;cluster]``."""
    text = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job = text.split(";")[0]
    if not job.isdigit():
        raise shell.SchedulerError(f"cannot read a job id from sbatch's answer {stdout!r}.")
    return job


def query_argv(job_ids: Sequence[str]) -> list[str]:
    return ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(job_ids)]


def parse_states(stdout: str) -> dict[str, str]:
    """``{"123_4": "RUNNING", ...}`` from ``squeue -h -r -o '%i %T'``."""
    states = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["scancel", *job_ids]


def requeue_argv(job_id: str, task: str | None) -> list[str]:
    """Requeue one array task (or job): it reruns later with SLURM_RESTART_COUNT + 1."""
    return ["scontrol", "requeue", f"{job_id}_{task}" if task else job_id]


def max_array_size() -> int:
    """The site's ``MaxArraySize`` from ``scontrol show config`` (SLURM's default if unknown)."""
    try:
        out = shell.run(["scontrol", "show", "config"], timeout_s=20).stdout
    except shell.SchedulerError:
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.M)
    return int(match.group(1)) if match else DEFAULT_MAX_ARRAY_SIZE
