"""Submitting a crop's batches as array jobs, and the handle that follows them.

Per submission a folder ``jobs/<id>/`` holds, for each array chunk, the map file (task index
-> batch ids), the rendered script, and ``submission.json`` (scheduler, job ids, resources).
The script contains neither Python nor batch lists: each task runs
``python -m xyzfarm.worker task <crop> --map <map> --task $INDEX``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..node.display import SHOWN_FAILURES, cluster_job_html
from ..node.failures import START_FAILURES, FailureRecord, read_failure
from ..node.layout import CropLayout
from ..node.slots import THREAD_VARS, child_pythonpath
from ..node.state import crop_status, last_error
from ..schedulers import get, shell
from ..schedulers.arrays import ArrayChunk, plan_arrays
from ..schedulers.base import Scheduler, State, still_active
from ..schedulers.render import render
from ..schedulers.resources import Resources, parse_walltime, walltime_seconds
from ..store import storage
from .grow import missing_batches


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
            storage.write_bytes(map_file, json.dumps({"tasks": chunk.task_map()}).encode())
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
    record = {
        "scheduler": p.scheduler.NAME,
        "job_ids": job_ids,
        "batches": batches,
        "chunks": [
            {"first": c.first, "last": c.last, "script": str(s)}
            for c, s in zip(p.chunks, p.scripts)
        ],
        "resources": asdict(p.resources),
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "attempts_before": {str(b): n for b, n in attempts_before.items()},
    }
    storage.write_bytes(p.job_dir / "submission.json", json.dumps(record, indent=1).encode())
    return ClusterJob(
        p.layout,
        p.scheduler.NAME,
        job_ids,
        batches,
        p.job_dir,
        p.resources,
        p.options,
        attempts_before=attempts_before,
    )


def _last_attempts(layout: CropLayout, batches: Sequence[int]) -> dict[int, FailureRecord]:
    """The failure records of those of ``batches`` that have any."""
    recorded = layout.batch_ids_in("failed")
    out: dict[int, FailureRecord] = {}
    for batch in batches:
        if batch in recorded:
            record = read_failure(layout, batch)
            if record is not None:
                out[batch] = record
    return out


def _attempt_counts(layout: CropLayout, batches: Sequence[int]) -> dict[int, int]:
    return {b: len(r.attempts) for b, r in _last_attempts(layout, batches).items()}


class ClusterJob:
    """A submission of a crop's batches: its job ids, and ways to follow or stop it.

    Progress comes from the crop's files; :meth:`scheduler_states` asks the scheduler once.
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
    ) -> None:
        self.layout = layout
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
        errors = {b: last_error(self.layout, b) for b in failed[:SHOWN_FAILURES]}
        output_dir = output_dir_of(self.layout, self.resources or Resources())
        return cluster_job_html(self, status, errors, len(failed), output_dir)

    def status(self) -> Any:
        """The crop's :class:`~xyzfarm.CropStatus`, from its files alone (no scheduler call)."""
        return crop_status(self.layout)

    def scheduler_states(self, min_interval_s: float = 2.0) -> dict[str, State]:
        """Task states (pending, running, done, failed, unknown: see
        :class:`~xyzfarm.schedulers.base.State`) from one batched scheduler query; an empty
        answer means *unknown*, not done.

        Asked at most every ``min_interval_s`` (the last answer is reused in between), so a
        polling loop never floods the scheduler.
        """
        now = time.monotonic()
        if self._asked is not None and now - self._asked[0] < min_interval_s:
            return self._asked[1]
        states = self._ask()
        self._asked = (now, states)
        return states

    def _ask(self) -> dict[str, State]:
        mod = get(self.scheduler)
        out = shell.run(mod.query_argv(self.job_ids), check=False)
        # a failed query still lists the jobs it found: bjobs (and qstat) exit non-zero when
        # one id of several is forgotten, e.g. the first submission's after a retry; only
        # what it lists counts, and listing nothing stays *unknown*
        ours = set(self.job_ids)
        # some schedulers (SGE) list every job: keep this submission's tasks
        return {
            task: state
            for task, state in mod.parse_states(out.stdout).items()
            if task in ours or re.split(r"[_.\[]", task, maxsplit=1)[0] in ours
        }

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
            for batch, record in _last_attempts(self.layout, left).items()
            if len(record.attempts) > self.attempts_before.get(batch, 0)
        }

    def _ended(self, left: list[int]) -> bool:
        """Whether every batch in ``left`` recorded, since this submission, a failure that
        the process recording it will not try again: nothing of it can still finish."""
        records = _last_attempts(self.layout, left)
        return all(
            batch in records
            and len(records[batch].attempts) > self.attempts_before.get(batch, 0)
            and records[batch].last.final
            for batch in left
        )

    def wait(
        self, timeout_s: float | None = None, poll_interval_s: float = 1.0, retries: int = 0
    ) -> list[int]:
        """Wait until every batch has a result, or nothing of the submission can still finish.

        Returns promptly once every batch left has recorded a failure since this submission
        (e.g. tasks that could not load the function: see :meth:`failures` for the reasons),
        or when the scheduler has nothing left pending or running (an empty answer is trusted
        only when repeated for three polls). With ``retries``, batches left without a result are
        resubmitted (up to that many times), each resuming from its checkpoint: after a
        ``Timeout`` with twice the walltime, after a memory failure with twice the memory (see
        :func:`escalate`). A batch whose task could not start (``FunctionLoadError``,
        ``CropLoadError``) is never resubmitted: it would fail the same way; a
        :class:`UserWarning` names such batches and their reason.

        Returns
        -------
        list of int
            The batches still without a result (their reasons: :meth:`failures`).
        """
        left = self._wait_once(timeout_s, poll_interval_s)
        for _ in range(retries):
            if not left:
                break
            groups = _by_failure(self.layout, left)
            unstartable = groups.pop("start", [])
            if unstartable:
                reasons = self.failures()
                first = reasons.get(unstartable[0], "no error recorded")
                warnings.warn(
                    f"batch(es) {unstartable} of crop {self.layout.name!r} are not retried: "
                    f"their task could not start ({first}); fix that, then grow them again.",
                    UserWarning,
                    stacklevel=2,
                )
            if not groups:
                break
            for kind, batches in groups.items():
                res = escalate(self.resources or Resources(), kind)
                again = submit(prepare(self.layout, self.scheduler, batches, res, **self.options))
                self.job_ids += again.job_ids
                self.attempts_before.update(again.attempts_before)
                for batch in batches:  # a batch with no failure before the retry has none now
                    self.attempts_before.setdefault(batch, 0)
            left = self._wait_once(timeout_s, poll_interval_s)
        return left

    def _wait_once(self, timeout_s: float | None, poll_interval_s: float) -> list[int]:
        start = time.monotonic()
        quiet = 0
        while True:
            left = self.remaining()
            if not left or self._ended(left):
                return left
            states = self.scheduler_states(min_interval_s=poll_interval_s)
            # ended tasks (some schedulers list them for a while) leave nothing to wait for
            quiet = 0 if still_active(states) else quiet + 1
            if quiet >= 3:
                return left
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                return left
            time.sleep(poll_interval_s)

    def cancel(self) -> None:
        """Cancel every array task of this submission."""
        shell.run(get(self.scheduler).cancel_argv(self.job_ids), check=False)


#: failure kinds (``error_type`` of the last attempt) and the resource they call for more of
TIME_FAILURES = {"Timeout", "BatchTimeout"}
MEMORY_FAILURES = {"MemoryLimit", "MemoryError", "OutOfMemory"}


def _by_failure(layout: CropLayout, batches: list[int]) -> dict[str, list[int]]:
    """Batches grouped by what their last recorded failure asks for: time, memory, nothing
    ("start": the task could not load the function or its inputs), or other."""
    groups: dict[str, list[int]] = {}
    records = _last_attempts(layout, batches)
    for batch in batches:
        last = records[batch].last if batch in records else None
        kind = last.error_type if last is not None else "missing"
        if (last is not None and last.start) or kind in START_FAILURES:
            group = "start"
        elif kind in TIME_FAILURES:
            group = "time"
        elif kind in MEMORY_FAILURES:
            group = "memory"
        else:
            group = "other"
        groups.setdefault(group, []).append(batch)
    return groups


def escalate(res: Resources, group: str) -> Resources:
    """The request for a retry: twice the walltime after a timeout, twice the memory after an
    out-of-memory failure, the same otherwise."""
    if group == "time" and res.walltime:
        return replace(res, walltime=parse_walltime(2 * walltime_seconds(res.walltime)))
    if group == "memory" and res.mem_gb:
        return replace(res, mem_gb=2 * res.mem_gb)
    return res


#: the former names of :class:`PreparedSubmission` and :func:`prepare` ("plan" said too little:
#: a crop's batch plan and the array chunks are plans too)
Plan = PreparedSubmission
plan = prepare
