"""Which cases still need running: xyzpy's ``parse_into_cases``, ``find_missing_cases`` and
``is_case_missing``.

A case is missing from a Dataset when it lies outside its coordinates, or when every value of
every variable there is null (or, with ``method="isfinite"``, not finite).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InvalidInputError
from ..sweep.combos import CombosLike, as_combos

_METHODS = ("isnull", "isfinite")


def _absent(obj: Any, method: str) -> Any:
    if method == "isnull":
        return obj.isnull()
    if method == "isfinite":
        return ~np.isfinite(obj)
    raise InvalidInputError(f"method={method!r} is not one of {list(_METHODS)}.")


def is_case_missing(
    ds: xr.Dataset | xr.DataArray, setting: Mapping[str, Any], method: str = "isnull"
) -> bool:
    """Whether ``ds`` holds no data at all (in any variable) at the point ``setting``.

    Parameters
    ----------
    ds : Dataset or DataArray
        Where to look.
    setting : mapping of dim to value
        The point.
    method : {"isnull", "isfinite"}
        What counts as no data: null values, or any non-finite value.
    """
    try:
        sub = ds.sel(dict(setting))
    except KeyError:
        return True  # the point lies outside the coordinates
    absent = _absent(sub, method).all()
    if isinstance(absent, xr.Dataset):
        return bool(all(bool(absent[v]) for v in absent.data_vars))
    return bool(absent)


def parse_into_cases(
    combos: CombosLike | None = None,
    cases: Iterable[Mapping[str, Any]] | None = None,
    ds: xr.Dataset | xr.DataArray | None = None,
    method: str = "isnull",
) -> list[dict[str, Any]]:
    """Every case of ``cases`` times ``combos`` as a list of dicts, optionally only those
    missing from ``ds`` (see :func:`is_case_missing`).

    Parameters
    ----------
    combos : mapping or sequence of (name, values) pairs, optional
        Every combination is taken, combined with each case.
    cases : sequence of mappings, optional
        Explicit partial cases (default one empty case).
    ds : Dataset or DataArray, optional
        Keep only the cases with no data there; a DataArray checks that variable alone.
    method : {"isnull", "isfinite"}
        What counts as no data.
    """
    if method not in _METHODS:
        raise InvalidInputError(f"method={method!r} is not one of {list(_METHODS)}.")
    named = as_combos(combos)
    keys, values = list(named), [list(v) for v in named.values()]
    settings = [
        {**dict(case), **dict(zip(keys, point))}
        for case in (list(cases) if cases is not None else [{}])
        for point in itertools.product(*values)
    ]
    if ds is None:
        return settings
    data = ds.to_dataset() if isinstance(ds, xr.DataArray) else ds
    positions = {
        dim: {v: i for i, v in enumerate(data.coords[dim].values.tolist())}
        for dim in data.dims
        if dim in data.coords
    }
    absent = {v: _absent(data[v], method) for v in data.data_vars}
    missing = []
    for setting in settings:
        where = {}
        for dim, value in setting.items():
            pos = positions.get(dim, {}).get(_plain(value))
            if pos is None:
                break  # a new coordinate value (or dimension): nothing there yet
            where[dim] = pos
        else:
            if not all(_all_absent(a, where) for a in absent.values()):
                continue
        missing.append(setting)
    return missing


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _all_absent(absent: xr.DataArray, where: Mapping[Any, int]) -> bool:
    # dims of the variable the case does not fix (its own var_dims) must all be absent too
    index = tuple(where[d] if d in where else slice(None) for d in absent.dims)
    return bool(np.all(absent.values[index]))


def find_missing_cases(
    ds: xr.Dataset | xr.DataArray,
    ignore_dims: str | Iterable[str] | None = None,
    method: str = "isnull",
) -> list[dict[str, Any]]:
    """Every point of ``ds``'s coordinates without data, as a list of case dicts.

    Parameters
    ----------
    ds : Dataset or DataArray
        Where to look.
    ignore_dims : str or sequence of str, optional
        The outputs' own dimensions, not swept; default those not shared by every variable.
    method : {"isnull", "isfinite"}
        What counts as no data.
    """
    data = ds.to_dataset() if isinstance(ds, xr.DataArray) else ds
    if ignore_dims is None:
        ignored = {d for d in data.dims if not all(d in data[v].dims for v in data.data_vars)}
    elif isinstance(ignore_dims, str):
        ignored = {ignore_dims}
    else:
        ignored = set(ignore_dims)
    combos = {str(d): data.coords[d].values for d in data.dims if d not in ignored}
    return parse_into_cases(combos=combos, ds=data, method=method)
