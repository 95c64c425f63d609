"""Merging data files: xyzpy's ``save_merge_ds`` and ``merge_sync_conflict_datasets``.

Both merge with :func:`xyzfarm.store.merge.merge_datasets` (conflicts refused unless ``overwrite``
says which side wins) and publish with :func:`~xyzfarm.save_ds`, which writes atomically: a
crash leaves the old file, never half of the new one.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import xarray as xr

from ..store.datafile import load_ds, save_ds
from ..store.merge import merge_datasets


def save_merge_ds(
    ds: xr.Dataset, fname: str | os.PathLike[str], overwrite: bool | None = None, **kwargs: Any
) -> None:
    """Save ``ds`` to ``fname``, merged with the dataset already there if there is one.

    Parameters
    ----------
    ds : Dataset
        The new data.
    fname : path-like
        The file.
    overwrite : {None, False, True}
        On conflicting values: None refuses (:class:`~xyzfarm.errors.MergeConflictError`),
        False keeps the old, True takes the new.
    **kwargs
        Passed to :func:`~xyzfarm.save_ds` (e.g. ``engine``).
    """
    engine = kwargs.get("engine", "h5netcdf")
    old = load_ds(fname, engine=engine) if Path(fname).exists() else None
    save_ds(merge_datasets(old, ds, overwrite), fname, **kwargs)


def merge_sync_conflict_datasets(
    base_name: str, engine: str = "h5netcdf", combine_first: bool = False
) -> None:
    """Merge file-sync conflict copies (``base_name`` is a glob) into the original, then
    delete the copies.

    The shortest matching name is taken as the original. It is rewritten only if the merge
    adds something; the copies are deleted only after it is published.

    Parameters
    ----------
    base_name : str
        A glob matching the original and its conflict copies, e.g. ``"data*.h5"``.
    engine : str
        The files' engine.
    combine_first : bool
        On conflicting values keep the earlier file's (the original first); otherwise
        conflicts are refused with :class:`~xyzfarm.errors.MergeConflictError`.
    """
    names = sorted(glob.glob(base_name), key=len)
    if len(names) < 2:
        print("Nothing to do - need multiple files to merge.")
        return
    print(f"Merging:\n{names}\ninto ->\n{names[0]}\n")
    datasets = [load_ds(n, engine=engine) for n in names]
    merged = datasets[0]
    for other in datasets[1:]:
        merged = merge_datasets(merged, other, False if combine_first else None)
    if not merged.identical(datasets[0]):
        save_ds(merged, names[0], engine=engine)
    for name in names[1:]:
        Path(name).unlink()
