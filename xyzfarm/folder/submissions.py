"""``jobs/<id>/submission.json``: what was submitted for a crop, one typed record per file; and
each array's map file (:class:`TaskMap`: which batches each task grows).

One writer (:meth:`SubmissionRecord.write`, called by the array and reap submissions) and one
reader (:meth:`SubmissionRecord.read`, for ``cancel``, the throttle and the efficiency
report). The reader checks every field before it is used: the file is a regular file of the
crop's own (never a link), the scheduler is one xyzfarm knows, and each job id matches that
scheduler's grammar (:attr:`~xyzfarm.schedulers.base.Scheduler.JOB_ID`) before it can reach
a command line: a crafted id such as ``--user=root`` never becomes an option of ``scancel``.

LEAN: no xarray, pandas or jinja2 (``xyzfarm cancel`` and ``throttle`` answer at once).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CropFormatError, InvalidInputError
from ..schedulers import get
from ..store import storage
from .layout import CropLayout

#: the record's file name in its ``jobs/<id>/`` folder
FILE = "submission.json"
#: what a submission was: an array of batches, or the job that reaps them afterwards
KINDS = ("array", "reap")


@dataclass(frozen=True)
class SubmissionRecord:
    """One submission of a crop's batches (or of its reap job).

    Attributes
    ----------
    scheduler : str
        The scheduler's name (``slurm``, ``sge``, ...).
    job_ids : tuple of str
        The job ids it answered, one per array chunk (one for a reap job).
    kind : {'array', 'reap'}
        An array of batches, or the reap job.
    resources, options : mapping
        The request (``Resources`` as a mapping) and the options the efficiency report reads
        (``workers_per_task``, ``batches_per_task``); empty for a reap job.
    details : mapping
        Every other field as written (batches, chunks, submitted, attempts before, the reap
        job's ``after``, ``into`` and ``script``): shown, never used to build a command.
    """

    scheduler: str
    job_ids: tuple[str, ...]
    kind: str = "array"
    resources: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def write(self, job_dir: Path) -> None:
        """Publish the record atomically in ``job_dir``."""
        content = {
            "kind": self.kind,
            "scheduler": self.scheduler,
            "job_ids": list(self.job_ids),
            **({"resources": dict(self.resources)} if self.resources else {}),
            **({"options": dict(self.options)} if self.options else {}),
            **self.details,
        }
        storage.write_bytes(job_dir / FILE, json.dumps(content, indent=1).encode())

    @classmethod
    def read(cls, path: Path) -> SubmissionRecord:
        """The record in ``path``, every field checked.

        Raises
        ------
        CropFormatError
            If the file is a link or not a regular file, is not a JSON object, or names an
            unknown scheduler, kind or a job id outside the scheduler's grammar: the message
            names the file, the value and what to do.
        """
        where = os.fspath(path)
        redo = (
            "it was changed or damaged after submitting; delete that jobs/ folder (the jobs "
            "it named are then not cancelled or throttled by xyzfarm: use the scheduler's own "
            "commands)"
        )
        if path.is_symlink() or not path.is_file():
            raise CropFormatError(f"the submission record {where!r} is not a regular file; {redo}.")
        try:
            raw = json.loads(path.read_bytes())
        except ValueError as exc:  # UnicodeDecodeError included
            raise CropFormatError(
                f"the submission record {where!r} is not JSON ({exc}); {redo}."
            ) from None
        if not isinstance(raw, dict):
            raise CropFormatError(f"the submission record {where!r} is not a JSON object; {redo}.")
        kind = raw.pop("kind", "array")
        if kind not in KINDS:
            raise CropFormatError(f"the submission record {where!r} has the kind {kind!r}; {redo}.")
        name = raw.pop("scheduler", None)
        try:
            scheduler = get(str(name))
        except InvalidInputError:
            raise CropFormatError(
                f"the submission record {where!r} names the scheduler {name!r}, which xyzfarm "
                f"does not know; {redo}."
            ) from None
        ids = raw.pop("job_ids", None)
        if not isinstance(ids, list) or not ids:
            raise CropFormatError(f"the submission record {where!r} lists no job ids; {redo}.")
        for job_id in ids:
            if not isinstance(job_id, str) or not scheduler.JOB_ID.fullmatch(job_id):
                raise CropFormatError(
                    f"the submission record {where!r} holds {job_id!r}, which is no "
                    f"{scheduler.NAME} job id; it is not passed to any command: {redo}."
                )
        resources = raw.pop("resources", None) or {}
        options = raw.pop("options", None) or {}
        if not isinstance(resources, dict) or not isinstance(options, dict):
            raise CropFormatError(
                f"the submission record {where!r} has malformed resources or options; {redo}."
            )
        return cls(scheduler.NAME, tuple(ids), kind, resources, options, raw)


def read_all(layout: CropLayout) -> list[SubmissionRecord]:
    """Every submission record of the crop at ``layout``, oldest folder first.

    Raises
    ------
    CropFormatError
        At the first record that fails its checks (see :meth:`SubmissionRecord.read`).
    """
    jobs = layout.root / "jobs"
    return [SubmissionRecord.read(p) for p in sorted(jobs.glob(f"*/{FILE}"))]


@dataclass(frozen=True)
class TaskMap:
    """An array submission's map file: the batch ids each array task grows.

    One writer (:meth:`write`, when the array's script is rendered) and one reader
    (:meth:`read`, in every array task). The file is ``{"tasks": {"<index>": [batch, ...]}}``,
    as earlier releases wrote it, so their scripts still running read it the same.
    """

    #: array task index -> the batch ids it grows, in order
    tasks: Mapping[int, tuple[int, ...]]

    def write(self, path: Path) -> None:
        """Publish the map atomically."""
        tasks = {str(index): list(batches) for index, batches in self.tasks.items()}
        storage.write_bytes(path, json.dumps({"tasks": tasks}).encode())

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TaskMap:
        """Read and check a map file.

        Raises
        ------
        CropFormatError
            If it cannot be read, is not JSON, or maps a task to anything but batch ids.
        """
        where = os.fspath(path)
        try:
            with open(path, "rb") as f:
                raw = json.loads(f.read())
            tasks = {
                int(index): tuple(_batch_id(b) for b in batches)
                for index, batches in dict(raw["tasks"]).items()
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CropFormatError(
                f"the array's map file {where!r} cannot be read ({type(exc).__name__}: {exc}); "
                "render or submit the crop's batches again (its tasks cannot know their batches)."
            ) from None
        return cls(tasks)

    def batches(self, task: int) -> tuple[int, ...]:
        """The batch ids of array task ``task`` (none for a task the map does not list)."""
        return self.tasks.get(task, ())


def _batch_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a batch id")
    return value
