"""(Son of) Grid Engine: directives, submission, state queries (pure: argv in, text out)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import shell
from .arrays import ArrayChunk
from .resources import Resources

NAME = "sge"
TEMPLATE = "sge.sh.j2"
FIRST_INDEX = 1  # SGE task ids start at 1
INDEX_VAR = "SGE_TASK_ID"
DEFAULT_MAX_ARRAY_SIZE = 75000


def directives(res: Resources, chunk: ArrayChunk, *, cpus: int) -> list[str]:
    """The ``#$`` lines of one array chunk."""
    lines = [
        f"-N {res.job_name}",
        f"-t {chunk.first}-{chunk.last}",
        "-cwd",  # output lands in the folder qsub ran in (the output folder)
        "-r y",
        "-notify",
        "-j y",
        "-S /bin/bash",
    ]
    if res.array_throttle:
        lines.append(f"-tc {res.array_throttle}")
    if cpus > 1:
        lines.append(f"-pe smp {cpus}")
    if res.walltime:
        lines.append(f"-l h_rt={res.walltime}")
    if res.mem_mb:
        # h_vmem is per slot in most SGE set-ups
        lines.append(f"-l h_vmem={max(1, res.mem_mb // max(cpus, 1))}M")
    if res.partition:
        lines.append(f"-q {res.partition}")
    if res.account:
        lines.append(f"-P {res.account}")
    return [f"#$ {line}" for line in lines] + list(res.extra_directives)


def submit_argv(script: str) -> list[str]:
    return ["qsub", "-terse", script]


def parse_job_id(stdout: str) -> str:
    """``qsub -terse`` prints ``jobid.first-last:step`` for arrays."""
    match = re.match(r"\s*(\d+)", stdout)
    if not match:
        raise shell.SchedulerError(f"cannot read a job id from qsub's answer {stdout!r}.")
    return match.group(1)


def query_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qstat", "-g", "d"]


def parse_states(stdout: str) -> dict[str, str]:
    states = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 5:
            task = parts[-1] if parts[-1].isdigit() else ""
            states[f"{parts[0]}.{task}" if task else parts[0]] = parts[4]
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qdel", *job_ids]


def max_array_size() -> int:
    try:
        out = shell.run(["qconf", "-sconf"], timeout_s=20).stdout
    except shell.SchedulerError:
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^max_aj_tasks\s+(\d+)", out, re.M)
    return int(match.group(1)) + 1 if match else DEFAULT_MAX_ARRAY_SIZE
