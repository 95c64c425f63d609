"""The files farmers keep their full data in: merging a Dataset into a netCDF file, appending
rows to a table file, each under the file's lock and published atomically.

The Harvester and the Sampler write through these, and so does a crop's reap when it delivers
to a file without its farmer (``into=``, or a crop found by name): one writer for both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import storage
from .datafile import (
    check_savable,
    check_writable_folder,
    load_df,
    load_ds,
    load_provenance,
    resolve_existing,
    save_df,
    save_ds,
)
from .inplace import write_in_place
from .merge import merge_datasets, merge_provenance

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr


def publish(
    ds: xr.Dataset,
    data_name: str | os.PathLike[str],
    engine: str,
    provenance: xr.Dataset | None = None,
) -> None:
    """Save ``ds`` (and ``provenance`` beside it) as ``data_name`` atomically, keeping the
    current file as ``.bak``.

    The caller holds the file's lock.
    """
    # lazy (dask) data is computed chunk by chunk while the temporary file is written, reading
    # the old file, which is replaced only afterwards: nothing is loaded whole
    storage.keep_backup(data_name)
    save_ds(ds, data_name, engine=engine, provenance=provenance)


def merge_into_file(
    data_name: str | os.PathLike[str],
    new: xr.Dataset,
    overwrite: bool | None,
    *,
    engine: str = "h5netcdf",
    chunks: Any = None,
    in_place: bool = False,
    provenance: xr.Dataset | None = None,
) -> xr.Dataset | None:
    """Merge ``new`` into the dataset file ``data_name`` under its lock; return the merged data.

    With ``in_place`` (h5netcdf only), new values whose coordinates the file already holds are
    written into it directly (see :mod:`xyzfarm.store.inplace`: cost of the new data, not atomic);
    None is returned then. Anything else takes the atomic path.

    Parameters
    ----------
    data_name : path-like
        The full dataset file (created if absent).
    new : xarray.Dataset
        Data to merge.
    overwrite : {None, True, False}
        See :func:`xyzfarm.store.merge.merge_datasets`.
    engine : str
        The netCDF engine.
    chunks : int or dict, optional
        Open the existing file lazily with these dask chunks.
    in_place : bool
        Write into the existing file directly where the new values fit it.
    provenance : xarray.Dataset, optional
        Where and how the new cases were computed: merged into the file's provenance group
        (see :func:`xyzfarm.store.merge.merge_provenance`). The group is kept as it is otherwise.

    Raises
    ------
    UnsavableValueError
        If ``new`` holds values no file can store (before the file is touched).
    LocationError
        If files cannot be created in the file's folder (instead of waiting for its lock).
    DimensionMismatchError, CoordinateTypeError, MergeConflictError
        If ``new`` does not fit the file's data (see :func:`xyzfarm.store.merge.check_mergeable`).
    DataFileWriteError
        If writing failed (e.g. a full disk); the file is left as it was.
    """
    return merge_with_provenance(
        data_name, new, overwrite, engine, chunks, in_place=in_place, provenance=provenance
    )[0]


def merge_with_provenance(
    data_name: str | os.PathLike[str],
    new: xr.Dataset,
    overwrite: bool | None,
    engine: str,
    chunks: Any,
    *,
    in_place: bool,
    provenance: xr.Dataset | None,
) -> tuple[xr.Dataset | None, xr.Dataset | None]:
    """:func:`merge_into_file`, also returning the file's provenance after the merge."""
    check_savable(new)
    if provenance is not None:
        check_savable(provenance)
    check_writable_folder(data_name)
    with storage.locked(data_name):
        path = resolve_existing(data_name, engine)
        in_place_fits = in_place and engine == "h5netcdf" and path.exists()
        if in_place_fits and write_in_place(path, new, overwrite, provenance=provenance):
            return None, None
        on_disk = load_ds(path, engine=engine, chunks=chunks) if path.exists() else None
        described = load_provenance(path, engine, chunks=chunks) if on_disk is not None else None
        merged = merge_datasets(on_disk, new, overwrite)
        if provenance is not None:
            described = merge_provenance(described, provenance, overwrite)
        publish(merged, data_name, engine, described)
        for opened in (on_disk, described):
            if opened is not None:
                opened.close()
    return merged, described


def append_to_file(
    data_name: str | os.PathLike[str], table: pd.DataFrame, *, engine: str = "pickle"
) -> pd.DataFrame:
    """Append rows to the table file ``data_name`` under its lock; return the whole table.

    The previous file is kept as ``<data_name>.bak`` and the new one published atomically.
    """
    with storage.locked(data_name):
        old = load_df(data_name, engine=engine) if Path(data_name).exists() else None
        merged = concat_rows(old, table)
        storage.keep_backup(data_name)
        save_df(merged, data_name, engine=engine)
    return merged


def concat_rows(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` appended to ``old`` (a copy of ``new`` when there is no ``old``)."""
    import pandas as pd  # deferred: reaping into a Dataset never needs pandas

    if old is None:
        return cast("pd.DataFrame", new.copy(deep=True))
    return pd.concat([old, new], ignore_index=True, sort=False)
