"""PBS Pro / OpenPBS: directives, submission, state queries (pure: argv in, parsed text out)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import shell
from .base import JobEnvironment, State

if TYPE_CHECKING:  # annotations only: array tasks import this module to read their job
    from . import pbs as _this
    from .arrays import ArrayChunk
    from .base import Scheduler
    from .resources import Resources

NAME = "pbs"
TEMPLATE = "pbs.sh.j2"
FIRST_INDEX = 0
INDEX_VAR = "PBS_ARRAY_INDEX"
DEFAULT_MAX_ARRAY_SIZE = 10001
SCRIPT_ON_STDIN = False
#: a job id as qsub prints it: the number, ``[]`` for an array, then the server
JOB_ID = re.compile(r"\d+(\[\])?(\.[A-Za-z0-9][A-Za-z0-9_.-]*)?")

#: ``qstat``'s one-letter states, in scheduler-neutral words (X, F: a subjob or job that has
#: ended, however it ended: ``qstat`` without ``-x -f`` does not say)
STATES = {
    **dict.fromkeys("QHWT", State.PENDING),
    **dict.fromkeys("RBESU", State.RUNNING),
    **dict.fromkeys("XF", State.DONE),
}


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
    if not JOB_ID.fullmatch(job):
        raise shell.SchedulerError(f"cannot read a job id from qsub's answer {stdout!r}.")
    return job


def query_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qstat", "-t", *job_ids]


def parse_states(stdout: str) -> dict[str, State]:
    """``{"4567[1].srv": State.RUNNING, ...}`` from ``qstat -t``'s table (two header lines)."""
    states = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 5:
            states[parts[0]] = STATES.get(parts[4], State.UNKNOWN)
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qdel", *job_ids]


def throttle_update_argv(job_id: str, max_running: int) -> list[str]:
    """Change the throttle of a queued array (PBS Pro 2020+: ``max_run_subjobs``)."""
    return ["qalter", "-W", f"max_run_subjobs={max_running}", job_id]


def max_submit_jobs() -> int | None:
    """The per-user cap on queued jobs: not read on PBS (``max_queued`` is a server
    attribute few users may list), so none."""
    return None


def dependency_directive(job_ids: Sequence[str]) -> str:
    return f"#PBS -W depend=afterany:{':'.join(job_ids)}"


def max_array_size() -> int:
    return DEFAULT_MAX_ARRAY_SIZE


def job_environment(env: Mapping[str, str]) -> JobEnvironment | None:
    job = env.get("PBS_JOBID")
    if not job:
        return None
    # PBS Pro keeps a run count as a job attribute, not in the task's environment
    return JobEnvironment(NAME, job, env.get("PBS_ARRAY_INDEX") or "", None)


def requeue_argv(job: JobEnvironment) -> None:
    """``qrerun`` is for operators on most sites: a warned task records a timeout instead."""
    return None


if TYPE_CHECKING:  # mypy checks this module against the protocol
    _checked: Scheduler = _this
