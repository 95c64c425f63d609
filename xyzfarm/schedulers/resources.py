"""A scheduler-neutral resource request, validated before anything is rendered.

Every value that lands in a directive line is checked: a newline or a NUL would end the
directive and start a shell command, so such values are refused, naming the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ResourceError as ResourceError  # defined with every other error

#: plain names: partitions, accounts, QOS, queues, constraints
_NAME = re.compile(r"^[A-Za-z0-9_.,:@+=&|!\[\]-]+$")
_ALIASES = {
    "queue": "partition",
    "time": "walltime",
    "cpus": "cpus_per_task",
    "name": "job_name",
    # the one throttle: the same word for the local pool (see xyzfarm.folder.throttle)
    "max_running": "array_throttle",
}


#: no scheduler grants more: larger values (or inf, nan) are mistakes, refused by name
MAX_WALLTIME_S = 366 * 24 * 3600
MAX_MEM_GB = 1024.0**2  # one petabyte per task


def parse_walltime(value: Any) -> str:
    """Normalise a walltime to ``HH:MM:SS`` (hours may exceed 24).

    Accepts seconds (int), ``"MM"`` minutes as SLURM does, ``"MM:SS"``, ``"H:M:S"`` with any
    number of digits per field (``"1:5:0"`` is 01:05:00, not 10:50:00 as xyzpy renders it),
    and ``"D-H:M:S"``.
    """
    if isinstance(value, bool):
        raise ResourceError(f"walltime {value!r} is not a duration.")
    if isinstance(value, (int, float)):
        if not 0 < value <= MAX_WALLTIME_S:
            raise ResourceError(
                f"walltime {value!r} must be a positive number of seconds, at most "
                f"{MAX_WALLTIME_S} (a year)."
            )
        seconds = int(value)
    elif isinstance(value, str) and re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", value.strip()):
        text = value.strip()
        days = 0
        if "-" in text:
            d, text = text.split("-", 1)
            days = int(d)
            parts = [int(p) for p in text.split(":")] + [0] * (3 - text.count(":") - 1)
        else:
            parts = [int(p) for p in text.split(":")]
            parts = {1: [0, parts[0], 0], 2: [0, *parts], 3: parts}[len(parts)]
        h, m, s = parts
        if m >= 60 or s >= 60:
            raise ResourceError(f"walltime {value!r}: minutes and seconds must be below 60.")
        seconds = ((days * 24 + h) * 60 + m) * 60 + s
        if seconds <= 0:
            raise ResourceError(f"walltime {value!r} must be positive.")
    else:
        raise ResourceError(
            f"walltime {value!r} is not a duration: use seconds, 'MM:SS', 'HH:MM:SS' or "
            "'D-HH:MM:SS'."
        )
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def walltime_seconds(walltime: str) -> int:
    h, m, s = (int(p) for p in walltime.split(":"))
    return (h * 60 + m) * 60 + s


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ResourceError(f"{name}={value!r} must be a positive integer.")
    return value


def _plain(name: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not _NAME.fullmatch(text):
        raise ResourceError(
            f"{name}={value!r} may only hold letters, digits and _.,:@+=&|![]- (no spaces, "
            "quotes, newlines or shell syntax)."
        )
    return text


def _line(name: str, value: Any) -> str:
    text = str(value)
    if any(c in text for c in "\n\r\0"):
        raise ResourceError(f"{name} entry {value!r} contains a line break or NUL.")
    return text


@dataclass(frozen=True)
class Resources:
    """What each array task asks the scheduler for (all optional but the defaults).

    Attributes
    ----------
    job_name : str
        Name of the job (unsafe characters are replaced by ``_``).
    walltime : str
        ``HH:MM:SS`` (see :func:`parse_walltime` for what is accepted).
    mem_gb : float
        Memory per task, in GB.
    cpus_per_task : int
        Cores per task (default: ``workers_per_task`` times ``threads_per_worker``).
    gpus : int
        GPUs per task.
    nodes : int
        Nodes per task (1: the worker pool runs on one node).
    partition, account, qos, constraint : str
        Site names (``queue`` is an alias of ``partition``).
    array_throttle : int
        At most this many tasks of one array at once (``max_running`` is the same; change it
        while the array runs with :meth:`Crop.set_max_running`).
    extra_directives : list of str
        Directive lines added verbatim after the generated ones (e.g. ``"#SBATCH --exclusive"``).
    setup : list of str
        Shell lines run before the worker (``module load ...``, venv activation): trusted code.
    output_dir : str
        Folder for the scheduler's stdout/stderr files (default: the crop's ``logs/``).
    threads_per_worker : int
        Threads (and thread-variable value) per worker inside a task.
    signal_lead_s : int
        Seconds before the time limit at which the task is warned (SIGUSR1) to checkpoint.
    max_requeues : int
        Times a warned task requeues itself; after that its unfinished batches are recorded
        as failed with ``Timeout`` (which ``retries`` then resubmit with a longer walltime).
    python : str
        The interpreter array tasks run (default: the one submitting).
    """

    job_name: str = "xyzfarm"
    walltime: str | None = None
    mem_gb: float | None = None
    cpus_per_task: int | None = None
    gpus: int | None = None
    nodes: int = 1
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_throttle: int | None = None
    extra_directives: tuple[str, ...] = field(default_factory=tuple)
    setup: tuple[str, ...] = field(default_factory=tuple)
    output_dir: str | None = None
    threads_per_worker: int = 1
    signal_lead_s: int = 60
    max_requeues: int = 1
    python: str | None = None

    @property
    def mem_mb(self) -> int | None:
        return None if self.mem_gb is None else max(1, round(self.mem_gb * 1024))


def canonical_keys(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` with aliases (``queue``, ``time``, ``max_running``, ...) renamed."""
    return {_ALIASES.get(k, k): v for k, v in request.items()}


def resources_from(*layers: Mapping[str, Any] | None, **kwargs: Any) -> Resources:
    """Merge mappings (later wins), then keyword arguments, into a validated :class:`Resources`.

    Raises
    ------
    ResourceError
        Naming the unknown key or the malformed value.
    """
    merged: dict[str, Any] = {}
    for layer in (*layers, kwargs):
        for key, value in dict(layer or {}).items():
            merged[_ALIASES.get(key, key)] = value
    known = {f.name for f in fields(Resources)}
    unknown = sorted(set(merged) - known)
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, [*known, *_ALIASES], n=1, cutoff=0.5)
            if close:
                hints.append(f"{key!r}: did you mean {close[0]!r}?")
        aliases = ", ".join(f"{a} (= {k})" for a, k in sorted(_ALIASES.items()))
        guess = f" ({' '.join(hints)})" if hints else ""
        raise ResourceError(
            f"unknown resource(s) {unknown}{guess}. The resources are {sorted(known)}, "
            f"with the aliases {aliases}."
        )
    out: dict[str, Any] = {}
    name = _line("job_name", merged.get("job_name", "xyzfarm"))
    out["job_name"] = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "xyzfarm"
    if merged.get("walltime") is not None:
        out["walltime"] = parse_walltime(merged["walltime"])
    if merged.get("mem_gb") is not None:
        mem = merged["mem_gb"]
        if isinstance(mem, bool) or not isinstance(mem, (int, float)) or not 0 < mem <= MAX_MEM_GB:
            raise ResourceError(
                f"mem_gb={mem!r} must be a positive number of gigabytes, at most {MAX_MEM_GB:g}."
            )
        out["mem_gb"] = float(mem)
    for key in ("cpus_per_task", "gpus", "array_throttle"):
        out[key] = _positive_int(key, merged.get(key))
    out["nodes"] = _positive_int("nodes", merged.get("nodes", 1))
    out["threads_per_worker"] = _positive_int(
        "threads_per_worker", merged.get("threads_per_worker", 1)
    )
    lead = merged.get("signal_lead_s", 60)
    if isinstance(lead, bool) or not isinstance(lead, int) or lead < 0:
        raise ResourceError(f"signal_lead_s={lead!r} must be a non-negative integer.")
    out["signal_lead_s"] = lead
    requeues = merged.get("max_requeues", 1)
    if isinstance(requeues, bool) or not isinstance(requeues, int) or requeues < 0:
        raise ResourceError(f"max_requeues={requeues!r} must be a non-negative integer.")
    out["max_requeues"] = requeues
    for key in ("partition", "account", "qos", "constraint"):
        out[key] = _plain(key, merged.get(key))
    for key in ("extra_directives", "setup"):
        value = merged.get(key) or ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ResourceError(f"{key}={value!r} must be a line of text or a list of lines.")
        out[key] = tuple(_line(key, v) for v in value)
    for key in ("output_dir", "python"):
        if merged.get(key) is not None:
            out[key] = _line(key, merged[key])
    return Resources(**out)
