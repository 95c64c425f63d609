"""(Son of) Grid Engine: directives, submission, state queries (pure: argv in, text out)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import accounting, shell
from .base import JobEnvironment, State, parse_restart_count

if TYPE_CHECKING:  # annotations only: array tasks import this module to read their job
    from . import sge as _this
    from .arrays import ArrayChunk
    from .base import Scheduler
    from .resources import Resources

NAME = "sge"
TEMPLATE = "sge.sh.j2"
FIRST_INDEX = 1  # SGE task ids start at 1
INDEX_VAR = "SGE_TASK_ID"
DEFAULT_MAX_ARRAY_SIZE = 75000
SCRIPT_ON_STDIN = False
#: a job id as qsub -terse prints it (before the array range)
JOB_ID = re.compile(r"\d+")


def _state(code: str) -> State:
    """A ``qstat`` state code (``qw``, ``hqw``, ``r``, ``Rr``, ``t``, ``Eqw``, ``dr``, ...)
    in scheduler-neutral words: letters combine, and an error (E) or deletion (d) wins."""
    if "E" in code or "d" in code:
        return State.FAILED
    if "q" in code or "h" in code:
        return State.PENDING
    if any(c in code for c in "rtsST"):
        return State.RUNNING
    return State.UNKNOWN


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


def parse_states(stdout: str) -> dict[str, State]:
    """``{"89.3": State.RUNNING, ...}`` from ``qstat -g d`` (one line per task)."""
    states = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 5:
            task = parts[-1] if parts[-1].isdigit() else ""
            states[f"{parts[0]}.{task}" if task else parts[0]] = _state(parts[4])
    return states


def cancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["qdel", *job_ids]


def throttle_update_argv(job_id: str, max_running: int) -> list[str]:
    """Change the throttle (``-tc``) of a queued or running array."""
    return ["qalter", "-tc", str(max_running), job_id]


def max_submit_jobs() -> int | None:
    """The per-user cap on queued jobs (``max_u_jobs`` of ``qconf -sconf``; 0: none)."""
    try:
        out = shell.run(["qconf", "-sconf"], timeout_s=20).stdout
    except shell.SchedulerError:
        return None
    match = re.search(r"^max_u_jobs\s+(\d+)", out, re.M)
    return int(match.group(1)) or None if match else None


def dependency_directive(job_ids: Sequence[str]) -> str:
    return f"#$ -hold_jid {','.join(job_ids)}"


def job_environment(env: Mapping[str, str]) -> JobEnvironment | None:
    job = env.get("JOB_ID")
    # JOB_ID is a generic name: only beside SGE_TASK_ID (set in every SGE job) is it ours
    if not job or "SGE_TASK_ID" not in env:
        return None
    task = env["SGE_TASK_ID"]
    return JobEnvironment(
        NAME,
        job,
        "" if task == "undefined" else task,
        # RESTARTED is 1 once a task has been restarted, whatever the number of times
        parse_restart_count(env.get("RESTARTED")),
    )


def requeue_argv(job: JobEnvironment) -> None:
    """A warned task records a timeout instead (``qmod -rj`` needs the queue's ``rerun``)."""
    return None


def max_array_size() -> int:
    try:
        out = shell.run(["qconf", "-sconf"], timeout_s=20).stdout
    except shell.SchedulerError:
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^max_aj_tasks\s+(\d+)", out, re.M)
    return int(match.group(1)) + 1 if match else DEFAULT_MAX_ARRAY_SIZE


def task_key(job_id: str, index: int) -> str:
    """How :func:`parse_states` and :func:`parse_accounting` name task ``index`` of ``job_id``."""
    return f"{job_id}.{index}"


# -- accounting (qacct): how tasks ended ------------------------------------------------------


#: qacct tells only the tasks that ended: the state query (qstat) answers for the others
ACCOUNTING_LISTS_LIVE_TASKS = False
#: qacct's record of a task may come seconds after it left qstat (longer on a busy qmaster)
ACCOUNTING_LAG_S = 60.0


def accounting_argv(job_ids: Sequence[str], since_epoch: float | None = None) -> list[str]:
    """One ``qacct`` call for the ended tasks of the first of ``job_ids`` (qacct takes one
    job per call: the caller asks about one job per poll).

    Grid Engine reuses job ids after a restart of its master, and qacct lists every job that
    ever had the id: ``since_epoch`` (the submission's time) keeps only those begun since.
    """
    argv = ["qacct", "-j", str(job_ids[0])]
    if since_epoch is not None:
        # -b [[CC]YY]MMDDhhmm: minutes, in the master's local time (this machine's, here)
        argv += ["-b", time.strftime("%Y%m%d%H%M", time.localtime(since_epoch - 60))]
    return argv


def _seconds(text: str) -> float | None:
    """``600``, ``0:0:3`` or ``00:10:00`` (an ``h_rt`` value) in seconds."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    total = 0.0
    for part in parts:
        total = total * 60 + part
    return total


def classify_record(fields: dict[str, str]) -> accounting.TaskEnd:
    """The :class:`~xyzfarm.schedulers.accounting.TaskEnd` of one qacct record.

    ``failed 37`` ("qmaster enforced h_rt, h_cpu, or h_vmem limit") is a TIMEOUT when the task
    ran at least its ``h_rt`` (from its ``category``), else OUT_OF_MEMORY; exit status 137
    (SIGKILL) with no ``failed`` code is a ``qdel``: CANCELLED; any other non-zero is FAILED.
    A task over ``h_vmem`` is usually not killed but refused memory: a Python function then
    raises MemoryError, which the worker records itself.
    """
    failed_text = " ".join(fields.get("failed", "0").split())
    first = failed_text.split(" ", 1)[0]
    failed = int(first) if first.isdigit() else 0
    status_text = fields.get("exit_status", "0").split()
    status = int(status_text[0]) if status_text and status_text[0].isdigit() else 0
    signal = status - 128 if status > 128 else 0
    detail = f"failed {failed_text}, exit_status {status}".strip()
    limit = re.search(r"h_rt=([0-9:]+)", fields.get("category", ""))
    ran = _seconds(fields.get("ru_wallclock", "0").rstrip("s")) or 0.0
    if failed == 37:
        h_rt = _seconds(limit.group(1)) if limit else None
        timed_out = h_rt is not None and ran >= h_rt - 1
        state = accounting.TIMEOUT if timed_out else accounting.OUT_OF_MEMORY
    elif failed == 0 and status == 0:
        state = accounting.COMPLETED
    elif status == 137 and failed in (0, 100):
        state = accounting.CANCELLED
    else:
        state = accounting.FAILED
    return accounting.TaskEnd(state, True, 0 if signal else status, signal, detail)


def parse_accounting(stdout: str) -> dict[str, accounting.TaskEnd]:
    """``{"89.3": TaskEnd, ...}`` from ``qacct -j``: the latest record of each task (a task
    rerun after a requeue, or an id reused after a restart, has several)."""
    ends: dict[str, accounting.TaskEnd] = {}
    latest: dict[str, float] = {}
    for block in re.split(r"^=+\s*$", stdout, flags=re.M):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(" ")
            if name:
                fields[name] = value.strip()
        job = fields.get("jobnumber", "")
        if not job.isdigit():
            continue
        task = fields.get("taskid", "undefined")
        key = task_key(job, int(task)) if task.isdigit() else job
        try:
            stamp = time.strptime(fields.get("qsub_time", ""), "%a %b %d %H:%M:%S %Y")
            submitted = time.mktime(stamp)
        except ValueError:
            submitted = 0.0
        if key in latest and latest[key] > submitted:
            continue
        latest[key] = submitted
        ends[key] = classify_record(fields)
    return ends


if TYPE_CHECKING:  # mypy checks this module against the protocol
    _checked: Scheduler = _this


def live_state(word: str) -> State:
    """``qacct`` lists only tasks that ended: a live word is none it says."""
    del word
    return State.UNKNOWN
