"""Call a function once per case, serially or through a ``concurrent.futures``-style executor.

The hot loop matters: a sweep of 10^5 trivial cases should cost little more than the bare
loop. Building a ``dict`` of keyword arguments per case doubles the cost, so each sweep gets
a small *trampoline*: a function compiled once whose body calls ``fn`` with fixed keyword
names, and which is driven positionally by ``itertools.starmap``. Only argument names that are
plain identifiers are compiled in (values never are); any other name goes through ``**``.

Parallel runs send cases in chunks (not one future per case) and the function cloudpickled
once, so lambdas, closures and functions defined in ``__main__`` work with process pools.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import hashlib
import itertools
import keyword
import linecache
import multiprocessing.pool  # as xyzpy: code passing pools may use it without importing it
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from ..errors import InvalidInputError
from ..store import storage
from .arguments import Case, positional_names
from .progress import progress_bar  # tqdm itself is imported only when a bar is drawn

#: fewest cases worth a progress-bar update, and most chunks a serial sweep is cut into
_MIN_CHUNK = 64
_PROGRESS_STEPS = 200
#: cases between young-generation collections while the cyclic GC is paused
_GC_CHUNK = 4096


def make_caller(
    fn: Callable[..., Any], names: Sequence[str], fixed: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """Return ``call(*values)`` that runs ``fn(**dict(zip(names, values)), **fixed)``, fast."""
    fixed = dict(fixed or {})
    if not fixed and (positional_names(fn) or ())[: len(names)] == tuple(names):
        # the swept arguments lead the signature in order: call fn itself, positionally
        return fn
    plain = [n for n in fixed if n.isidentifier() and not keyword.iskeyword(n)]
    other = {n: v for n, v in fixed.items() if n not in plain}
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        keys = tuple(names)

        def call_by_dict(*values: Any) -> Any:
            return fn(**dict(zip(keys, values)), **fixed)

        return call_by_dict
    params = ", ".join(f"_v{i}" for i in range(len(names)))
    kwargs = [f"{n}=_v{i}" for i, n in enumerate(names)]
    kwargs += [f"{n}=_c{i}" for i, n in enumerate(plain)]
    if other:
        kwargs.append("**_other")
    namespace: dict[str, Any] = {"_fn": fn, "_other": other}
    namespace.update({f"_c{i}": fixed[n] for i, n in enumerate(plain)})
    src = f"def _call({params}):\n    return _fn({', '.join(kwargs)})\n"
    # the source goes into linecache, so a traceback shows the call line between the
    # worker's frame and the user's file and line
    filename = f"<xyzfarm trampoline {hashlib.sha256(src.encode()).hexdigest()[:8]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)  # noqa: S102 - names are checked identifiers
    call: Callable[..., Any] = namespace["_call"]
    return call


def _describe(names: Sequence[str], row: Case) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in zip(names, row))


def _run_rows(call: Callable[..., Any], rows: Sequence[Case], names: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    try:
        # extend() keeps what was computed before a failure, so we can name the failing case
        out.extend(itertools.starmap(call, rows))
    except Exception as exc:
        if hasattr(exc, "add_note") and len(out) < len(rows):
            exc.add_note(f"xyzfarm: raised by the case {_describe(names, rows[len(out)])}")
        raise
    return out


def _run_chunk_payload(payload: bytes | tuple[Any, ...], rows: list[Case]) -> Any:
    """Run one chunk; from another process (``payload`` pickled) the results come back
    pickled the same way, so values of classes local to the user's function travel too
    (the executor's own pickle refuses them, where xyzpy's loky pool took them)."""
    if not isinstance(payload, bytes):
        fn, names, fixed = payload
        return _run_rows(make_caller(fn, names, fixed), rows, names)
    fn, names, fixed = storage.loads(payload)
    # plain: the standard pickler (C, fast) first; cloudpickle only for what it refuses
    return storage.dumps(_run_rows(make_caller(fn, names, fixed), rows, names), plain=True)


def _chunks(rows: Sequence[Case], size: int) -> list[list[Case]]:
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def _progress(total: int, verbosity: int, desc: str | None) -> Any:
    if verbosity < 1:
        return None
    return progress_bar(total, desc, "case")


def run(
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: Iterable[Case],
    fixed: dict[str, Any] | None = None,
    *,
    executor: Any = None,
    num_workers: int | None = None,
    parallel: bool = False,
    verbosity: int = 0,
    desc: str | None = None,
) -> list[Any]:
    """Call ``fn`` on every case and return the raw results in case order.

    Parameters
    ----------
    fn : callable
        The function, called with the case's values by keyword plus ``fixed``.
    names : sequence of str
        Argument names of the values in each case.
    rows : iterable of tuple
        The cases, each a tuple of values in ``names`` order.
    fixed : dict, optional
        Keyword arguments passed to every call (constants and resources).
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning a future with ``result()``.
    num_workers : int, optional
        Size of a process pool to create when no executor is given (``> 1`` means parallel).
    parallel : bool, optional
        Use a process pool with ``os.cpu_count()`` workers when no executor is given.
    verbosity : {0, 1, 2}, optional
        0 silent, 1 a progress bar, 2 a progress bar showing the current case.
    desc : str, optional
        Label of the progress bar.
    """
    rows = rows if isinstance(rows, Sequence) else list(rows)
    if executor is None and (parallel or (num_workers is not None and num_workers > 1)):
        with cf.ProcessPoolExecutor(max_workers=num_workers) as pool:
            return _run_with_executor(pool, fn, names, rows, fixed, verbosity, desc, num_workers)
    if executor is not None:
        return _run_with_executor(executor, fn, names, rows, fixed, verbosity, desc, num_workers)
    call = make_caller(fn, names, fixed)
    bar = _progress(len(rows), verbosity, desc)
    step = _GC_CHUNK if bar is None else max(_MIN_CHUNK, len(rows) // _PROGRESS_STEPS)
    out: list[Any] = []
    with bar if bar is not None else contextlib.nullcontext():
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            if bar is not None and verbosity >= 2:
                bar.set_postfix_str(_describe(names, chunk[0]), refresh=False)
            out.extend(_run_rows(call, chunk, names))
            if not gc.isenabled():
                gc.collect(0)  # free cycles the function made, as automatic GC would have
            if bar is not None:
                bar.update(len(chunk))
    return out


def submitter(executor: Any) -> Callable[..., Any]:
    """How to hand ``fn(*args)`` to ``executor``: ``submit`` (concurrent.futures, submitit,
    dask), else ``apply_async`` (``multiprocessing.Pool`` / ``ThreadPool``, ipyparallel views),
    as xyzpy accepts. The returned handle has ``result()`` or ``get()``.

    Raises
    ------
    InvalidInputError
        If the executor has neither method.
    """
    if isinstance(executor, multiprocessing.pool.Pool):
        return lambda fn, *args: executor.apply_async(fn, args)
    if callable(getattr(executor, "submit", None)):
        return cast("Callable[..., Any]", executor.submit)
    if callable(getattr(executor, "apply_async", None)):
        return cast("Callable[..., Any]", executor.apply_async)
    raise InvalidInputError(
        f"executor {executor!r} has neither submit() nor apply_async(); pass a "
        "concurrent.futures-style executor (ProcessPoolExecutor, ThreadPoolExecutor, submitit, "
        "dask) or a multiprocessing Pool."
    )


def _run_with_executor(
    executor: Any,
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: Sequence[Case],
    fixed: dict[str, Any] | None,
    verbosity: int,
    desc: str | None,
    num_workers: int | None,
) -> list[Any]:
    submit = submitter(executor)
    workers = (
        num_workers
        or getattr(executor, "_max_workers", None)
        or getattr(executor, "_processes", None)  # multiprocessing pools
        or 4
    )
    # a few chunks per worker balances load without paying per-case future overhead
    size = max(1, -(-len(rows) // (4 * workers)))
    chunks = _chunks(rows, size)
    payload: bytes | tuple[Any, ...]
    if isinstance(executor, cf.ThreadPoolExecutor):
        payload = (fn, tuple(names), dict(fixed or {}))
    else:
        payload = storage.dumps((fn, tuple(names), dict(fixed or {})))
    futures = [submit(_run_chunk_payload, payload, chunk) for chunk in chunks]
    bar = _progress(len(rows), verbosity, desc)
    results: list[list[Any]] = []
    try:
        for fut, chunk in zip(futures, chunks):
            got = fut.result() if hasattr(fut, "result") else fut.get()
            results.append(storage.loads(got) if isinstance(payload, bytes) else got)
            if bar is not None:
                if verbosity >= 2:
                    bar.set_postfix_str(_describe(names, chunk[-1]), refresh=False)
                bar.update(len(chunk))
    except BaseException:
        for fut in futures:
            cancel = getattr(fut, "cancel", None)
            if cancel is not None:
                cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    return [r for chunk_results in results for r in chunk_results]
