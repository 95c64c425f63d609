"""SLURM: directives, submission, state queries and limits (pure: argv in, parsed text out)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import accounting, shell
from .base import JobEnvironment, State, parse_restart_count

if TYPE_CHECKING:  # annotations only: array tasks import this module to read their job
    from . import slurm as _this
    from .arrays import ArrayChunk
    from .base import Scheduler
    from .resources import Resources

NAME = "slurm"
TEMPLATE = "slurm.sh.j2"
FIRST_INDEX = 0
INDEX_VAR = "SLURM_ARRAY_TASK_ID"
DEFAULT_MAX_ARRAY_SIZE = 1001
SCRIPT_ON_STDIN = False
#: a job id as sbatch prints it (an array task is written job_task, never submitted by id)
JOB_ID = re.compile(r"\d+")

#: squeue's long state names (``%T``), in scheduler-neutral words
STATES = {
    **dict.fromkeys(
        ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"), State.PENDING
    ),
    **dict.fromkeys(
        (
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
            "SUSPENDED",
            "STOPPED",
            "SIGNALING",
            "RESIZING",
            "STAGE_OUT",
        ),
        State.RUNNING,
    ),
    "COMPLETED": State.DONE,
    **dict.fromkeys(
        (
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "NODE_FAIL",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
            "OUT_OF_MEMORY",
            "SPECIAL_EXIT",
            "REVOKED",
        ),
        State.FAILED,
    ),
}


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


def parse_states(stdout: str) -> dict[str, State]:
    """``{"123_4": State.RUNNING, ...}`` from ``squeue -h -r -o '%i %T'``."""
    states = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = STATES.get(parts[1], State.UNKNOWN)
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["scancel", *job_ids]


def dependency_directive(job_ids: Sequence[str]) -> str:
    return f"#SBATCH --dependency=afterany:{':'.join(job_ids)}"


def job_environment(env: Mapping[str, str]) -> JobEnvironment | None:
    job = env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID")
    if not job:
        return None
    return JobEnvironment(
        NAME,
        job,
        env.get("SLURM_ARRAY_TASK_ID") or "",
        parse_restart_count(env.get("SLURM_RESTART_COUNT")),
    )


def requeue_argv(job: JobEnvironment) -> list[str]:
    """Requeue one array task (or job): it reruns later with SLURM_RESTART_COUNT + 1."""
    task = job.task_index
    return ["scontrol", "requeue", f"{job.job_id}_{task}" if task else job.job_id]


def throttle_update_argv(job_id: str, max_running: int) -> list[str]:
    """Change the throttle (``%N``) of a queued or running array."""
    return ["scontrol", "update", f"JobId={job_id}", f"ArrayTaskThrottle={max_running}"]


def parse_throttle(stdout: str) -> int | None:
    """The throttle shown by ``scontrol show job`` (``ArrayTaskThrottle=N``; 0: none)."""
    match = re.search(r"ArrayTaskThrottle=(\d+)", stdout)
    return int(match.group(1)) or None if match else None


def max_submit_jobs() -> int | None:
    """The per-user cap on queued jobs (array tasks count), from ``sacctmgr``; None if none
    is set or accounting is off (``sacctmgr`` then refuses)."""
    argv = ["sacctmgr", "-n", "-P", "show", "assoc", "format=MaxSubmitJobs,MaxJobs"]
    user = os.environ.get("USER")
    if user:
        argv.insert(5, f"user={user}")
    try:
        out = shell.run(argv, timeout_s=20, check=False)
    except shell.SchedulerError:
        return None
    return parse_max_submit(out.stdout) if out.returncode == 0 else None


def parse_max_submit(stdout: str) -> int | None:
    """The smallest MaxSubmitJobs of ``sacctmgr -n -P ... format=MaxSubmitJobs,MaxJobs``."""
    caps = [int(f) for line in stdout.splitlines() for f in line.split("|")[:1] if f.isdigit()]
    return min(caps) if caps else None


def max_array_size() -> int:
    """The site's ``MaxArraySize`` from ``scontrol show config`` (SLURM's default if unknown)."""
    try:
        out = shell.run(["scontrol", "show", "config"], timeout_s=20).stdout
    except shell.SchedulerError:
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.M)
    return int(match.group(1)) if match else DEFAULT_MAX_ARRAY_SIZE


# -- accounting (sacct): how tasks ended ------------------------------------------------------

#: sacct's states of a task that has not ended (it may still write its result)
_LIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SPECIAL_EXIT",
    }
)
#: sacct's final states that name another of our classes
_FINAL_STATES = {
    "DEADLINE": accounting.TIMEOUT,
    "BOOT_FAIL": accounting.NODE_FAIL,
    "REVOKED": accounting.CANCELLED,
}


#: sacct tells pending and running tasks as well as ended ones: one call answers a whole poll
ACCOUNTING_LISTS_LIVE_TASKS = True
#: sacct lists a task from its start: there is no lag to wait out
ACCOUNTING_LAG_S = 0.0


def accounting_argv(job_ids: Sequence[str], since_epoch: float | None = None) -> list[str]:
    """One ``sacct`` call for every task of ``job_ids``: allocations only (``-X``), parsable.

    Without ``-S`` sacct looks at today only, except with ``-j``: then from the epoch (so
    ``since_epoch`` is not needed: job ids are not reused while the controller keeps state).
    """
    return ["sacct", "-j", ",".join(job_ids), "-X", "-n", "-P", "-o", "JobID,State,ExitCode"]


def task_key(job_id: str, index: int) -> str:
    """How squeue and sacct name task ``index`` of array job ``job_id``."""
    return f"{job_id}_{index}"


def _array_indices(spec: str) -> list[int]:
    """``1,3-5%2`` (the bracket of ``123_[1,3-5%2]``, a pending array's tasks) as indices."""
    indices: list[int] = []
    for part in spec.split("%")[0].split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            indices.extend(range(int(first), int(last or first) + 1))
    return indices


def classify_end(state: str, exit_code: str) -> accounting.TaskEnd:
    """The :class:`~xyzfarm.schedulers.accounting.TaskEnd` of sacct's ``State`` and
    ``ExitCode`` (``status:signal``).

    ``FAILED`` with signal 9 may be a kill for memory (jobacct_gather's OverMemoryKill says so
    only in the task's output, see :data:`~xyzfarm.schedulers.accounting.SLURM_MEMORY_KILL_MARKS`):
    the caller, which knows where that output is, decides.
    """
    word = state.split()[0] if state.strip() else "UNKNOWN"  # "CANCELLED by 0"
    status, _, sig = exit_code.partition(":")
    code = int(status) if status.isdigit() else 0
    signal = int(sig) if sig.isdigit() else 0
    detail = f"{state.strip()} {exit_code.strip()}"
    if word in _LIVE_STATES or word == "UNKNOWN":
        return accounting.TaskEnd(word, False, detail=detail)
    word = _FINAL_STATES.get(word, word)
    if word not in accounting.CLASSES:
        word = accounting.FAILED
    return accounting.TaskEnd(word, True, code, signal, detail)


def parse_accounting(stdout: str) -> dict[str, accounting.TaskEnd]:
    """``{"123_4": TaskEnd, ...}`` from :func:`accounting_argv`'s answer.

    Reads every JobID form SLURM 22.05 prints: ``123_4`` (a task), ``123_[5-9%2]`` (tasks
    still pending, listed once), ``123`` (a job that is no array), and skips steps
    (``123_4.batch``, ``123_4.extern``) and lines it cannot read.
    """
    ends: dict[str, accounting.TaskEnd] = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or "." in parts[0] or not parts[0]:
            continue
        job_id, state, exit_code = parts[0], parts[1], parts[2]
        end = classify_end(state, exit_code)
        job, sep, task = job_id.partition("_")
        if not job.isdigit():
            continue
        if sep and task.startswith("["):
            for index in _array_indices(task.strip("[]")):
                ends[task_key(job, index)] = end
        elif not sep or task.isdigit():
            ends[job_id] = end
    return ends


if TYPE_CHECKING:  # mypy checks this module against the protocol
    _checked: Scheduler = _this


def live_state(word: str) -> State:
    """The neutral state of a live task as ``sacct`` words it (``RUNNING``, ``PENDING``)."""
    return STATES.get(word, State.UNKNOWN)
