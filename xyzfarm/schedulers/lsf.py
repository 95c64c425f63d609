"""IBM Spectrum LSF: directives, submission, state queries (pure: argv in, parsed text out).

Facts this module relies on (LSF 10.1): an array is a job name with an index range,
``-J "name[1-N]%k"`` (indices from 1, at most ``k`` running); ``bsub`` reads ``#BSUB`` lines
only from a script given on standard input (``bsub < script``; a script named as the command
needs ``LSB_BSUB_PARSE_SCRIPT=Y``); a task finds its index in ``LSB_JOBINDEX`` (0 outside an
array) and its job in ``LSB_JOBID``; ``-W`` takes minutes; ``-M`` takes a unit suffix;
``-wa``/``-wt`` send a signal some minutes before the run limit; ``brequeue`` kills a running
job or element and queues it again under the same id. LSF exports no requeue count, so a task
that requeues itself is counted by the worker (see ``xyzfarm.node.worker_cli``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import shell
from .base import JobEnvironment, State

if TYPE_CHECKING:  # annotations only: array tasks import this module to read their job
    from . import lsf as _this
    from .arrays import ArrayChunk
    from .base import Scheduler
    from .resources import Resources

NAME = "lsf"
TEMPLATE = "lsf.sh.j2"
FIRST_INDEX = 1  # LSF array indices start at 1
INDEX_VAR = "LSB_JOBINDEX"
DEFAULT_MAX_ARRAY_SIZE = 1001  # MAX_JOB_ARRAY_SIZE's default, 1000: indices 1..1000
SCRIPT_ON_STDIN = True
#: a job id as bsub prints it
JOB_ID = re.compile(r"\d+")

#: ``bjobs``' STAT column, in scheduler-neutral words
STATES = {
    "PEND": State.PENDING,
    "PSUSP": State.PENDING,
    "WAIT": State.PENDING,  # a chunk job's member waiting for its turn
    "RUN": State.RUNNING,
    "PROV": State.RUNNING,  # its host is being provisioned
    "USUSP": State.RUNNING,
    "SSUSP": State.RUNNING,
    "DONE": State.DONE,
    "EXIT": State.FAILED,
}


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))  # rounded up: never less than asked


def directives(res: Resources, chunk: ArrayChunk, *, cpus: int) -> list[str]:
    """The ``#BSUB`` lines of one array chunk."""
    array = f"{res.job_name}[{chunk.first}-{chunk.last}]"
    if res.array_throttle:
        array += f"%{res.array_throttle}"
    lines = [
        f'-J "{array}"',
        # relative: tasks start in the folder bsub ran in (the output folder); -o appends, so a
        # requeued task adds to its output; without -e, stderr goes to the same file
        f"-o {res.job_name}-%J_%I.out",
        f"-n {cpus}",
        '-R "span[hosts=1]"',  # the task's worker pool runs on one host
        # warn the job (our exec'd worker) before the run limit: it checkpoints and requeues
        "-wa USR1",
        f"-wt {_minutes(res.signal_lead_s)}",
    ]
    if res.walltime:
        from .resources import walltime_seconds  # at render time: tasks never need it

        lines.append(f"-W {_minutes(walltime_seconds(res.walltime))}")
    if res.mem_mb:
        lines.append(f"-M {res.mem_mb}MB")
        lines.append(f'-R "rusage[mem={res.mem_mb}MB]"')
    if res.gpus:
        lines.append(f'-gpu "num={res.gpus}"')
    if res.partition:
        lines.append(f"-q {res.partition}")
    if res.account:
        lines.append(f"-P {res.account}")
    return [f"#BSUB {line}" for line in lines] + list(res.extra_directives)


def submit_argv(script: str) -> list[str]:
    """``bsub``, which reads ``script`` (with its ``#BSUB`` lines) on standard input."""
    return ["bsub"]


def parse_job_id(stdout: str) -> str:
    """``bsub`` prints ``Job <1234> is submitted to queue <normal>.``"""
    match = re.search(r"Job <(\d+)>", stdout)
    if not match:
        raise shell.SchedulerError(f"cannot read a job id from bsub's answer {stdout!r}.")
    return match.group(1)


def query_argv(job_ids: Sequence[str]) -> list[str]:
    return ["bjobs", "-noheader", "-o", "jobid jobindex stat", *job_ids]


def parse_states(stdout: str) -> dict[str, State]:
    """``{"1234[3]": State.RUNNING, ...}`` from ``bjobs -noheader -o "jobid jobindex stat"``
    (finished tasks are listed for a while: DONE and EXIT)."""
    states = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            job, index, stat = parts
            task = f"{job}[{index}]" if index not in ("0", "-") else job
            states[task] = STATES.get(stat, State.UNKNOWN)
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["bkill", *job_ids]


def dependency_directive(job_ids: Sequence[str]) -> str:
    condition = " && ".join(f"ended({job})" for job in job_ids)
    return f'#BSUB -w "{condition}"'


def throttle_update_argv(job_id: str, max_running: int) -> list[str]:
    """``bmod -J "%K"``: change how many elements of the array ``job_id`` run at once."""
    return ["bmod", "-J", f"%{max_running}", job_id]


def max_submit_jobs() -> int | None:
    """The per-user cap on jobs (``MAX_JOBS`` in lsb.users) is not readable by every user:
    none."""
    return None


def max_array_size() -> int:
    """``MAX_JOB_ARRAY_SIZE`` from ``bparams -a`` (LSF's default if unknown)."""
    try:
        out = shell.run(["bparams", "-a"], timeout_s=20).stdout
    except shell.SchedulerError:
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^\s*MAX_JOB_ARRAY_SIZE\s*=\s*(\d+)", out, re.M)
    return int(match.group(1)) + 1 if match else DEFAULT_MAX_ARRAY_SIZE


def job_environment(env: Mapping[str, str]) -> JobEnvironment | None:
    job = env.get("LSB_JOBID")
    if not job:
        return None
    index = env.get("LSB_JOBINDEX") or ""
    return JobEnvironment(NAME, job, "" if index == "0" else index, None)


def requeue_argv(job: JobEnvironment) -> list[str]:
    """``brequeue`` this element (or job): LSF kills it and queues it again, same id."""
    return ["brequeue", f"{job.job_id}[{job.task_index}]" if job.task_index else job.job_id]


if TYPE_CHECKING:  # mypy checks this module against the protocol
    _checked: Scheduler = _this
