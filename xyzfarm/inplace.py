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

from .datafile import typed_write_errors
from .errors import MergeConflictError


def write_in_place(path: str | os.PathLike[str], new: xr.Dataset, overwrite: bool | None) -> bool:
    """Write ``new`` into the h5netcdf file at ``path`` in place; False if it does not fit.

    The caller holds the file's lock. ``overwrite=None`` raises :class:`MergeConflictError` on
    differing values (before writing anything), True lets new values win, False keeps old ones.
    A failed write (e.g. a full disk) raises :class:`~xyzfarm.errors.DataFileWriteError`.
    """
    with typed_write_errors(path, in_place=True):
        return _write_blocks(path, new, overwrite)


def _write_blocks(path: str | os.PathLike[str], new: xr.Dataset, overwrite: bool | None) -> bool:
    import h5netcdf

    # no chunk cache: a chunk that cannot be written fails the write itself, not the closing
    # of its dataset, which HDF5 leaves half-done (the interpreter would crash at exit)
    with h5netcdf.File(path, "r+", rdcc_nbytes=0) as f:
        plan: list[tuple[Any, tuple[slice, ...], tuple[np.ndarray, ...], np.ndarray]] = []
        for name, var in new.data_vars.items():
            if name not in f.variables or tuple(f.variables[name].dimensions) != var.dims:
                return False
            positions = []
            for dim in var.dims:
                if dim not in new.coords:
                    if var.sizes[dim] != f.dimensions[dim].size:
                        return False
                    positions.append(np.arange(var.sizes[dim]))
                    continue
                where = pd.Index(f.variables[dim][...]).get_indexer(new.coords[dim].values)
                if (where < 0).any():
                    return False  # a new coordinate value: the file must grow, atomically
                positions.append(where)
            block = tuple(slice(int(p.min()), int(p.max()) + 1) for p in positions)
            local = tuple(p - b.start for p, b in zip(positions, block))
            plan.append((f.variables[name], block, local, var.values))
        for target, block, local, values in plan:
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
        for target, block, local, values in plan:
            old = target[block]
            mesh = np.ix_(*local)
            keep = pd.isna(values) if overwrite is not False else ~pd.isna(old[mesh])
            old[mesh] = np.where(keep, old[mesh], values)
            target[block] = old
    return True
