"""One throttle, ``max_running``: the most batches (local pool) or array tasks (cluster) of a
crop running at once, changeable while the crop grows.

The crop's own file ``<crop>/max_running.json`` (``CropLayout.max_running``) holds the
value; a local pool re-reads it while it runs (:class:`LiveLimit`), and
:func:`set_max_running` also changes the throttle of every array the crop has queued
(``scontrol update ArrayTaskThrottle`` on SLURM, ``qalter -tc`` on Grid Engine, ``qalter
-W max_run_subjobs`` on PBS Pro).

Standard library only: the pool imports this module.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..errors import InvalidInputError
from ..schedulers import get, shell
from ..store import storage
from . import submissions
from .layout import CropLayout

#: how often a running pool looks at the file again (one ``stat`` each time)
RECHECK_S = 0.5


def check_max_running(value: Any) -> int:
    """``value`` as a throttle, or :class:`InvalidInputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"max_running={value!r} must be a positive integer (the most batches or array "
            "tasks running at once)."
        )
    return value


def write_max_running(layout: CropLayout, max_running: int | None) -> None:
    """Record the crop's throttle (None: remove it), atomically."""
    path = layout.max_running
    if max_running is None:
        path.unlink(missing_ok=True)
        return
    payload = json.dumps({"max_running": check_max_running(max_running)}).encode()
    storage.write_bytes(path, payload)


def read_max_running(layout: CropLayout) -> int | None:
    """The crop's throttle, or None when it has none (or the file cannot be read)."""
    try:
        value = json.loads(layout.max_running.read_bytes())["max_running"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class LiveLimit:
    """The crop's throttle as a running pool sees it: the file is looked at again at most
    every :data:`RECHECK_S` (one ``stat``; read only when it changed)."""

    def __init__(self, layout: CropLayout, recheck_s: float = RECHECK_S) -> None:
        self.layout = layout
        self.recheck_s = recheck_s
        self._looked = -1e9
        self._stamp: tuple[int, int] | None = None
        self._value: int | None = None

    def value(self) -> int | None:
        now = time.monotonic()
        if now - self._looked < self.recheck_s:
            return self._value
        self._looked = now
        try:
            info = os.stat(self.layout.max_running)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._value = None if stamp is None else read_max_running(self.layout)
        return self._value

    def allows(self, running: int) -> bool:
        """Whether one more batch may start while ``running`` are running."""
        limit = self.value()
        return limit is None or running < limit


def set_max_running(layout: CropLayout, max_running: int) -> dict[str, bool]:
    """Change the crop's throttle now: its file (read live by a local pool) and every array
    of the crop still known to its scheduler.

    Returns
    -------
    dict
        ``{job_id: changed}`` for each array job submitted for the crop; an array that has
        ended (or a scheduler that cannot change it) is ``False``.
    """
    write_max_running(layout, check_max_running(max_running))
    changed: dict[str, bool] = {}
    for sub in submissions.read_all(layout):  # a damaged record is refused, naming it
        if sub.kind != "array":
            continue  # a reap job is one task: nothing to throttle
        scheduler = get(sub.scheduler)
        for job_id in sub.job_ids:
            argv = scheduler.throttle_update_argv(job_id, max_running)
            if argv is None:
                changed[job_id] = False
                continue
            try:
                out = shell.run(argv, check=False)
            except shell.SchedulerError:
                changed[job_id] = False
                continue
            changed[job_id] = out.returncode == 0
    return changed
