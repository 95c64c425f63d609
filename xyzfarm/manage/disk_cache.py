"""xyzpy's ``cache_to_disk``: remember a function's results in files, keyed by its arguments.

xyzpy uses joblib's Memory; this is our own small cache (joblib is not a dependency). Each
result is one file ``<cachedir>/<module>.<name>/<sha256 of the pickled arguments>.pkl``,
written atomically, so concurrent callers (array tasks sharing a folder) never read half a
file: at worst two compute the same result and the later rename wins.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store import storage

DEFAULT_CACHEDIR = "__xyz_cache__"


def _cached(fn: Callable[..., Any], cachedir: str | os.PathLike[str]) -> Callable[..., Any]:
    folder = Path(cachedir) / f"{fn.__module__}.{fn.__qualname__}".replace("<", "_").replace(
        ">", "_"
    )

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = hashlib.sha256(storage.dumps((args, sorted(kwargs.items())))).hexdigest()
        path = folder / f"{key}.pkl"
        try:
            return storage.loads(path.read_bytes())
        except FileNotFoundError:
            pass
        result = fn(*args, **kwargs)
        folder.mkdir(parents=True, exist_ok=True)
        storage.write_bytes(path, storage.dumps(result))
        return result

    def clear() -> None:
        """Forget every cached result of this function."""
        for path in folder.glob("*.pkl"):
            path.unlink(missing_ok=True)

    wrapper.clear = clear  # type: ignore[attr-defined]
    return wrapper


def cache_to_disk(
    fn: Callable[..., Any] | None = None,
    *,
    cachedir: str | os.PathLike[str] = DEFAULT_CACHEDIR,
    **kwargs: Any,
) -> Any:
    """Cache ``fn``'s results on disk, keyed by its arguments (a decorator, bare or called).

    Parameters
    ----------
    fn : callable, optional
        The function; without it, returns a decorator.
    cachedir : path-like
        The cache folder (default ``__xyz_cache__`` in the current directory).
    **kwargs
        joblib Memory options of xyzpy's version (e.g. ``verbose``): accepted, unused.

    Notes
    -----
    Arguments must pickle; a changed function body is not detected (call ``fn.clear()``).
    """
    del kwargs
    if fn is not None:
        return _cached(fn, cachedir)
    return functools.partial(_cached, cachedir=cachedir)
