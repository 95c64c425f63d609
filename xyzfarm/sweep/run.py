"""Sweeping a function over combos or cases in this process: the module-level runners.

``combo_runner`` / ``case_runner`` return raw results; ``combo_runner_to_ds`` /
``case_runner_to_ds`` label them as an :class:`xarray.Dataset`. :class:`~xyzfarm.Runner`
calls these with its stored description.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from . import execute
from .arguments import check_arguments
from .assemble import Schema, build_dataset, check_schema
from .combos import (
    Case,
    CombosLike,
    Sweep,
    check_cases,
    check_combos,
    iter_combos,
    make_sweep,
    product_with_cases,
)
from .gc_pause import paused_gc
from .nested import grid_axes, nan_like, nest
from .table import results_table

if TYPE_CHECKING:
    pass

#: settings a sweep accepts, with xyzpy's meaning
RUNNER_SETTINGS = ("parallel", "num_workers", "executor", "verbosity", "shuffle", "desc")


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(RUNNER_SETTINGS))
    if unknown:
        raise InvalidInputError(
            f"unknown runner setting(s) {unknown}; the settings are {list(RUNNER_SETTINGS)}."
        )
    return dict(settings)


def as_mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{what} must be a mapping of names to values, got {value!r}."
        ) from None


def sweep(
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: Sequence[Case],
    constants: Mapping[str, Any],
    resources: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> list[Any]:
    """Check the call, then run ``fn`` on every case (honouring ``shuffle``); raw results."""
    check_arguments(
        fn, {"the swept arguments": names, "constants": constants, "resources": resources}
    )
    fixed = {**constants, **resources}
    order = list(range(len(rows)))
    shuffle = settings.get("shuffle")
    if shuffle:
        # shuffling balances load between workers; results come back in case order. An int
        # is a seed (True is seed 1, as in xyzpy), but the global random state is left alone
        random.Random(int(shuffle)).shuffle(order)
        shuffled = [rows[i] for i in order]
    else:
        shuffled = list(rows)
    results = execute.run(
        fn,
        names,
        shuffled,
        fixed,
        executor=settings.get("executor"),
        num_workers=settings.get("num_workers"),
        parallel=bool(settings.get("parallel", False)),
        verbosity=int(settings.get("verbosity", 1)),
        desc=settings.get("desc"),
    )
    if settings.get("shuffle"):
        unshuffled: list[Any] = [None] * len(rows)
        for i, r in zip(order, results):
            unshuffled[i] = r
        results = unshuffled
    return results


def _nest(flat: Sequence[Any], shape: Sequence[int]) -> tuple[Any, ...]:
    """``flat`` (last axis fastest) as nested tuples of ``shape``, as xyzpy nests results."""
    if len(shape) <= 1:
        return tuple(flat)
    step = len(flat) // shape[0]
    return tuple(_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0]))


def combo_runner(
    fn: Callable[..., Any],
    combos: CombosLike | None = None,
    *,
    cases: Iterable[Mapping[str, Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    split: bool = False,
    flat: bool = False,
    shuffle: bool = False,
    parallel: bool = False,
    executor: Any = None,
    num_workers: int | None = None,
    verbosity: int = 1,
    desc: str | None = None,
) -> Any:
    """Evaluate ``fn`` over every combination of ``combos`` and return the raw results.

    Parameters
    ----------
    fn : callable
        The function, called with keyword arguments.
    combos : mapping of str to sequence, or sequence of (name, values) pairs
        Values of each argument; every combination is run (last argument varies fastest).
        As in xyzpy, a single ``(name, values)`` pair sweeps one argument.
    cases : sequence of mappings, optional
        Explicit partial cases, each combined with every point of ``combos``.
    constants : mapping, optional
        Arguments passed unchanged to every call.
    split : bool, optional
        If ``fn`` returns a tuple, return one nested tuple per output instead.
    flat : bool, optional
        Return a flat tuple in case order instead of nested tuples.
    shuffle : bool, optional
        Run the cases in random order (results keep their place).
    parallel, executor, num_workers, verbosity, desc
        How to run: see :func:`xyzfarm.sweep.execute.run`.

    Returns
    -------
    tuple
        Nested tuples with one level per argument (as xyzpy), or a flat tuple in case order. With
        ``cases``, as in xyzpy, the grid is dense: each case argument runs over the sorted
        values its cases take, then each combos argument, and points no case covers hold
        NaN of the result's shape (see :func:`xyzfarm.sweep.nested.nan_like`).
    """
    checked = check_combos(combos or {})
    case_names: tuple[str, ...] = ()
    case_rows: list[Case] = []
    if cases is not None:
        case_names, case_rows = check_cases(cases)
        names, rows = product_with_cases(case_names, case_rows, checked)
    else:
        names, rows = tuple(checked), list(iter_combos(checked))
    shape = [len(v) for v in checked.values()]
    settings = dict(
        shuffle=shuffle,
        parallel=parallel,
        executor=executor,
        num_workers=num_workers,
        verbosity=verbosity,
        desc=desc,
    )
    results = sweep(fn, names, rows, as_mapping(constants, "constants"), {}, settings)

    def arrange(values: list[Any]) -> Any:
        if flat:
            return tuple(values)
        if cases is None:
            return _nest(values, shape)
        # the dense grid over the cases' values x combos, as xyzpy: uncovered points are NaN
        axes = grid_axes(case_names, case_rows, checked)
        return nest(dict(zip(rows, values)), axes, nan_like(values[0]))

    if split:
        outputs = list(zip(*results)) if results else []
        return tuple(arrange(list(o)) for o in outputs)
    return arrange(results)


def case_runner(
    fn: Callable[..., Any],
    fn_args: str | Sequence[str] | None,
    cases: Iterable[Any],
    combos: CombosLike | None = None,
    constants: Mapping[str, Any] | None = None,
    split: bool = False,
    shuffle: bool = False,
    parse: bool = True,
    parallel: bool = False,
    executor: Any = None,
    num_workers: int | None = None,
    verbosity: int = 1,
) -> tuple[Any, ...]:
    """Evaluate ``fn`` on each case and return the raw results as a tuple, in case order.

    Parameters
    ----------
    fn : callable
        The function.
    fn_args : str or sequence of str, optional
        Names of the values of tuple cases (not needed for mapping cases).
    cases : sequence of mappings or tuples
        The cases to run.
    combos : mapping or sequence of (name, values) pairs, optional
        Run every case combined with every point of these combos (results nested per case).
    constants : mapping, optional
        Arguments passed unchanged to every call.
    split : bool, optional
        Return one tuple per output instead of one tuple of outputs per case.
    shuffle, parse, parallel, executor, num_workers, verbosity
        See :func:`combo_runner`; ``parse`` is accepted for compatibility.
    """
    del parse  # inputs are always validated
    fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
    names, rows = check_cases(cases, fn_args)
    settings = dict(
        shuffle=shuffle,
        parallel=parallel,
        executor=executor,
        num_workers=num_workers,
        verbosity=verbosity,
    )
    consts = as_mapping(constants, "constants")
    if combos:
        checked = check_combos(combos)
        all_names, all_rows = product_with_cases(names, rows, checked)
        flat = sweep(fn, all_names, all_rows, consts, {}, settings)
        shape = [len(v) for v in checked.values()]
        per = len(flat) // len(rows)
        results: list[Any] = [_nest(flat[i * per : (i + 1) * per], shape) for i in range(len(rows))]
    else:
        results = sweep(fn, names, rows, consts, {}, settings)
    if split:
        return tuple(zip(*results))
    return tuple(results)


def run_to_ds(
    fn: Callable[..., Any],
    cases: Sweep,
    schema: Schema,
    constants: Mapping[str, Any],
    resources: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    *,
    to_df: bool = False,
) -> Any:
    """Run ``fn`` over ``cases`` and label the results: a Dataset (a DataFrame, one row per
    case, with ``to_df``), as every ``*_to_ds`` entry point and the Runner do."""
    names, rows = cases.names, cases.rows
    with paused_gc():
        results = sweep(fn, names, rows, constants, resources, check_settings(settings))
        if to_df:  # xyzpy's one row per case instead of a labelled Dataset
            return results_table(names, rows, results, schema.var_names, constants, attrs)
        return build_dataset(results, names, rows, schema, constants, attrs, cases.grid)


def combo_runner_to_ds(
    fn: Callable[..., Any],
    combos: CombosLike | None,
    var_names: str | Sequence[str] | None,
    *,
    var_dims: Mapping[str, Any] | None = None,
    var_coords: Mapping[str, Any] | None = None,
    cases: Iterable[Mapping[str, Any]] | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    parse: bool = True,
    to_df: bool = False,
    **runner_settings: Any,
) -> Any:
    """Evaluate ``fn`` over all combinations of ``combos`` and label the results as a Dataset.

    The Dataset has one variable per output name, with the combos' arguments as leading
    dimensions (in the given order) followed by the output's own ``var_dims``.
    Constants naming a dimension become its coordinate, other constants become attributes;
    resources are passed to ``fn`` but never stored. See :func:`combo_runner` for settings.
    ``to_df=True`` gives a DataFrame with one row per case instead (as xyzpy). ``parse``
    is accepted for xyzpy compatibility: every form is always read and checked.
    """
    del parse
    schema = check_schema(var_names, var_dims, var_coords)
    return run_to_ds(
        fn,
        make_sweep(combos, cases),
        schema,
        as_mapping(constants, "constants"),
        as_mapping(resources, "resources"),
        attrs,
        runner_settings,
        to_df=to_df,
    )


def case_runner_to_ds(
    fn: Callable[..., Any],
    fn_args: str | Sequence[str] | None,
    cases: Iterable[Any],
    var_names: str | Sequence[str] | None,
    var_dims: Mapping[str, Any] | None = None,
    var_coords: Mapping[str, Any] | None = None,
    combos: CombosLike | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    shuffle: bool | int = False,
    to_df: bool = False,
    parse: bool = True,
    parallel: bool | int = False,
    num_workers: int | None = None,
    executor: Any = None,
    verbosity: int = 1,
    **runner_settings: Any,
) -> Any:
    """Evaluate ``fn`` on each case and label the results as a Dataset.

    The Dataset's coordinates are the sorted unique values each argument takes across the
    cases; points of that grid no case covers hold the missing value (NaN for numbers; None
    for bool and text outputs, as xyzpy). Parameters come in xyzpy's positional order;
    ``to_df=True`` gives a DataFrame with one row per case instead; ``parse`` is accepted
    for xyzpy compatibility (every form is always read and checked).
    """
    del parse
    schema = check_schema(var_names, var_dims, var_coords)
    fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
    runner_settings.update(
        shuffle=shuffle,
        parallel=parallel,
        num_workers=num_workers,
        executor=executor,
        verbosity=verbosity,
    )
    return run_to_ds(
        fn,
        make_sweep(combos, cases, fn_args),
        schema,
        as_mapping(constants, "constants"),
        as_mapping(resources, "resources"),
        attrs,
        runner_settings,
        to_df=to_df,
    )
