"""Raw results as nested tuples over a grid of argument values, as xyzpy's runners give them.

``combo_runner`` with explicit cases, and reaping a crop without a Runner, return one nesting
level per argument: each case argument over the sorted union of the values its cases take,
then each combos argument in the given order. Points of that grid no case covers hold a
stand-in result of the same shape filled with NaN (:func:`nan_like`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np


def _shape_of(x: Any) -> tuple[int, ...]:
    """The array shape of a nested sequence (strings are scalars)."""
    if isinstance(x, (str, bytes)):
        return ()
    if isinstance(x, np.ndarray):
        return cast("tuple[int, ...]", x.shape)
    try:
        return (len(x), *_shape_of(x[0]))
    except (TypeError, IndexError, KeyError):
        return ()


def nan_like(result: Any) -> Any:
    """A stand-in for a missing ``result``: the same structure, filled with NaN.

    Scalars become ``nan``; a tuple of outputs becomes a tuple of NaN arrays of their
    shapes; Datasets, DataArrays and dicts become float Datasets of NaN; strings and
    booleans become None (NaN would read back as the string ``'nan'``, or as True).
    """
    import xarray as xr

    if isinstance(result, Mapping):
        result = xr.Dataset(dict(result))
    if isinstance(result, (xr.Dataset, xr.DataArray)):
        return xr.full_like(result, np.nan, dtype=float)
    if isinstance(result, (bool, np.bool_, str, bytes)):
        return None
    if isinstance(result, np.ndarray):
        return np.broadcast_to(np.nan, result.shape)
    if isinstance(result, (tuple, list)):
        return tuple(np.broadcast_to(np.nan, _shape_of(x)) for x in result)
    return np.nan


def union_values(values: Sequence[Any]) -> list[Any]:
    """The distinct ``values``, sorted when they can be (else in first-seen order)."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def grid_axes(
    case_names: Sequence[str],
    case_rows: Sequence[tuple[Any, ...]],
    combos: Mapping[str, Sequence[Any]],
) -> list[list[Any]]:
    """One axis per argument: each case argument's sorted values, then each combos argument's."""
    axes = [union_values([row[k] for row in case_rows]) for k in range(len(case_names))]
    return axes + [list(v) for v in combos.values()]


def nest(store: Mapping[tuple[Any, ...], Any], axes: Sequence[Sequence[Any]], fill: Any) -> Any:
    """Nested tuples over ``axes``, taking each point's value from ``store`` (else ``fill``)."""

    def build(prefix: tuple[Any, ...], depth: int) -> Any:
        if depth == len(axes):
            return store.get(prefix, fill)
        return tuple(build((*prefix, v), depth + 1) for v in axes[depth])

    return build((), 0)
