"""xyzpy's DataFrame runners and ``results_to_ds``: other shapes of the same sweeps.

``combo_runner_to_df`` / ``case_runner_to_df`` give one row per case (arguments, constants,
attrs, then outputs); ``results_to_ds`` labels the nested results of
:func:`~xyzfarm.combo_runner` after the fact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..sweep.assemble import build_dataset, check_schema
from ..sweep.combos import (
    Case,
    CombosLike,
    check_cases,
    check_combos,
    iter_combos,
    make_sweep,
    product_with_cases,
)
from ..sweep.run import as_mapping, case_runner_to_ds, check_settings, combo_runner_to_ds, sweep
from ..sweep.table import results_table

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr


def _table(
    fn: Callable[..., Any],
    names: Sequence[str],
    rows: list[Case],
    var_names: Any,
    constants: Mapping[str, Any] | None,
    resources: Mapping[str, Any] | None,
    attrs: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
) -> pd.DataFrame:
    consts = as_mapping(constants, "constants")
    results = sweep(fn, names, rows, consts, as_mapping(resources, "resources"), settings)
    return results_table(names, rows, results, var_names, consts, attrs)


def combo_runner_to_df(
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
    to_df: bool = True,
    **runner_settings: Any,
) -> pd.DataFrame | xr.Dataset:
    """Run every combination of ``combos`` and return one DataFrame row per case.

    Parameters
    ----------
    fn : callable
        The function to run.
    combos : mapping or sequence of (name, values) pairs
        The arguments to sweep (any of xyzpy's forms).
    var_names : str or sequence of str or None
        The names of ``fn``'s outputs.
    var_dims, var_coords : mapping, optional
        Only used with ``to_df=False``: a table has no other dimension than its rows.
    cases : iterable of mapping, optional
        Cases to run, each with every combination of ``combos``.
    constants, resources, attrs : mapping, optional
        As for :func:`~xyzfarm.combo_runner_to_ds`.
    to_df : bool, optional
        ``False`` returns :func:`~xyzfarm.combo_runner_to_ds`'s Dataset instead (as in
        xyzpy, where this function is ``combo_runner_to_ds`` with ``to_df=True``).
    **runner_settings
        ``parallel``, ``num_workers``, ``executor``, ``verbosity``, ``shuffle``, ``desc``;
        xyzpy's ``parse`` is accepted and ignored (the inputs are always checked).

    Returns
    -------
    pandas.DataFrame
        Columns: the swept arguments, then constants and attrs, then one per output.
    """
    runner_settings.pop("parse", None)
    if not to_df:
        return cast(
            "pd.DataFrame | xr.Dataset",
            combo_runner_to_ds(
                fn,
                combos,
                var_names,
                var_dims=var_dims,
                var_coords=var_coords,
                cases=cases,
                constants=constants,
                resources=resources,
                attrs=attrs,
                **runner_settings,
            ),
        )
    cases_ = make_sweep(combos, cases)
    settings = check_settings(runner_settings)
    return _table(fn, cases_.names, cases_.rows, var_names, constants, resources, attrs, settings)


def case_runner_to_df(
    fn: Callable[..., Any],
    fn_args: str | Sequence[str] | None,
    cases: Iterable[Any],
    var_names: str | Sequence[str] | None,
    var_dims: Any = None,
    var_coords: Any = None,
    combos: CombosLike | None = None,
    constants: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    shuffle: bool | int = False,
    *,
    to_df: bool = True,
    **runner_settings: Any,
) -> pd.DataFrame | xr.Dataset:
    """Run each case and return one DataFrame row per case.

    Parameters
    ----------
    fn : callable
        The function to run.
    fn_args : str or sequence of str or None
        The names of the arguments each case gives, in order.
    cases : iterable
        The cases: tuples in ``fn_args``'s order, or mappings.
    var_names : str or sequence of str or None
        The names of ``fn``'s outputs.
    var_dims, var_coords : mapping, optional
        Only used with ``to_df=False``: a table has no other dimension than its rows.
    combos : mapping or sequence of (name, values) pairs, optional
        Arguments swept for every case.
    constants, resources, attrs : mapping, optional
        As for :func:`~xyzfarm.case_runner_to_ds`.
    shuffle : bool or int, optional
        Run the cases in a random order (an int is the seed); rows stay in case order.
    to_df : bool, optional
        ``False`` returns :func:`~xyzfarm.case_runner_to_ds`'s Dataset instead (as in
        xyzpy, where this function is ``case_runner_to_ds`` with ``to_df=True``).
    **runner_settings
        ``parallel``, ``num_workers``, ``executor``, ``verbosity``, ``desc``; xyzpy's
        ``parse`` is accepted and ignored (the inputs are always checked).

    Returns
    -------
    pandas.DataFrame
        Columns as for :func:`combo_runner_to_df`.
    """
    runner_settings.pop("parse", None)
    if not to_df:
        return cast(
            "pd.DataFrame | xr.Dataset",
            case_runner_to_ds(
                fn,
                fn_args,
                cases,
                var_names,
                var_dims,
                var_coords,
                combos,
                constants,
                resources,
                attrs,
                shuffle=shuffle,
                **runner_settings,
            ),
        )
    fn_args = (fn_args,) if isinstance(fn_args, str) else fn_args
    names, rows = check_cases(cases, fn_args)
    if combos:
        names, rows = product_with_cases(names, rows, check_combos(combos))
    settings = check_settings({"shuffle": shuffle, **runner_settings})
    return _table(fn, names, rows, var_names, constants, resources, attrs, settings)


def _flatten(nested: Any, depth: int) -> list[Any]:
    if depth == 0:
        return [nested]
    return [leaf for sub in nested for leaf in _flatten(sub, depth - 1)]


def results_to_ds(
    results: Any,
    combos: CombosLike,
    var_names: str | Sequence[str] | None,
    var_dims: Any = None,
    var_coords: Mapping[str, Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Label the nested results of ``combo_runner(fn, combos)`` as a Dataset.

    Parameters
    ----------
    results : nested sequence
        One nesting level per argument of ``combos``, in order (as ``combo_runner`` gives).
    combos : mapping or sequence of (name, values) pairs
        The combos that were run.
    var_names, var_dims, var_coords, constants, attrs
        As for :func:`~xyzfarm.combo_runner_to_ds`.
    """
    checked = check_combos(combos)
    schema = check_schema(var_names, var_dims, var_coords)
    flat = _flatten(results, len(checked))
    rows = list(iter_combos(checked))
    return build_dataset(
        flat, tuple(checked), rows, schema, as_mapping(constants, "constants"), attrs, checked
    )
