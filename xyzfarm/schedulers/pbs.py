"""PBS Pro / OpenPBS: directives, submission, state queries (pure: argv in, parsed text out)."""

from __future__ import annotations

from collections.abc import Sequence

from . import shell
from .arrays import ArrayChunk
from .resources import Resources

NAME = "pbs"
TEMPLATE = "pbs.sh.j2"
FIRST_INDEX = 0
INDEX_VAR = "PBS_ARRAY_INDEX"
DEFAULT_MAX_ARRAY_SIZE = 10001


def directives(res: Resources, chunk: ArrayChunk, *, cpus: int) -> list[str]:
    """The ``#PBS`` lines of one array chunk (a single task is submitted without ``-J``)."""
    select = f"select={res.nodes}:ncpus={cpus}"
    if res.mem_mb:
        select += f":mem={res.mem_mb}mb"
    if res.gpus:
        select += f":ngpus={res.gpus}"
    # no -o: output lands in the folder qsub ran in (the output folder), no path to quote
    lines = [f"-N {res.job_name[:15]}", f"-l {select}", "-r y", "-j oe"]
    if len(chunk.tasks) > 1:
        array = f"-J {chunk.first}-{chunk.last}"
        if res.array_throttle:
            array += f"%{res.array_throttle}"  # PBS Pro >= 2020: max_run_subjobs
        lines.append(array)
    if res.walltime:
        lines.append(f"-l walltime={res.walltime}")
    if res.partition:
        lines.append(f"-q {res.partition}")
    if res.account:
        lines.append(f"-A {res.account}")
    return [f"#PBS {line}" for line in lines] + list(res.extra_directives)


def submit_argv(script: str) -> list[str]:
    return ["qsub", script]


def parse_job_id(stdout: str) -> str:
    job = stdout.strip()
    if not job:
        raise shell.SchedulerError("qsub printed no job id.")
    return job


def query_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qstat", "-t", *job_ids]


def parse_states(stdout: str) -> dict[str, str]:
    states = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 5:
            states[parts[0]] = parts[4]
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qdel", *job_ids]


def max_array_size() -> int:
    return DEFAULT_MAX_ARRAY_SIZE
