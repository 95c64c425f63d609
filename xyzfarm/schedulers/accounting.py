"""How array tasks ended, as the scheduler's accounting tells it: one class per task.

A task killed before it could write anything (over its memory or walltime, its node lost, it
preempted or cancelled) leaves no failure record of its own; the scheduler's accounting
(``sacct`` on SLURM, ``qacct`` on Grid Engine) is then the only witness. Each scheduler module
parses its accounting answer into :class:`TaskEnd` values with one of :data:`CLASSES`; this
module holds what is common: the classes, and which of them call for what on a retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .base import State

COMPLETED = "COMPLETED"
FAILED = "FAILED"
TIMEOUT = "TIMEOUT"
OUT_OF_MEMORY = "OUT_OF_MEMORY"
PREEMPTED = "PREEMPTED"
NODE_FAIL = "NODE_FAIL"
CANCELLED = "CANCELLED"
#: how a task can end, whatever the scheduler
CLASSES = (COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, PREEMPTED, NODE_FAIL, CANCELLED)

#: what a task's output says when SLURM's jobacct_gather (OverMemoryKill, no cgroups) killed
#: it for memory: sacct then says only FAILED with signal 9
SLURM_MEMORY_KILL_MARKS = ("Exceeded job memory limit", "exceeded memory limit")


@dataclass(frozen=True)
class TaskEnd:
    """What the scheduler's accounting says of one array task.

    Attributes
    ----------
    state : str
        One of :data:`CLASSES` once the task ended; else the scheduler's own live state
        (``PENDING``, ``RUNNING``, ``REQUEUED``, ...).
    final : bool
        Whether the task ended (and will not run again by itself).
    exit_code : int
        The task's exit status (0 if killed by a signal or not ended).
    signal : int
        The signal that ended it (0 if none).
    detail : str
        The scheduler's own words, e.g. ``FAILED 0:9`` or ``failed 37: qmaster enforced h_rt``.
    """

    state: str
    final: bool
    exit_code: int = 0
    signal: int = 0
    detail: str = ""


@runtime_checkable
class Accounting(Protocol):
    """What a scheduler module with accounting (``sacct``, ``qacct``) offers besides
    :class:`~xyzfarm.schedulers.base.Scheduler`: an optional capability, found with
    ``isinstance(module, Accounting)``, never by looking for names one at a time.
    """

    #: whether the accounting lists tasks still running too (SLURM's does; Grid Engine's
    #: only lists those that ended, some seconds after they did)
    ACCOUNTING_LISTS_LIVE_TASKS: bool
    #: how long after a task left the state query its accounting record may still be
    #: missing (Grid Engine writes it some seconds later, longer on a busy qmaster): a task
    #: gone without a result is asked about again until it is answered or this has passed
    ACCOUNTING_LAG_S: float

    def accounting_argv(
        self, job_ids: Sequence[str], since_epoch: float | None = None
    ) -> list[str]:
        """The command that asks how the tasks of ``job_ids`` ended (or run)."""
        ...

    def parse_accounting(self, stdout: str) -> dict[str, TaskEnd]:
        """Task name (as :meth:`task_key` makes it) -> how it ended, from that command's output."""
        ...

    def task_key(self, job_id: str, index: int) -> str:
        """The name the scheduler gives task ``index`` of array ``job_id`` (``123_4``)."""
        ...

    def live_state(self, word: str) -> State:
        """The neutral state of a task the accounting lists as still live, by its word."""
        ...
