"""Turn the raw results of a sweep into a labelled :class:`xarray.Dataset`.

Outputs are checked against ``var_names`` / ``var_dims`` / ``var_coords`` before anything is
built, and a mismatch names the first offending case, so a bad function fails loudly instead of
producing a silently misshapen dataset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DuplicateValueError, InvalidInputError, OutputMismatchError
from .arguments import Case
from .combos import check_labels


class Schema:
    """What a function's outputs look like: names, each output's own dims, their coordinates.

    Parameters
    ----------
    var_names : tuple of str or None
        Output names, or None when the function returns dicts, Datasets or DataArrays.
    var_dims : mapping of str to tuple of str
        Each output's own dimensions (missing outputs have none).
    var_coords : mapping of str to sequence
        Coordinates of those dimensions (a dimension may also be named by a constant).
    """

    def __init__(
        self,
        var_names: tuple[str, ...] | None,
        var_dims: Mapping[str, tuple[str, ...]],
        var_coords: Mapping[str, Any],
    ) -> None:
        self.var_names = var_names
        self.var_dims = dict(var_dims)
        self.var_coords = dict(var_coords)

    def dims_of(self, var: str) -> tuple[str, ...]:
        return self.var_dims.get(var, ())


def _describe(names: Sequence[str], row: Case) -> str:
    return "{" + ", ".join(f"{n}={v!r}" for n, v in zip(names, row)) + "}"


def split_outputs(
    results: list[Any], var_names: tuple[str, ...], names: Sequence[str], rows: Sequence[Case]
) -> list[Sequence[Any]]:
    """Per-variable columns of results, checking each result has one value per output."""
    n = len(var_names)
    if n == 1:
        return [results]
    try:
        lengths = set(map(len, results))
    except TypeError:
        lengths = set()
    if lengths == {n} and all(isinstance(r, (tuple, list)) for r in results[:1]):
        return list(zip(*results))
    for row, r in zip(rows, results):
        if not isinstance(r, (tuple, list)) or len(r) != n:
            raise OutputMismatchError(
                f"the case {_describe(names, row)} returned {_short(r)}, but var_names "
                f"{var_names} expect a tuple of {n} values; return one value per name."
            )
    raise OutputMismatchError(f"outputs do not match var_names {var_names}.")  # unreachable


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _var_shape(var: str, schema: Schema, constants: Mapping[str, Any]) -> tuple[int | None, ...]:
    shape: list[int | None] = []
    for dim in schema.dims_of(var):
        if dim in schema.var_coords:
            shape.append(len(schema.var_coords[dim]))
        elif dim in constants:
            shape.append(len(constants[dim]))
        else:
            shape.append(None)  # a dim without coordinates: any consistent length
    return tuple(shape)


def stack_column(
    var: str,
    column: Sequence[Any],
    schema: Schema,
    constants: Mapping[str, Any],
    names: Sequence[str],
    rows: Sequence[Case],
) -> np.ndarray:
    """Stack one output over all cases into an array of shape ``(num_cases, *var_shape)``."""
    expected = _var_shape(var, schema, constants)
    try:
        arr = np.asarray(column)
    except ValueError:
        arr = None  # ragged: find and name the case below
    if (
        arr is not None
        and arr.ndim == 1 + len(expected)
        and all(e is None or e == s for e, s in zip(expected, arr.shape[1:]))
    ):
        return arr
    first_shape = np.shape(column[0]) if len(column) else ()
    for row, value in zip(rows, column):
        shape = np.shape(value)
        ok = len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, shape)
        )
        if not ok or shape != first_shape:
            dims = schema.dims_of(var)
            want = "a scalar" if not dims else f"shape {expected} over dims {dims}"
            raise OutputMismatchError(
                f"output {var!r} of the case {_describe(names, row)} has shape {shape}, but "
                f"{want} was expected (other cases gave {first_shape}); check var_dims and "
                "var_coords, or what the function returns."
            )
    raise OutputMismatchError(f"output {var!r} could not be stacked into an array.")


def _coord_array(values: Sequence[Any]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
    return arr


def _missing_fill(dtype: np.dtype[Any]) -> tuple[np.dtype[Any], Any]:
    # as xyzpy fills the cases a sweep with var_names did not compute: ints become float
    # (NaN), bools and text become objects holding None, so that a missing case never reads
    # as 0.0 or 'nan'; written to a file, bools are stored as 1.0/0.0/NaN
    if dtype.kind in "fc":
        return dtype, np.nan
    if dtype.kind in "iu":
        return np.dtype(float), np.nan
    if dtype.kind in "mM":
        return dtype, np.datetime64("NaT") if dtype.kind == "M" else np.timedelta64("NaT")
    if dtype.kind in "bUS":
        return np.dtype(object), None
    return np.dtype(object), np.nan


def reindex_with_gaps(ds: Any, coords: Mapping[str, Any], labelled: bool) -> Any:
    """``ds`` put on the larger grid ``coords``, its gaps filled as xyzpy fills them.

    xarray fills NaN and makes a bool variable ``object``. xyzpy: with ``var_names`` a
    missing bool or text value is None; with labelled outputs (dicts, Datasets) a bool
    variable with gaps becomes float (1.0, 0.0, NaN).
    """
    if isinstance(ds, xr.DataArray):  # what labelled DataArray outputs give
        key = "__values__" if ds.name is None else ds.name
        filled = reindex_with_gaps(ds.to_dataset(name=key), coords, labelled)[key]
        filled.name = ds.name
        return filled
    kinds = {name: var.dtype.kind for name, var in ds.data_vars.items()}
    out = ds.reindex(coords)
    return _gaps_like_xyzpy(out, kinds, labelled)


def _gaps_like_xyzpy(ds: xr.Dataset, kinds: Mapping[Any, str], labelled: bool) -> xr.Dataset:
    for name, kind in kinds.items():
        var = ds[name]
        if kind not in "bUS" or var.dtype != object:
            continue  # no gap made it an object
        if labelled and kind == "b":
            ds[name] = var.where(var.notnull()).astype(float)
        elif not labelled:
            values = np.array(var.values, dtype=object)
            values[var.isnull().values] = None
            ds[name] = var.copy(data=values)
    return ds


def _var_coords_for(
    var_dims_used: set[str], schema: Schema, constants: Mapping[str, Any]
) -> dict[str, Any]:
    coords: dict[str, Any] = {}
    for dim in var_dims_used:
        if dim in schema.var_coords:
            given = schema.var_coords[dim]
            coords[dim] = given if isinstance(given, np.ndarray) else _coord_array(list(given))
        elif dim in constants:
            coords[dim] = _coord_array(list(constants[dim]))
    return coords


def _finish(
    ds: xr.Dataset,
    schema: Schema,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
) -> xr.Dataset:
    used_dims = set(ds.dims)
    # constants that label a dimension become its coordinate; the rest are attributes, but
    # for functions (a fitting routine passed as a constant), which xyzpy never records
    for name, value in constants.items():
        if name not in used_dims and not callable(value):
            ds.attrs[name] = value
    if attrs:
        ds.attrs.update(attrs)
    return ds


class GridFiller:
    """Fills per-variable arrays over a combos grid batch by batch, never holding all results.

    Used by reaping: memory stays the final arrays plus one batch of results.
    """

    def __init__(
        self, grid: Mapping[str, Sequence[Any]], schema: Schema, constants: Mapping[str, Any]
    ) -> None:
        assert schema.var_names is not None
        self.grid = grid
        self.schema = schema
        self.constants = constants
        self.names = tuple(grid)
        self.size = int(np.prod([len(v) for v in grid.values()]))
        self.arrays: dict[str, np.ndarray] = {}
        self.filled = np.zeros(self.size, dtype=bool)

    def _rows(self, indices: Sequence[int]) -> list[Case]:
        shape = [len(v) for v in self.grid.values()]
        values = list(self.grid.values())
        return [
            tuple(values[k][int(j)] for k, j in enumerate(np.unravel_index(i, shape)))
            for i in indices
        ]

    def add(self, indices: Sequence[int], results: list[Any]) -> None:
        """Place the results of the cases at flat grid ``indices``."""
        var_names = self.schema.var_names
        assert var_names is not None
        try:
            columns = split_outputs(results, var_names, self.names, [])
            stacked = [
                stack_column(v, c, self.schema, self.constants, self.names, [])
                for v, c in zip(var_names, columns)
            ]
        except OutputMismatchError:
            # check again with the cases' values, only to name the culprit
            rows = self._rows(indices)
            columns = split_outputs(results, var_names, self.names, rows)
            stacked = [
                stack_column(v, c, self.schema, self.constants, self.names, rows)
                for v, c in zip(var_names, columns)
            ]
        # a run of cases in grid order (batches sown in order) is a slice: no index array
        where: Any = (
            slice(indices.start, indices.stop)
            if type(indices) is range and indices.step == 1
            else np.asarray(indices, dtype=np.intp)
        )
        for var, arr in zip(var_names, stacked):
            full = self.arrays.get(var)
            if full is not None and full.shape[1:] != arr.shape[1:]:
                first = self._rows(indices[:1])[0]
                raise OutputMismatchError(
                    f"output {var!r} of the case {_describe(self.names, first)} has shape "
                    f"{arr.shape[1:]}, but earlier cases gave {full.shape[1:]}; every case "
                    "must return the same shape (check var_dims and var_coords, or what the "
                    "function returns)."
                )
            if full is None:
                full = self.arrays[var] = np.empty((self.size, *arr.shape[1:]), dtype=arr.dtype)
            elif np.result_type(full.dtype, arr.dtype) != full.dtype:
                full = self.arrays[var] = full.astype(np.result_type(full.dtype, arr.dtype))
            full[where] = arr
        self.filled[where] = True

    def dataset(self, attrs: Mapping[str, Any] | None) -> xr.Dataset:
        """The labelled Dataset; cases never added hold the missing value."""
        arrays = {}
        for var, full in self.arrays.items():
            if not self.filled.all():
                dtype, fill = _missing_fill(full.dtype)
                full = full.astype(dtype)
                full[~self.filled] = fill
            arrays[var] = full
        return grid_dataset(arrays, self.grid, self.schema, self.constants, attrs)


def grid_dataset(
    arrays: Mapping[str, np.ndarray],
    grid: Mapping[str, Sequence[Any]],
    schema: Schema,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
) -> xr.Dataset:
    """A Dataset from flat per-case arrays in the grid's case order (last name fastest)."""
    names = tuple(grid)
    coords = {n: _coord_array(v) for n, v in grid.items()}
    shape = tuple(len(v) for v in grid.values())
    data_vars = {
        var: (names + schema.dims_of(var), arr.reshape(shape + arr.shape[1:]))
        for var, arr in arrays.items()
    }
    used = {d for var in arrays for d in schema.dims_of(var)}
    coords.update(_var_coords_for(used, schema, constants))
    return _finish(xr.Dataset(data_vars, coords=coords), schema, constants, attrs)


def build_dataset(
    results: list[Any],
    names: Sequence[str],
    rows: Sequence[Case],
    schema: Schema,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> xr.Dataset:
    """Assemble results into a Dataset.

    Parameters
    ----------
    results : list
        Raw outputs, one per case, in the order of ``rows``.
    names, rows : sequence of str, sequence of tuple
        The swept argument names and each case's values.
    schema : Schema
        The output description.
    constants : mapping
        Constants of this run: coordinates where they label a dimension, else attributes.
    attrs : mapping, optional
        Extra attributes.
    grid : mapping of str to sequence, optional
        When the cases are exactly the cartesian product of these coordinates in order
        (a combos run), results are reshaped without any search.
    """
    var_names = schema.var_names
    if var_names is None:
        return _build_from_labelled(results, names, rows, schema, constants, attrs, grid)
    if results and outputs_are_labelled(schema, results[0]):
        # one name for labelled outputs: xyzpy reads them as labelled data whatever
        # var_names says; an unnamed DataArray is combined under that name and given back
        # unnamed, as xyzpy gives it
        unnamed = isinstance(results[0], xr.DataArray) and results[0].name is None
        results = [_named(r, var_names[0]) for r in results]
        labelled = Schema(None, schema.var_dims, schema.var_coords)
        out = _build_from_labelled(results, names, rows, labelled, constants, attrs, grid)
        if unnamed and isinstance(out, xr.DataArray):
            out = out.copy(deep=False)
            out.name = None
        return out
    columns = split_outputs(results, var_names, names, rows)
    arrays = {
        var: stack_column(var, col, schema, constants, names, rows)
        for var, col in zip(var_names, columns)
    }
    if grid is not None:
        return grid_dataset(arrays, grid, schema, constants, attrs)
    else:
        coords, index, shape = _case_grid(names, rows)
        complete = len(rows) == int(np.prod(shape))
        data_vars = {}
        for var, arr in arrays.items():
            dtype, fill = (arr.dtype, None) if complete else _missing_fill(arr.dtype)
            full = np.empty(shape + arr.shape[1:], dtype=dtype)
            if fill is not None:
                full[...] = fill
            full[index] = arr
            data_vars[var] = (tuple(names) + schema.dims_of(var), full)
    used = {d for var in arrays for d in schema.dims_of(var)}
    coords.update(_var_coords_for(used, schema, constants))
    ds = xr.Dataset(data_vars, coords=coords)
    return _finish(ds, schema, constants, attrs)


def outputs_are_labelled(schema: Schema, first: Any) -> bool:
    """Whether results like ``first`` are labelled data (dict, Dataset, DataArray) to combine.

    Always so without ``var_names``; with exactly one name too, as in xyzpy (a function
    labelled ``var_names=['sigma']`` that returns a DataArray gives that DataArray's data).
    """
    if schema.var_names is None:
        return True
    return len(schema.var_names) == 1 and isinstance(first, (xr.Dataset, xr.DataArray, Mapping))


def _named(result: Any, name: str) -> Any:
    if isinstance(result, xr.DataArray) and result.name is None:
        return result.rename(name)
    return result


def _case_grid(
    names: Sequence[str], rows: Sequence[Case]
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...], tuple[int, ...]]:
    coords: dict[str, np.ndarray] = {}
    index: list[np.ndarray] = []
    for i, name in enumerate(names):
        column = [row[i] for row in rows]
        unique = list(dict.fromkeys(column))
        # unorderable mixtures keep the order of first appearance
        with contextlib.suppress(TypeError):
            unique.sort()
        pos = {v: j for j, v in enumerate(unique)}
        coords[name] = _coord_array(unique)
        index.append(np.fromiter((pos[v] for v in column), dtype=np.intp, count=len(column)))
    shape = tuple(len(c) for c in coords.values())
    return coords, tuple(index), shape


def _is_scalar(value: Any) -> bool:
    """Whether a dict output is one value, not an array or xarray's ``(dims, data)`` form."""
    try:
        return bool(np.ndim(value) == 0)
    except ValueError:  # ragged, e.g. (("i",), array): numpy cannot make one array of it
        return False


def _as_labelled(result: Any, names: Sequence[str], row: Case) -> xr.Dataset:
    if isinstance(result, xr.Dataset):
        return result
    if isinstance(result, xr.DataArray):
        if result.name is None:
            raise OutputMismatchError(
                f"the case {_describe(names, row)} returned an unnamed DataArray while "
                "var_names=None; give it a name (da.rename('energy')) or set var_names."
            )
        return result.to_dataset()
    if isinstance(result, Mapping):
        return xr.Dataset({k: ((), v) if _is_scalar(v) else v for k, v in result.items()})
    raise OutputMismatchError(
        f"the case {_describe(names, row)} returned {_short(result)}, but with var_names=None "
        "the function must return a dict, Dataset or DataArray; set var_names otherwise."
    )


def _first_kinds(pieces: Sequence[xr.Dataset]) -> dict[Any, str]:
    first = pieces[0] if pieces else xr.Dataset()
    return {name: var.dtype.kind for name, var in first.data_vars.items()}


def _build_from_labelled(
    results: list[Any],
    names: Sequence[str],
    rows: Sequence[Case],
    schema: Schema,
    constants: Mapping[str, Any],
    attrs: Mapping[str, Any] | None,
    grid: Mapping[str, Sequence[Any]] | None,
) -> xr.Dataset:
    first = results[0] if results else None
    if isinstance(first, Mapping) and not isinstance(first, xr.Dataset):
        var_names = tuple(first)
        for row, r in zip(rows, results):
            if not isinstance(r, Mapping) or tuple(r) != var_names:
                raise OutputMismatchError(
                    f"the case {_describe(names, row)} returned keys "
                    f"{tuple(r) if isinstance(r, Mapping) else _short(r)}, but the first case "
                    f"returned {var_names}; every case must return the same keys."
                )
        arrays_only = all(_is_scalar(v) or k in schema.var_dims for k, v in first.items())
        if arrays_only:
            # one output is its value itself, not a 1-tuple (split_outputs' convention)
            if len(var_names) == 1:
                values = [r[var_names[0]] for r in results]
            else:
                values = [tuple(r.values()) for r in results]
            named = Schema(var_names, schema.var_dims, schema.var_coords)
            ds = build_dataset(values, names, rows, named, constants, attrs, grid)
            kinds = {k: np.asarray(v).dtype.kind for k, v in first.items()}
            return _gaps_like_xyzpy(ds, kinds, labelled=True)
    try:
        pieces = [_as_labelled(r, names, row) for r, row in zip(results, rows)]
        stacked = xr.concat(pieces, dim="__case__", coords="minimal", compat="override")
    except (ValueError, TypeError) as exc:
        if isinstance(exc, OutputMismatchError):
            raise
        raise OutputMismatchError(
            f"the labelled outputs could not be combined: {exc}; check that every case returns "
            "the same variables with the same dims."
        ) from exc
    case_coords = {
        n: ("__case__", _coord_array([row[i] for row in rows])) for i, n in enumerate(names)
    }
    stacked = stacked.assign_coords(case_coords)
    if len(names) == 1:
        ds = stacked.swap_dims({"__case__": names[0]})
        ds = ds.sortby(names[0]) if grid is None else ds
    else:
        ds = stacked.set_index(__case__=list(names)).unstack("__case__")
    ds = ds.transpose(*names, ...)
    if grid is not None:
        ds = ds.reindex({n: _coord_array(v) for n, v in grid.items()})
    # cases the sweep did not cover: a bool output with gaps is float there, as in xyzpy
    ds = _gaps_like_xyzpy(ds, _first_kinds(pieces), labelled=True)
    used = {str(d) for v in ds.data_vars.values() for d in v.dims} - set(names)
    extra = {
        k: v for k, v in _var_coords_for(used, schema, constants).items() if k not in ds.coords
    }
    if extra:
        ds = ds.assign_coords(extra)
    ds = _finish(ds, schema, constants, attrs)
    if isinstance(first, xr.DataArray) and len(ds.data_vars) == 1:
        # as in xyzpy: a function returning DataArrays gives a DataArray, its attributes the
        # run's (else its own) and then the constants that name no dimension
        out = ds[str(first.name)]
        own = dict(attrs) if attrs else dict(out.attrs)
        kept = {k: v for k, v in constants.items() if k not in ds.dims and not callable(v)}
        out.attrs = {**own, **kept}
        return out  # type: ignore[return-value]
    return ds


def _var_dims_items(var_dims: Any, names: tuple[str, ...] | None) -> list[tuple[Any, Any]]:
    """``var_dims`` in any of xyzpy's forms as (output or outputs, dims) pairs.

    The forms: a mapping (whose keys may be tuples of outputs sharing dims); a sequence of
    dims, one per output in ``var_names`` order (``["t"]`` for one output, ``[["t"], []]``
    for two); a string, the one dim of the one output; or a sequence of (output, dims) pairs.
    """
    if not var_dims:
        return []
    if isinstance(var_dims, Mapping):
        return list(var_dims.items())
    if isinstance(var_dims, str):
        if names is None or len(names) != 1:
            raise InvalidInputError(
                f"var_dims={var_dims!r} (a single dim) needs exactly one output in var_names, "
                f"got var_names={names}; map each output to its dims instead."
            )
        return [(names[0], (var_dims,))]
    items = list(var_dims)
    pairs = all(
        isinstance(x, (tuple, list)) and len(x) == 2 and names is not None and x[0] in names
        for x in items
    )
    if pairs:
        return [(k, v) for k, v in items]
    if names is None or len(items) != len(names):
        raise InvalidInputError(
            f"var_dims={var_dims!r} is neither a mapping of outputs to dims nor one entry of "
            f"dims per output of var_names={names}; give e.g. {{'output': ['dim']}}."
        )
    return list(zip(names, items))


def check_schema(var_names: Any, var_dims: Any, var_coords: Any) -> Schema:
    """Validate and normalise ``var_names`` / ``var_dims`` / ``var_coords`` into a Schema."""
    if var_names is None:
        names: tuple[str, ...] | None = None
    elif isinstance(var_names, str):
        names = (var_names,)
    else:
        names = tuple(var_names)
        for v in names:
            if not isinstance(v, str):
                raise InvalidInputError(f"var_names entry {v!r} is not a string.")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"var_names {names} repeat a name; give each output once.")
    dims: dict[str, tuple[str, ...]] = {}
    for key, d in _var_dims_items(var_dims, names):
        d = (d,) if isinstance(d, str) else tuple(d)
        # a tuple key gives several outputs the same dims, as in xyzpy
        for var in (key,) if isinstance(key, str) else tuple(key):
            if names is not None and var not in names:
                raise InvalidInputError(
                    f"var_dims names {var!r}, which is not in var_names {names}."
                )
            dims[var] = d
    coords = {}
    for dim, values in dict(var_coords or {}).items():
        if hasattr(values, "dims") and hasattr(values, "values"):
            # a coordinate taken from xarray (var_coords=da.coords): its values, never the
            # 0-d DataArrays that iterating it gives
            values = values.values
        if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
            raise InvalidInputError(
                f"var_coords[{dim!r}] is {values!r}, not a one-dimensional sequence of values."
            )
        # an array (a DataFrame's index.values, a pandas Index) keeps its dtype, as xarray
        # keeps it for xyzpy: an object array of IDs stays object, not fixed-width text
        kept = np.asarray(values) if hasattr(values, "__array__") else None
        values = list(values)
        try:
            unique = len(set(values)) == len(values)
        except TypeError:
            unique = True
        if not unique:
            raise DuplicateValueError(f"var_coords[{dim!r}] repeats a value: {values!r}.")
        check_labels(values, f"var_coords[{dim!r}]")
        coords[dim] = values if kept is None else kept
    return Schema(names, dims, coords)
