"""A batch's failure record, ``failed/<i>.json``: one writer, one reader.

Every failed attempt at growing a batch (an exception in a case, a worker that died, a time
limit, a function that cannot load) is appended to the batch's record, published atomically;
growing the batch successfully removes it. The file is JSON so a person can read it::

    {"batch": 3, "attempts": [{"attempt": 1, "final": true, "host": ..., "pid": ...,
      "time": ..., "error_type": "ValueError", "message": ..., "traceback": ..., "case": ...}]}

:func:`write_failure` appends an attempt; :func:`read_failure` gives the typed
:class:`FailureRecord` (None when there is none). Records of earlier releases read the same;
keys this release does not know are kept in :attr:`FailedAttempt.details`.

LEAN: imported by the worker on every compute node (standard library only, plus ``storage``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ResultWriteError
from ..store import storage
from .layout import CropLayout

#: the keys of an attempt that :class:`FailedAttempt` names; any other is a detail
_NAMED = frozenset(
    {"attempt", "final", "start", "host", "pid", "time"}
    | {"error_type", "message", "traceback", "case"}
)
#: failures that growing again unchanged would repeat: retries never resubmit them
START_FAILURES = frozenset({"FunctionLoadError", "CropLoadError"})


@dataclass(frozen=True)
class FailedAttempt:
    """One failed attempt at growing a batch."""

    #: 1 for the first recorded failure of the batch, then 2, 3, ...
    attempt: int
    #: the exception's qualified name, or a kind of our own (``WorkerDied``, ``Timeout``,
    #: ``BatchTimeout``, ``MemoryLimit``)
    error_type: str
    message: str
    traceback: str | None = None
    #: the failing case's arguments (JSON values), or None when no case was running
    case: Any = None
    #: the process that recorded it will not try the batch again (a pool that retries a
    #: batch after its worker died records ``final=False``)
    final: bool = True
    #: a pre-flight failure (function or inputs unloadable): growing again unchanged repeats it
    start: bool = False
    host: str = ""
    pid: int = 0
    #: local time of the recording, ``%Y-%m-%dT%H:%M:%S%z``
    time: str = ""
    #: anything else recorded (``case_position``, ``restart_count``, keys of newer releases)
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], number: int) -> FailedAttempt:
        """An attempt as recorded; missing keys (older records) take their defaults."""
        return cls(
            attempt=int(raw.get("attempt") or number),
            error_type=str(raw.get("error_type")),
            message=str(raw.get("message")),
            traceback=raw.get("traceback"),
            case=raw.get("case"),
            final=bool(raw.get("final", True)),
            start=bool(raw.get("start", False)),
            host=str(raw.get("host") or ""),
            pid=int(raw.get("pid") or 0),
            time=str(raw.get("time") or ""),
            details={k: v for k, v in raw.items() if k not in _NAMED},
        )

    def to_json(self) -> dict[str, Any]:
        """The attempt as the file holds it (the key order of earlier releases)."""
        out: dict[str, Any] = {
            "attempt": self.attempt,
            "final": self.final,
            "host": self.host,
            "pid": self.pid,
            "time": self.time,
            "error_type": self.error_type,
            "message": self.message,
            "traceback": self.traceback,
            "case": self.case,
        }
        if self.start:
            out["start"] = True
        out.update(self.details)
        return out

    def summary(self) -> str:
        """One line: type, message, failing case and attempt number."""
        case = f" at case {self.case}" if self.case else ""
        return f"{self.error_type}: {self.message}{case} (attempt {self.attempt})"


@dataclass(frozen=True)
class FailureRecord:
    """Every recorded failed attempt of one batch, oldest first (never empty)."""

    batch: int
    attempts: tuple[FailedAttempt, ...]

    @property
    def last(self) -> FailedAttempt:
        return self.attempts[-1]


def _sowing_key(sowing: bytes | None) -> str | None:
    return None if sowing is None else sowing.hex()


def read_failure(
    layout: CropLayout, batch: int, *, sowing: bytes | None = None
) -> FailureRecord | None:
    """The failure record of ``batch`` in the crop's ``sowing``; None if it has none, or
    none that can be read.

    An unreadable record (torn by a full disk, edited by hand) counts as none: it is
    rewritten whole by the next failure, and a success removes it. So does the record of
    another sowing (a grower of the crop before it was deleted and sown again): its failure
    is not this crop's.
    """
    try:
        raw = json.loads(layout.failed(batch).read_bytes())
        if raw.get("sowing") != _sowing_key(sowing):
            return None
        listed = raw["attempts"]
        if not isinstance(listed, list) or not listed:
            return None
        attempts = tuple(FailedAttempt.from_json(a, k + 1) for k, a in enumerate(listed))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return FailureRecord(batch, attempts)


def write_failure(
    layout: CropLayout,
    batch: int,
    *,
    error_type: str,
    message: str,
    traceback: str | None = None,
    case: Any = None,
    final: bool = True,
    start: bool = False,
    sowing: bytes | None = None,
    **details: Any,
) -> FailedAttempt:
    """Append one failed attempt to ``failed/<batch>.json`` (published atomically).

    Parameters
    ----------
    error_type, message, traceback, case, final, start
        See :class:`FailedAttempt`.
    sowing : bytes, optional
        The crop's sowing id (see :mod:`xyzfarm.folder.records`), recorded with the failure;
        readers of another sowing ignore it.
    **details
        Further JSON values kept with the attempt (``case_position``, ``restart_count``).

    Returns
    -------
    FailedAttempt
        The attempt recorded, numbered after those already there.
    """
    before = read_failure(layout, batch, sowing=sowing)
    previous = before.attempts if before is not None else ()
    attempt = FailedAttempt(
        attempt=len(previous) + 1,
        error_type=error_type,
        message=message,
        traceback=traceback,
        case=case,
        final=final,
        start=start,
        host=socket.gethostname(),
        pid=os.getpid(),
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        details=details,
    )
    attempts = [a.to_json() for a in (*previous, attempt)]
    head = {"batch": batch, **({"sowing": sowing.hex()} if sowing is not None else {})}
    text = json.dumps({**head, "attempts": attempts}, indent=1)
    try:
        storage.write_bytes(layout.failed(batch), text.encode())
    except OSError as exc:
        raise ResultWriteError(
            f"could not record the failure of batch {batch} ({error_type}: {message[:200]}) in "
            f"{os.fspath(layout.failed(batch))!r}: {exc.strerror or exc}. Free some space or "
            "inodes, or fix the folder's permissions, then grow again (the batch counts as "
            "missing meanwhile)."
        ) from exc
    return attempt


def last_error(layout: CropLayout, batch: int, *, sowing: bytes | None = None) -> str:
    """One line: the last recorded error of a failed batch of the crop's ``sowing``."""
    record = read_failure(layout, batch, sowing=sowing)
    return "no error recorded" if record is None else record.last.summary()
