"""What the rest of xyzfarm asks of a scheduler: the :class:`Scheduler` protocol.

A scheduler is one pure module in this package (``slurm``, ``pbs``, ``sge``, ...) whose
module-level names satisfy :class:`Scheduler`, plus one template ``<NAME>.sh.j2``. Pure: a
module builds argument lists and parses text; only :mod:`xyzfarm.schedulers.shell` runs them.
The registry (:data:`xyzfarm.schedulers.REGISTRY`) finds the modules; the command line's
``--scheduler`` choices, the cluster options, the template lookup, the state queries and the
worker's reading of its job environment all come from it, so no other module names one.

This module imports nothing heavier than the standard library: array tasks on compute nodes
read their job environment through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .arrays import ArrayChunk
    from .resources import Resources


class State(str, Enum):
    """A task's state in words every scheduler's states map onto.

    ``UNKNOWN`` is a state the scheduler reported that we cannot place; an answer that lists
    no task at all is not a state, and means *unknown* too, never *done*.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"

    def __str__(self) -> str:  # "running", not "State.RUNNING", in messages
        return self.value


#: the states after which a task will not run again unless someone resubmits it
ENDED = frozenset({State.DONE, State.FAILED})


def still_active(states: Mapping[str, State]) -> bool:
    """Whether any task in ``states`` may still run: pending, running, or in a state we
    cannot place (counted as active, so a strange answer never ends a wait early)."""
    return any(state not in ENDED for state in states.values())


@dataclass(frozen=True)
class JobEnvironment:
    """What an array task learns about itself from the variables its scheduler set.

    Attributes
    ----------
    scheduler : str
        The scheduler's ``NAME``.
    job_id : str
        The job (for an array: the array job's id, shared by its tasks).
    task_index : str
        The array task's index, as text; ``""`` for a job that is not an array.
    restart_count : int or None
        How many times the scheduler has started this task before (requeues, node
        failures); ``None`` when the scheduler does not say.
    """

    scheduler: str
    job_id: str
    task_index: str
    restart_count: int | None


@runtime_checkable
class Scheduler(Protocol):
    """The names a scheduler module defines (a module satisfies this protocol by itself).

    Attributes
    ----------
    NAME : str
        The name users give (``scheduler="slurm"``, ``--scheduler slurm``).
    TEMPLATE : str
        Its template, ``"<NAME>.sh.j2"``, which usually extends ``base.sh.j2``.
    FIRST_INDEX : int
        The first array index the scheduler accepts (0, or 1 for SGE and LSF).
    INDEX_VAR : str
        The variable holding the task's array index inside a task (read by the template).
    DEFAULT_MAX_ARRAY_SIZE : int
        The site's cap on array indices when it cannot be asked.
    SCRIPT_ON_STDIN : bool
        Whether the script is fed on standard input (``bsub < script``) rather than named in
        :meth:`submit_argv`.
    JOB_ID : re.Pattern
        The grammar of the scheduler's job ids, matched whole: an id read from a crop's files
        reaches an argv only if it matches (``--user=root`` read as an id must never become
        an option of ``scancel``).
    """

    NAME: str
    TEMPLATE: str
    FIRST_INDEX: int
    INDEX_VAR: str
    DEFAULT_MAX_ARRAY_SIZE: int
    SCRIPT_ON_STDIN: bool
    JOB_ID: re.Pattern[str]

    def directives(self, res: Resources, chunk: ArrayChunk, *, cpus: int) -> list[str]:
        """The script's directive lines (with their prefix) for one array chunk: job name,
        array range with the throttle ``res.array_throttle``, walltime, memory, cores, GPUs,
        queue/partition, account, then ``res.extra_directives`` verbatim."""
        ...

    def submit_argv(self, script: str) -> list[str]:
        """The command that submits ``script`` (run from the output folder)."""
        ...

    def parse_job_id(self, stdout: str) -> str:
        """The job id in what the submit command printed; raises ``SchedulerError``."""
        ...

    def query_argv(self, job_ids: Sequence[str]) -> list[str]:
        """One command that reports the tasks of all ``job_ids``."""
        ...

    def parse_states(self, stdout: str) -> dict[str, State]:
        """``{task id: State}`` from what :meth:`query_argv` printed (task ids as the
        scheduler writes them, starting with the job id)."""
        ...

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """The command that cancels every task of ``job_ids``."""
        ...

    def dependency_directive(self, job_ids: Sequence[str]) -> str:
        """A directive line that starts the script's job only after every job of
        ``job_ids`` has ended, however it ended (SLURM's ``afterany``)."""
        ...

    def max_array_size(self) -> int:
        """The site's cap on array indices (asked through ``shell``, else the default)."""
        ...

    def max_submit_jobs(self) -> int | None:
        """The site's cap on one user's queued jobs (asked through ``shell``), or ``None``
        when there is none or it cannot be read."""
        ...

    def throttle_update_argv(self, job_id: str, max_running: int) -> list[str] | None:
        """The command that changes how many tasks of the queued or running array
        ``job_id`` may run at once; ``None`` if the scheduler cannot change it."""
        ...

    def job_environment(self, env: Mapping[str, str]) -> JobEnvironment | None:
        """This scheduler's view of a task's environment ``env``; ``None`` when ``env`` is
        not that of one of its jobs."""
        ...

    def requeue_argv(self, job: JobEnvironment) -> list[str] | None:
        """The command a running task runs to be stopped and queued again (to resume from
        its checkpoints with a fresh time limit); ``None`` if it cannot requeue itself."""
        ...


def missing_members(module: object) -> list[str]:
    """The names of :class:`Scheduler` that ``module`` lacks (for the registry's message)."""
    wanted = [*Scheduler.__annotations__]
    wanted += [n for n, v in vars(Scheduler).items() if callable(v) and not n.startswith("_")]
    return [name for name in wanted if not hasattr(module, name)]


def job_of_task(task: str) -> str:
    """The job id in an array task's name as its scheduler writes it: ``123_4`` (SLURM),
    ``89.3`` (Grid Engine, PBS), ``123[4]`` (LSF)."""
    return re.split(r"[_.\[]", task, maxsplit=1)[0]


def parse_restart_count(value: str | None) -> int:
    """A restart count variable as an int: unset, empty or not a number is 0."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
