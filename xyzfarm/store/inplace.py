"""Merging a few new results into a big dataset file in place: cost of the new data only.

The default merge reads the whole file and publishes a new one atomically (old-or-new, always).
For a large file that already holds the new cases' coordinates, that costs the whole file.
:func:`write_in_place` instead writes, for each variable, the bounding block of the new values
straight into the HDF5 file. HDF5 cannot make that atomic: a crash mid-write can leave some
variables updated and others not (each written block is whole). So it is an explicit option
(``Harvester(..., in_place=True)``), documented in docs/performance.md, and it is refused
whenever the new data does not fit the file exactly (new coordinate values, new variables,
other dims): then the atomic merge runs instead.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import MergeConflictError
from .data_errors import typed_write_errors
from .datafile import PROVENANCE_GROUP


def write_in_place(
    path: str | os.PathLike[str],
    new: xr.Dataset,
    overwrite: bool | None,
    *,
    provenance: xr.Dataset | None = None,
) -> bool:
    """Write ``new`` into the h5netcdf file at ``path`` in place; False if it does not fit.

    The caller holds the file's lock. ``overwrite=None`` raises :class:`MergeConflictError` on
    differing values (before writing anything), True lets new values win, False keeps old ones.
    ``provenance`` (where and how the new cases were computed) is written into the file's
    provenance group the same way, each case taking its new description; if it does not fit
    the group exactly, nothing is written and False is returned. A failed write (e.g. a full
    disk) raises :class:`~xyzfarm.errors.DataFileWriteError`.
    """
    with typed_write_errors(path, in_place=True):
        return _write_blocks(path, new, overwrite, provenance)


#: a write planned for one variable: target, bounding block, positions inside it, values
_Write = tuple[Any, tuple[slice, ...], tuple[np.ndarray, ...], np.ndarray]


def _writes_for(group: Any, new: xr.Dataset, encode: Any = None) -> list[_Write] | None:
    """The block write of every variable of ``new`` into ``group``; None if one does not fit.

    ``encode(target, values)`` turns values into what the file stores (None: unstorable).
    """
    writes: list[_Write] = []
    for name, var in new.data_vars.items():
        if name not in group.variables or tuple(group.variables[name].dimensions) != var.dims:
            return None
        positions = []
        for dim in var.dims:
            if dim not in new.coords:
                if var.sizes[dim] != group.dimensions[dim].size:
                    return None
                positions.append(np.arange(var.sizes[dim]))
                continue
            if dim not in group.variables:
                return None
            where = pd.Index(group.variables[dim][...]).get_indexer(new.coords[dim].values)
            if (where < 0).any():
                return None  # a new coordinate value: the file must grow, atomically
            positions.append(where)
        values = var.values if encode is None else encode(group.variables[name], var.values)
        if values is None:
            return None
        block = tuple(slice(int(p.min()), int(p.max()) + 1) for p in positions)
        local = tuple(p - b.start for p, b in zip(positions, block))
        writes.append((group.variables[name], block, local, values))
    return writes


def _stored_provenance(target: Any, values: np.ndarray) -> np.ndarray | None:
    """Provenance values as the group stores them (see :func:`xyzfarm.store.datafile.save_ds`)."""
    import h5py

    stored = target.dtype
    if values.dtype.kind == "M":
        if target.attrs.get("units") != "nanoseconds since 1970-01-01" or stored != np.int64:
            return None
        return values.astype("datetime64[ns]").view(np.int64)
    if values.dtype.kind in "OU":
        if h5py.check_string_dtype(stored) is None:
            return None
        return values.astype(object)
    if values.dtype.kind in "iuf" and np.dtype(stored).kind in {values.dtype.kind, "f"}:
        return values.astype(stored)  # whole numbers are stored as floats beside a NaN
    return None


def _write_blocks(
    path: str | os.PathLike[str],
    new: xr.Dataset,
    overwrite: bool | None,
    provenance: xr.Dataset | None,
) -> bool:
    import h5netcdf

    # no chunk cache: a chunk that cannot be written fails the write itself, not the closing
    # of its dataset, which HDF5 leaves half-done (the interpreter would crash at exit)
    with h5netcdf.File(path, "r+", rdcc_nbytes=0) as f:
        writes = _writes_for(f, new)
        if writes is None:
            return False
        described: list[_Write] = []
        if provenance is not None:
            # each new case takes its new description whole: only a complete description,
            # when new values win, can be written without reading the old one
            if (
                overwrite is False
                or PROVENANCE_GROUP not in f.groups
                or not all(bool(v.notnull().all()) for v in provenance.data_vars.values())
            ):
                return False
            found = _writes_for(f.groups[PROVENANCE_GROUP], provenance, _stored_provenance)
            if found is None:
                return False
            described = found
        for target, block, local, values in writes:
            old = target[block]
            mesh = np.ix_(*local)
            current = old[mesh]
            both = ~pd.isna(current) & ~pd.isna(values)
            if overwrite is None and (current[both] != values[both]).any():
                raise MergeConflictError(
                    f"new values of {target.name.lstrip('/')!r} differ from those in "
                    f"{os.fspath(path)!r}; "
                    "pass overwrite=True to keep the new ones, or False to keep the old ones."
                )
        for target, block, local, values in writes:
            old = target[block]
            mesh = np.ix_(*local)
            keep = pd.isna(values) if overwrite is not False else ~pd.isna(old[mesh])
            old[mesh] = np.where(keep, old[mesh], values)
            target[block] = old
        for target, block, local, values in described:
            old = target[block]
            old[np.ix_(*local)] = values
            target[block] = old
    return True
