"""Combine new results with a full dataset, and find which cases a full dataset lacks.

``overwrite`` has xyzpy's three meanings:

* ``None``: merge, and raise :class:`MergeConflictError` where both hold different non-missing
  values (a missing value never conflicts);
* ``True``: new values win where both have one;
* ``False``: old values win where both have one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import xarray as xr

from ..errors import (
    CoordinateTypeError,
    DimensionMismatchError,
    InvalidInputError,
    MergeConflictError,
)

#: variables describing how cases were computed (see :data:`xyzfarm.crop.reap.PROVENANCE`)
PROVENANCE_PREFIX = "xyz_"


def merge_datasets(old: xr.Dataset | None, new: xr.Dataset, overwrite: bool | None) -> xr.Dataset:
    """Return the union of ``old`` and ``new`` as ``overwrite`` says (neither is modified)."""
    if isinstance(new, xr.DataArray):
        new = new.to_dataset()
    if old is None or (not old.data_vars and not old.coords):
        return cast("xr.Dataset", new.copy(deep=False).drop_encoding())
    check_mergeable(old, new)
    prov = [v for v in new.data_vars if str(v).startswith(PROVENANCE_PREFIX)]
    if prov and overwrite is None:
        # provenance merged into the data (reap(provenance="in")) never "conflicts": it
        # follows the values, and a case computed again is described by its latest computation
        values = merge_datasets(
            old.drop_vars([v for v in prov if v in old]), new.drop_vars(prov), None
        )
        described = merge_provenance(old[[v for v in prov if v in old]], new[prov], None)
        merged = xr.merge([values, described], join="outer", compat="override")
        return cast("xr.Dataset", merged.drop_encoding())
    if overwrite is True:
        merged = new.combine_first(old)
    elif overwrite is False:
        merged = old.combine_first(new)
    elif overwrite is None:
        try:
            merged = xr.merge(
                [old, new], compat="no_conflicts", join="outer", combine_attrs="drop_conflicts"
            )
        except xr.MergeError as exc:
            raise MergeConflictError(
                f"{_describe_conflict(old, new) or exc}; pass overwrite=True to keep the new "
                "values or overwrite=False to keep the old ones."
            ) from exc
    else:
        raise InvalidInputError(f"overwrite must be None, True or False, got {overwrite!r}.")
    # encodings of the old file (e.g. a fixed string width) must not truncate new values
    return cast("xr.Dataset", merged.drop_encoding())


def merge_provenance(old: xr.Dataset | None, new: xr.Dataset, overwrite: bool | None) -> xr.Dataset:
    """Combine two provenance Datasets (``xyz_*`` variables) case by case; never a conflict.

    Provenance follows the values it describes: with ``overwrite`` None or True, a case
    described in ``new`` (computed again) takes its new description, whole; with False (old
    values win), a case already described keeps its old one. Cases described by one side only
    keep that description. Neither input is modified.
    """
    if old is None or not old.data_vars:
        return cast("xr.Dataset", new.copy(deep=False).drop_encoding())
    first, second = xr.align(*((old, new) if overwrite is False else (new, old)), join="outer")
    # a case is described by all the variables or none: its start time says which
    whole = "xyz_start" in first.data_vars
    described = {}
    for name in dict.fromkeys([*new.data_vars, *old.data_vars]):
        if name not in second.data_vars or name not in first.data_vars:
            described[name] = (first if name in first.data_vars else second)[name]
            continue
        a = first[name]
        where = first["xyz_start"].notnull() if whole else has_description(a)
        # where() rather than combine_first: combine_first cannot fill datetimes here (xarray
        # leaves where() untyped)
        described[name] = xr.where(where, a, second[name])  # type: ignore[no-untyped-call]
    return cast("xr.Dataset", xr.Dataset(described).drop_encoding())


def has_description(var: xr.DataArray) -> xr.DataArray:
    """Where ``var`` holds a value: text read back from a file says "missing" as ''."""
    present = var.notnull()
    if var.dtype.kind in "OUS":
        present &= var != ""
    return cast("xr.DataArray", present)


def check_mergeable(old: xr.Dataset, new: xr.Dataset) -> None:
    """Refuse new results that xarray would merge by silently changing what they mean.

    xarray broadcasts a variable over dimensions it lacks (a value computed once would be
    copied to every point of the other dimension) and turns coordinates of different kinds
    into one (``1`` stored as ``'1'``).

    Raises
    ------
    DimensionMismatchError
        If a variable has other dimensions in ``new`` than in ``old``.
    CoordinateTypeError
        If a coordinate holds values of another kind (number, text, time, ...).
    """
    for name, var in new.data_vars.items():
        if name in old.data_vars and set(old[name].dims) != set(var.dims):
            hint = _dims_hint(set(old[name].dims), set(var.dims))
            raise DimensionMismatchError(
                f"the variable {str(name)!r} has the dimensions {tuple(var.dims)} in the new "
                f"results but {tuple(old[name].dims)} in the full dataset; {hint}"
            )
    for name, coord in new.coords.items():
        if name not in old.coords:
            continue
        had, got = _value_kind(old.coords[name].values), _value_kind(coord.values)
        if had is not None and got is not None and had != got:
            raise CoordinateTypeError(
                f"the coordinate {str(name)!r} holds {got} values ({coord.dtype}) in the new "
                f"results but {had} values ({old.coords[name].dtype}) in the full dataset, so "
                f"merging would convert one into the other (e.g. 1 into '1'); give {str(name)!r} "
                "values of the same type as the file has."
            )


def check_sweep_fits(
    full: xr.Dataset | None,
    arg_names: Sequence[str],
    var_names: Sequence[str] | None,
    var_dims: Mapping[str, Sequence[str]],
    where: str,
    ways_out: str,
) -> None:
    """Refuse a sweep whose results could not merge into ``full``, before any case runs.

    Each output already in ``full`` must get the same dimensions from the sweep (its swept
    arguments, then the output's own ``var_dims``) as it has there; merging finds out too,
    but only after every case was computed (on a cluster, after the queue wait).

    Raises
    ------
    DimensionMismatchError
        Naming the output, both sets of dimensions, the file ``where`` and ``ways_out``.
    """
    if full is None or var_names is None:
        return  # nothing to fit yet, or labelled outputs: their dims are known only once run
    for var in var_names:
        if var not in full.data_vars:
            continue
        new = (*arg_names, *var_dims.get(var, ()))
        had = tuple(map(str, full[var].dims))
        if set(new) != set(had):
            # dims the file has that the sweep holds constant: sweeping them is the first way
            hint = f"{_dims_hint(set(had), set(new))} Or: " if set(new) < set(had) else ""
            raise DimensionMismatchError(
                f"the output {var!r} would have the dimensions {new} from this sweep but has "
                f"{had} in {where}, so its results could not be merged there; nothing was "
                f"run. {hint}{ways_out}"
            )


def _dims_hint(had: set[Any], got: set[Any]) -> str:
    lacking = sorted(map(str, had - got))
    extra = sorted(map(str, got - had))
    if lacking and not extra:
        return (
            f"sweep {lacking} too (use ... for all the file's values) instead of holding "
            "them constant, so each value is computed rather than copied."
        )
    return (
        "the function's outputs changed shape or the sweep changed arguments: save these "
        "results to another file, or rename the variable."
    )


#: pandas' names of the values in an array, grouped by what merging may not mix
_KINDS = {
    "integer": "numeric",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "complex": "numeric",
    "string": "text",
    "bytes": "text",
    "boolean": "boolean",
    "datetime64": "time",
    "datetime": "time",
    "date": "time",
    "timedelta64": "duration",
    "timedelta": "duration",
}


def _value_kind(values: np.ndarray) -> str | None:
    import pandas as pd

    # object arrays (text read back from a file is one) are classed by their values
    return _KINDS.get(pd.api.types.infer_dtype(np.asarray(values).ravel(), skipna=True))


def _describe_conflict(old: xr.Dataset, new: xr.Dataset) -> str | None:
    for name in new.data_vars:
        if name not in old.data_vars:
            continue
        try:
            a, b = xr.align(old[name], new[name], join="inner")
        except ValueError:
            continue
        clash = (a.notnull() & b.notnull() & (a != b)).values
        if clash.any():
            where = np.argwhere(clash)[0]
            point = {d: a[d].values[i].item() for d, i in zip(a.dims, where) if d in a.coords}
            return (
                f"new results conflict with the full dataset: {int(clash.sum())} value(s) of "
                f"{name!r} differ, first at {point} (old {a.values[tuple(where)]!r}, new "
                f"{b.values[tuple(where)]!r})"
            )
    return None


def missing_cases(
    full_ds: xr.Dataset | None,
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    var_dims: Mapping[str, Sequence[str]],
) -> list[tuple[Any, ...]]:
    """The cases among ``rows`` that ``full_ds`` does not hold yet, in their given order.

    A case is *missing* when its point is absent from the dataset's coordinates, or when
    every value of every data variable at that point is missing (NaN/NaT/None). A case with
    any value present is *done*: a function that legitimately returns NaN for some output is
    not re-run for ever. (xyzpy also treats a case as missing if an array output holds a
    single NaN.) Variables the file does not have yet do not make a case missing: to fill a
    newly added output everywhere, harvest without ``missing_only``.

    Raises
    ------
    InvalidInputError
        If the dataset has a dimension that is neither swept nor an output's own dimension
        (the point would be ambiguous).
    """
    import pandas as pd

    if full_ds is None or not full_ds.data_vars:
        return list(rows)
    own_dims = {d for dims in var_dims.values() for d in dims}
    for dim in full_ds.dims:
        if dim not in names and dim not in own_dims:
            raise InvalidInputError(
                f"the full dataset has the dimension {dim!r}, which the sweep does not give; "
                f"add {dim!r} to the combos (use ... for all its existing values)."
            )
    if any(name not in full_ds.dims for name in names):
        # the file was grown with that argument held constant: it holds none of these points
        return list(rows)
    n = len(rows)
    present = np.ones(n, dtype=bool)
    points: dict[str, xr.DataArray] = {}
    for i, name in enumerate(names):
        values = [row[i] for row in rows]
        try:
            where = pd.Index(full_ds.indexes[name]).get_indexer(values)
        except (TypeError, ValueError, KeyError) as exc:
            raise InvalidInputError(
                f"cannot look up {name!r} values in the full dataset: {exc}"
            ) from exc
        present &= where >= 0
        points[name] = xr.DataArray(np.where(where >= 0, where, 0), dims="__case__")
    picked = full_ds.isel(points) if points else full_ds
    has_value = np.zeros(n, dtype=bool)
    for vname, var in picked.data_vars.items():
        if str(vname).startswith(PROVENANCE_PREFIX):
            continue  # a computed case always has provenance; only its values count here
        other = [d for d in var.dims if d != "__case__"]
        notnull = var.notnull()
        has_value |= (notnull.any(other) if other else notnull).values
    missing = ~(present & has_value)
    return [row for row, m in zip(rows, missing) if m]
