"""Submitting a crop's batches as array jobs, and the handle that follows them.

Per submission a folder ``jobs/<id>/`` holds, for each array chunk, the map file (task index
-> batch ids), the rendered script, and ``submission.json`` (scheduler, job ids, resources).
The script contains neither Python nor batch lists: each task runs
``python -m xyzfarm.worker task <crop> --map <map> --task $INDEX``.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..folder.display import SHOWN_FAILURES, cluster_job_html
from ..folder.layout import CropLayout
from ..folder.state import crop_status
from ..folder.submissions import SubmissionRecord, TaskMap
from ..node.slots import THREAD_VARS, child_pythonpath
from ..schedulers import accounting, get, shell
from ..schedulers.arrays import ArrayChunk, plan_arrays
from ..schedulers.base import ENDED, Scheduler, State, job_of_task
from ..schedulers.render import render
from ..schedulers.resources import Resources
from ..store import storage
from .grow import missing_batches
from .retry_requests import by_failure, escalate, last_attempts
from .task_ends import record_task_ends


class PreparedSubmission:
    """The chunks, map files and scripts of one submission, written but not yet submitted."""

    def __init__(
        self,
        layout: CropLayout,
        scheduler: Scheduler,
        chunks: list[ArrayChunk],
        job_dir: Path,
        scripts: list[Path],
        texts: list[str],
        resources: Resources,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.texts = texts
        self.options = options or {}
        self.layout = layout
        self.scheduler = scheduler
        self.chunks = chunks
        self.job_dir = job_dir
        self.scripts = scripts
        self.resources = resources


def submit_command(p_scheduler: Scheduler, script: Path, output_dir: Path) -> str:
    """The shell command that submits ``script`` by hand as :func:`submit` would."""
    command = shlex.join(p_scheduler.submit_argv(str(script)))
    if p_scheduler.SCRIPT_ON_STDIN:
        command += f" < {shlex.quote(str(script))}"
    return f"cd {shlex.quote(str(output_dir))} && {command}"


def output_dir_of(layout: CropLayout, res: Resources) -> Path:
    """Where the scheduler writes task output: jobs are submitted from this folder."""
    return Path(res.output_dir or layout.folder("logs"))


def script_context(
    layout: CropLayout,
    scheduler: Scheduler,
    chunk: ArrayChunk,
    map_file: str,
    res: Resources,
    workers_per_task: int,
    script: str | None = None,
) -> dict[str, Any]:
    """Everything a template may use.

    The environment contract: the task runs the ``setup`` lines, then ``python`` (the
    ``python`` resource, by default this interpreter) in this session's working directory,
    with only this session's own path entries put before whatever ``setup`` exported (see
    :func:`xyzfarm.node.slots.child_pythonpath`).
    """
    cpus = res.cpus_per_task or workers_per_task * res.threads_per_worker
    script = script or str(Path(map_file).with_suffix("").with_suffix(".sh"))
    return {
        "scheduler": scheduler.NAME,
        "directives": scheduler.directives(res, chunk, cpus=cpus),
        "crop_name": layout.name,
        "crop_dir": str(layout.root),
        "map_file": map_file,
        "python": res.python or sys.executable,
        "pythonpath": child_pythonpath(),
        "workdir": os.getcwd(),
        # shown in a comment line: a line break in a path must not end the comment
        "submit_command": submit_command(
            scheduler, Path(script), output_dir_of(layout, res)
        ).replace("\n", "\\n"),
        "index_var": scheduler.INDEX_VAR,
        "first_index": scheduler.FIRST_INDEX,
        "workers_per_task": workers_per_task,
        "threads_per_worker": res.threads_per_worker,
        "max_requeues": res.max_requeues,
        "setup": list(res.setup),
        "thread_vars": THREAD_VARS,
    }


def new_job_dir(layout: CropLayout, suffix: str = "") -> Path:
    """A new submission folder's path, ``jobs/<time>-<ns>-<random>[-suffix]`` (not made)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # names sort in submission order (nanoseconds), and never collide (uuid)
    name = f"{stamp}-{time.time_ns() % 10**9:09d}-{uuid.uuid4().hex[:6]}"
    return layout.root / "jobs" / (f"{name}-{suffix}" if suffix else name)


def prepare(
    layout: CropLayout,
    scheduler_name: str,
    batches: Sequence[int],
    res: Resources,
    *,
    workers_per_task: int = 1,
    batches_per_task: int | None = None,
    max_array_size: int | None = None,
    template_dirs: Sequence[str | os.PathLike[str]] | None = None,
    write: bool = True,
) -> PreparedSubmission:
    """Split ``batches`` into array chunks, write their map files and render their scripts."""
    scheduler = get(scheduler_name)
    limit = max_array_size or scheduler.max_array_size()
    chunks = plan_arrays(
        batches,
        max_array_size=limit,
        batches_per_task=batches_per_task or workers_per_task,
        first_index=scheduler.FIRST_INDEX,
    )
    job_dir = new_job_dir(layout)
    scripts: list[Path] = []
    texts: list[str] = []
    for k, chunk in enumerate(chunks):
        map_file = job_dir / f"chunk-{k}.map.json"
        script = job_dir / f"chunk-{k}.sh"
        text = render(
            scheduler.TEMPLATE,
            script_context(
                layout, scheduler, chunk, str(map_file), res, workers_per_task, str(script)
            ),
            template_dirs,
        )
        if write:
            # a rendered script may be submitted by hand: what it refers to must exist
            output_dir_of(layout, res).mkdir(parents=True, exist_ok=True)
            TaskMap(chunk.task_map()).write(map_file)
            storage.write_bytes(script, text.encode(), mode=0o777)  # executable, umask applies
        scripts.append(script)
        texts.append(text)
    options = {
        "workers_per_task": workers_per_task,
        "batches_per_task": batches_per_task,
        "max_array_size": max_array_size,
        "template_dirs": template_dirs,
    }
    return PreparedSubmission(layout, scheduler, chunks, job_dir, scripts, texts, res, options)


def submit(p: PreparedSubmission) -> ClusterJob:
    """Submit every chunk (one scheduler call each) and record the job ids."""
    job_ids = []
    batches = [b for chunk in p.chunks for task in chunk.tasks for b in task]
    # how many failed attempts each batch had before: a later one is this submission's own
    attempts_before = _attempt_counts(p.layout, batches)
    # submitted from the output folder: the scheduler writes task output there, and no path
    # (which may hold spaces) has to appear in a directive
    output_dir = output_dir_of(p.layout, p.resources)
    output_dir.mkdir(parents=True, exist_ok=True)
    for script in p.scripts:
        out = shell.run(
            p.scheduler.submit_argv(str(script)),
            cwd=output_dir,
            stdin_file=script if p.scheduler.SCRIPT_ON_STDIN else None,
        )
        job_ids.append(p.scheduler.parse_job_id(out.stdout))
    SubmissionRecord(
        scheduler=p.scheduler.NAME,
        job_ids=tuple(job_ids),
        resources=asdict(p.resources),
        # what the efficiency report needs to read a task's request per worker
        options={k: p.options.get(k) for k in ("workers_per_task", "batches_per_task")},
        details={
            "batches": batches,
            "chunks": [
                {"first": c.first, "last": c.last, "script": str(s)}
                for c, s in zip(p.chunks, p.scripts)
            ],
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "attempts_before": {str(b): n for b, n in attempts_before.items()},
        },
    ).write(p.job_dir)
    return ClusterJob(
        p.layout,
        p.scheduler.NAME,
        job_ids,
        batches,
        p.job_dir,
        p.resources,
        p.options,
        attempts_before=attempts_before,
        task_batches=task_batches_of(p.scheduler, job_ids, p.chunks),
    )


def _as_state(mod: Scheduler, end: accounting.TaskEnd) -> State:
    """A task end as the neutral :class:`~xyzfarm.schedulers.base.State`."""
    if end.final:
        return State.DONE if end.state in (accounting.COMPLETED, State.DONE.value) else State.FAILED
    try:
        return State(end.state)  # from a state query: already neutral
    except ValueError:  # from accounting: the scheduler's own word for a live task
        if isinstance(mod, accounting.Accounting):
            return mod.live_state(end.state)
        return State.UNKNOWN


def task_batches_of(
    scheduler: Scheduler, job_ids: Sequence[str], chunks: Sequence[ArrayChunk]
) -> dict[str, list[int]]:
    """Each array task (named as the scheduler names it, e.g. ``123_4``) and its batches;
    empty for a scheduler without accounting: there is nothing to ask about its tasks."""
    if not isinstance(scheduler, accounting.Accounting):
        return {}
    return {
        scheduler.task_key(job_id, index): list(batches)
        for job_id, chunk in zip(job_ids, chunks)
        for index, batches in chunk.task_map().items()
    }


def _attempt_counts(layout: CropLayout, batches: Sequence[int]) -> dict[int, int]:
    return {b: len(r.attempts) for b, r in last_attempts(layout, batches).items()}


#: seconds between two questions to the scheduler while waiting (the crop's files, which
#: cost the scheduler nothing, are looked at every FILE_POLL_S)
DEFAULT_POLL_INTERVAL_S = 30.0
FILE_POLL_S = 1.0


class ClusterJob:
    """A submission of a crop's batches: its job ids, and ways to follow or stop it.

    Progress comes from the crop's files; the scheduler is asked at most once per poll
    (:meth:`poll`), and only about tasks whose batches have no result on disk yet.
    """

    def __init__(
        self,
        layout: CropLayout,
        scheduler: str,
        job_ids: list[str],
        batches: list[int],
        job_dir: Path,
        resources: Resources | None = None,
        options: dict[str, Any] | None = None,
        *,
        attempts_before: dict[int, int] | None = None,
        task_batches: dict[str, list[int]] | None = None,
    ) -> None:
        self.layout = layout
        #: each array task (as the scheduler names it: ``123_4``, ``89.3``) and its batches
        self.task_batches = task_batches or {}
        #: scheduler commands run by this handle (one per poll at most)
        self.scheduler_calls = 0
        #: whether the scheduler keeps accounts here (None: not asked yet)
        self.has_accounting: bool | None = None
        #: tasks gone from the state query without a result (SGE) -> when first seen so:
        #: the next polls ask the accounting about them, for up to its ACCOUNTING_LAG_S
        self._gone: dict[str, float] = {}
        #: what the last poll asked: "accounting" (sacct, qacct), "states" (squeue, qstat)
        self.last_query: str | None = None
        self.scheduler = scheduler
        #: failed attempts per batch before this submission (absent: none)
        self.attempts_before = (
            attempts_before if attempts_before is not None else _attempt_counts(layout, batches)
        )
        self.job_ids = job_ids
        self.batches = batches
        self.job_dir = job_dir
        self.resources = resources
        self.options = options or {}
        self._asked: tuple[float, dict[str, State]] | None = None
        #: the job reaping into a file once the arrays have ended (``reap_into=``), if any
        self.reap_job_id: str | None = None
        #: how many arrays of different resources the submission made (per-case resources)
        self.resource_classes = 1

    def __repr__(self) -> str:
        return (
            f"<xyzfarm.ClusterJob {self.scheduler} {','.join(self.job_ids)}: "
            f"{len(self.batches)} batches of crop {self.layout.name!r}>"
        )

    def _repr_html_(self) -> str:
        """In a notebook: job ids, the crop's progress, why batches failed, what next."""
        # the failed batches status counts (not failures(), which also syncs the done map:
        # a display writes nothing)
        status = self.status()
        ours = set(self.batches)
        failed = [b for b in status.failed_ids if b in ours]
        errors = {b: status.last_error(b) for b in failed[:SHOWN_FAILURES]}
        output_dir = output_dir_of(self.layout, self.resources or Resources())
        return cluster_job_html(self, status, errors, len(failed), output_dir)

    def status(self) -> Any:
        """The crop's :class:`~xyzfarm.CropStatus`, from its files alone (no scheduler call)."""
        return crop_status(self.layout)

    def scheduler_states(self, min_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> dict[str, State]:
        """Task states (pending, running, done, failed, unknown: see
        :class:`~xyzfarm.schedulers.base.State`) from one poll (:meth:`poll`); an empty
        answer means *unknown*, not done.

        Asked at most every ``min_interval_s`` (the last answer is reused in between), so a
        polling loop never floods the scheduler. Tasks that ended without a result get their
        failure recorded (see :meth:`poll`).
        """
        now = time.monotonic()
        if self._asked is not None and now - self._asked[0] < min_interval_s:
            return self._asked[1]
        mod = get(self.scheduler)
        states = {k: _as_state(mod, e) for k, e in self.poll().items()}
        self._asked = (now, states)
        return states

    def poll(self) -> dict[str, accounting.TaskEnd]:
        """Look once: files first, then at most one scheduler call; record what it tells.

        Only tasks with a batch still without a result on disk are asked about (none left:
        no call). On SLURM the call is ``sacct`` where the cluster keeps accounts (it tells
        running and ended tasks alike), else ``squeue``; on Grid Engine ``qstat``, and, at
        the next poll, ``qacct`` for a job whose tasks left qstat without a result. A task
        that ended without a result and without a failure of its own recorded since this
        submission gets one, of its class (``TIMEOUT``, ``OUT_OF_MEMORY``, ``NODE_FAIL``,
        ...: :data:`~xyzfarm.schedulers.accounting.CLASSES`), in ``failed/<batch>.json``:
        ``status`` shows it and ``retries`` acts on it.

        Returns
        -------
        dict
            Task name -> :class:`~xyzfarm.schedulers.accounting.TaskEnd`, for the tasks asked
            about (empty: nothing asked, or the scheduler did not answer).
        """
        left = set(self.remaining())
        tasks = self._asked_tasks(left)
        if not left or (self.task_batches and not tasks):
            return {}
        mod = get(self.scheduler)
        # accounting is an optional capability (schedulers.accounting.Accounting)
        acct = mod if isinstance(mod, accounting.Accounting) else None
        accounting_argv = acct.accounting_argv if acct is not None else None
        # SLURM's sacct tells running tasks too; SGE's qacct only those that ended
        lists_live = acct is not None and acct.ACCOUNTING_LISTS_LIVE_TASKS
        # files first: ask only about jobs with a task whose batches are not all done
        jobs = sorted({job_of_task(k) for k in tasks}, key=self.job_ids.index)
        jobs = [j for j in jobs if j in self.job_ids] or list(self.job_ids)
        self._gone = {k: n for k, n in self._gone.items() if k in tasks}
        if self._gone and accounting_argv is not None:
            self.last_query = "accounting"
            job = job_of_task(sorted(self._gone)[0])
            ends = self._run(accounting_argv([job], self._submitted_epoch()), mod)
            lag_s = acct.ACCOUNTING_LAG_S if acct is not None else 0.0
            for key in [k for k in self._gone if job_of_task(k) == job]:
                answered = ends is not None and key in ends
                if answered or time.monotonic() - self._gone[key] >= lag_s:
                    del self._gone[key]
        elif accounting_argv is not None and lists_live and self.has_accounting is not False:
            self.last_query = "accounting"
            ends = self._run(accounting_argv(jobs, self._submitted_epoch()), mod)
            self.has_accounting = ends is not None
            if ends is None:
                return {}  # no accounting here: squeue from the next poll on
        else:
            self.last_query = "states"
            ends = self._run(mod.query_argv(jobs), mod, live=True)
            if ends is not None and accounting_argv is not None and not lists_live:
                now = time.monotonic()
                self._gone.update({k: now for k in tasks if k not in ends and k not in self._gone})
        ends = {k: e for k, e in (ends or {}).items() if k in tasks or not self.task_batches}
        self._record_ends(ends, left)
        return ends

    def _asked_tasks(self, left: set[int] | None = None) -> set[str]:
        """The tasks with a batch still without a result on disk: the only ones asked about."""
        left = set(self.remaining()) if left is None else left
        return {k for k, batches in self.task_batches.items() if not left.isdisjoint(batches)}

    def _run(
        self, argv: list[str], mod: Scheduler, *, live: bool = False
    ) -> dict[str, accounting.TaskEnd] | None:
        self.scheduler_calls += 1
        out = shell.run(argv, check=False)
        if not live:
            # sacct and qacct fail whole (no accounting here, no such job yet): nothing known
            assert isinstance(mod, accounting.Accounting)  # only accounting is asked so
            return dict(mod.parse_accounting(out.stdout)) if out.returncode == 0 else None
        # a failed state query still lists the jobs it found: bjobs (and qstat) exit non-zero
        # when one id of several is forgotten; only what it lists counts
        ours = set(self.job_ids)
        # some schedulers (SGE) list every job: keep this submission's tasks
        return {
            task: accounting.TaskEnd(state.value, state in ENDED)
            for task, state in mod.parse_states(out.stdout).items()
            if task in ours or job_of_task(task) in ours
        }

    def _submitted_epoch(self) -> float | None:
        try:
            return (self.job_dir / "submission.json").stat().st_mtime
        except OSError:
            return None

    def _record_ends(self, ends: dict[str, accounting.TaskEnd], left: set[int]) -> None:
        """Record the class of each task that ended without its batches' results, unless
        the task recorded why itself since this submission (its record is the better one)."""
        attempts = last_attempts(self.layout, sorted(left))
        spoke = {b for b, r in attempts.items() if len(r.attempts) > self.attempts_before.get(b, 0)}
        out_dir = output_dir_of(self.layout, self.resources or Resources())
        record_task_ends(self.layout, ends, self.task_batches, left - spoke, output_dir=out_dir)

    def remaining(self) -> list[int]:
        """This submission's batches without a result yet."""
        if self.reap_job_id is not None and not self.layout.manifest.exists():
            return []  # the reap job published every result, then deleted the crop
        data_total = max(self.batches) if self.batches else 0
        missing = set(missing_batches(self.layout, data_total))
        return [b for b in self.batches if b in missing]

    def failures(self) -> dict[int, str]:
        """Why this submission's batches failed: the last error recorded by each batch that
        failed since it was submitted (and has no result), as one line each."""
        left = self.remaining()
        return {
            batch: record.last.summary()
            for batch, record in last_attempts(self.layout, left).items()
            if len(record.attempts) > self.attempts_before.get(batch, 0)
        }

    def _ended(self, left: list[int]) -> bool:
        """Whether every batch in ``left`` recorded, since this submission, a failure that
        the process recording it will not try again: nothing of it can still finish."""
        records = last_attempts(self.layout, left)
        return all(
            batch in records
            and len(records[batch].attempts) > self.attempts_before.get(batch, 0)
            and records[batch].last.final
            for batch in left
        )

    def wait(
        self,
        timeout_s: float | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        retries: int = 0,
    ) -> list[int]:
        """Wait until every batch has a result, or nothing of the submission can still finish.

        The crop's files are looked at every second; the scheduler is asked at most every
        ``poll_interval_s`` (one call, see :meth:`poll`). Returns promptly once every batch
        left has recorded a failure since this submission (its task's own, e.g. a function
        that cannot load, or the class the scheduler's accounting gave a task killed before
        it could write: see :meth:`failures`), or when the scheduler has nothing left running
        (from accounting at once; from squeue/qstat, whose empty answer may be a hiccup, when
        repeated for three polls). With ``retries``, batches left without a result are
        resubmitted (up to that many times), each resuming from its checkpoint: after a
        ``TIMEOUT`` with twice the walltime, after ``OUT_OF_MEMORY`` (or a MemoryError) with
        twice the memory (see :func:`~xyzfarm.crop.retry_requests.escalate`), after
        ``NODE_FAIL``, ``PREEMPTED`` or another failure unchanged. A batch whose task could
        not start (``FunctionLoadError``,
        ``CropLoadError``) or was ``CANCELLED`` is never resubmitted: it would fail the same
        way, or someone meant it; a :class:`UserWarning` names such batches and their reason.

        Returns
        -------
        list of int
            The batches still without a result (their reasons: :meth:`failures`).
        """
        left = self._wait_once(timeout_s, poll_interval_s)
        for _ in range(retries):
            if not left:
                break
            groups = by_failure(self.layout, left)
            for group, why in (
                ("start", "their task could not start"),
                ("cancelled", "their task was cancelled"),
            ):
                kept = groups.pop(group, [])
                if kept:
                    first = self.failures().get(kept[0], "no error recorded")
                    warnings.warn(
                        f"batch(es) {kept} of crop {self.layout.name!r} are not retried: "
                        f"{why} ({first}); fix that, then grow them again.",
                        UserWarning,
                        stacklevel=2,
                    )
            if not groups:
                break
            for kind, batches in groups.items():
                before = self.resources or Resources()
                res = escalate(before, kind)
                if kind in ("time", "memory") and res == before:
                    what = "walltime" if kind == "time" else "mem_gb"
                    warnings.warn(
                        f"batch(es) {batches} of crop {self.layout.name!r} ran out of "
                        f"{'time' if kind == 'time' else 'memory'}, but no {what} was "
                        f"requested to raise: they are resubmitted as they were; give {what}= "
                        "(xyzfarm report NAME suggests one).",
                        UserWarning,
                        stacklevel=2,
                    )
                again = submit(prepare(self.layout, self.scheduler, batches, res, **self.options))
                self.job_ids += again.job_ids
                # the earlier tasks of these batches no longer speak for them
                self.task_batches = {
                    k: b for k, b in self.task_batches.items() if set(batches).isdisjoint(b)
                }
                self.task_batches.update(again.task_batches)
                self.attempts_before.update(again.attempts_before)
                for batch in batches:  # a batch with no failure before the retry has none now
                    self.attempts_before.setdefault(batch, 0)
            left = self._wait_once(timeout_s, poll_interval_s)
        return left

    def _wait_once(self, timeout_s: float | None, poll_interval_s: float) -> list[int]:
        start = time.monotonic()
        quiet = 0
        asked_at: float | None = None
        while True:
            left = self.remaining()
            if not left or self._ended(left):
                return left
            if asked_at is None or time.monotonic() - asked_at >= poll_interval_s:
                asked_at = time.monotonic()
                ends = self.poll()
                live = any(not e.final for e in ends.values())
                asked = self._asked_tasks()
                if self.has_accounting and asked:
                    # accounting names ended tasks (silence is only its lag behind the
                    # controller): done when it says every task asked about has ended
                    if all(k in ends and ends[k].final for k in asked):
                        return self.remaining()
                    live = True
                if self.last_query == "states" or ends:
                    # a qacct poll that found nothing yet says nothing of what is running
                    quiet = quiet + 1 if not live else 0
                if quiet >= 3:
                    return self.remaining()
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                return left
            time.sleep(min(poll_interval_s, FILE_POLL_S))

    def cancel(self) -> None:
        """Cancel every array task of this submission."""
        shell.run(get(self.scheduler).cancel_argv(self.job_ids), check=False)
