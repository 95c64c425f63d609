"""xyzpy's cluster keywords (``hours=``, ``minutes=``, ``gigabytes=``, ``num_procs=`` ...) read
as our resource options, so ``crop.gen_cluster_script(...)`` / ``grow_cluster(...)`` calls
written for xyzpy run unchanged.

Only the request is translated. Unknown keywords stay errors: xyzpy writes any unknown keyword
into the script header as a directive, so a typo (``minuets=20``) becomes a job the scheduler
rejects or, worse, a silently different request; here it is refused by name instead (pass
``extra_directives=[...]`` for a verbatim directive).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError

#: xyzpy keywords that need nothing here: the same effect is built in, or it is a default
_ACCEPTED = {
    "conda_env": True,  # array tasks run the interpreter (and so the environment) submitting
    "debugging": None,
    "subprocess": None,  # workers are always processes of their own
    "temp_gigabytes": None,  # local scratch is the site's default
    "mode": "array",  # every batch is an array task
    "mpi": False,
}


def _gigabytes(value: Any, what: str) -> float:
    if isinstance(value, str):
        text = value.strip().upper().removesuffix("B")
        scale = {"G": 1.0, "M": 1 / 1024, "T": 1024.0}.get(text[-1:])
        try:
            return float(text[:-1]) * scale if scale else float(text)
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidInputError(f"{what}={value!r} is not an amount of memory; give e.g. 4 or '4G'.")


def _walltime(options: dict[str, Any]) -> str | None:
    parts = [options.pop(k, None) for k in ("hours", "minutes", "seconds")]
    time = options.pop("time", None)
    if all(p is None for p in parts):
        if time is None:
            return None
        if isinstance(time, (int, float)) and not isinstance(time, bool):
            return f"{int(time)}:00:00"  # xyzpy: a number of hours
        return str(time)
    if time is not None:
        raise InvalidInputError("give time= or hours=/minutes=/seconds=, not both.")
    h, m, s = (0 if p is None else int(p) for p in parts)
    total = h * 3600 + m * 60 + s
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def from_xyzpy(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with xyzpy's cluster keywords replaced by ours; the rest passed through.

    ``hours`` / ``minutes`` / ``seconds`` / ``time`` become ``walltime``; ``gigabytes`` /
    ``mem`` (GB, or a string such as ``'4G'``) become ``mem_gb``, ``mem_per_cpu`` times
    the cores likewise; ``num_procs`` becomes ``cpus_per_task``, ``num_nodes`` ``nodes``,
    ``num_workers`` ``workers_per_task``, ``output_directory`` ``output_dir``, ``launcher``
    ``python`` and ``shell_setup`` a first ``setup`` line. xyzpy's default ``setup='#'``
    is accepted; other Python ``setup`` code is refused (ours is shell lines).

    Raises
    ------
    InvalidInputError
        For a memory or time given twice, or a value xyzfarm cannot honour (``mode='single'``,
        ``mpi=True``, Python ``setup`` code).
    """
    out = dict(options)
    for key, default in _ACCEPTED.items():
        if key in out:
            value = out.pop(key)
            if key in ("mode", "mpi") and value != default:
                raise InvalidInputError(
                    f"{key}={value!r} is not supported: every batch runs as one array task "
                    f"(the default {key}={default!r})."
                )
    walltime = _walltime(out)
    if walltime is not None:
        if out.get("walltime") is not None:
            raise InvalidInputError("give walltime= or xyzpy's hours=/minutes=/time=, not both.")
        out["walltime"] = walltime
    renames = {
        "num_procs": "cpus_per_task",
        "num_nodes": "nodes",
        "num_workers": "workers_per_task",
        "output_directory": "output_dir",
        "launcher": "python",
    }
    for old, new in renames.items():
        if old in out:
            value = out.pop(old)
            if value is not None:
                out[new] = value
    memory = [k for k in ("gigabytes", "mem", "mem_per_cpu") if out.get(k) is not None]
    if len(memory) > 1 or (memory and out.get("mem_gb") is not None):
        raise InvalidInputError(f"give the memory once, not as {memory + ['mem_gb'][:1]}.")
    for key in ("gigabytes", "mem", "mem_per_cpu"):
        value = out.pop(key, None)
        if value is not None:
            per = int(out.get("cpus_per_task") or 1) if key == "mem_per_cpu" else 1
            out["mem_gb"] = _gigabytes(value, key) * per
    if isinstance(out.get("setup"), str):
        # xyzpy's setup is Python run in the growing process; ours is a list of shell lines
        code = out.pop("setup")
        if code.strip() not in ("", "#"):
            raise InvalidInputError(
                f"setup={code!r} is Python code (xyzpy's meaning); xyzfarm's setup is a list "
                "of shell lines run before the worker. Put the Python in the function's "
                "module, or give setup=['shell line', ...]."
            )
    shell = out.pop("shell_setup", None)
    if shell:
        out["setup"] = [str(shell), *(out.get("setup") or [])]
    return out
