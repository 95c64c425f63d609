"""xyzpy's top-level ``grow(batch_number, crop=None, ...)``: grow one batch of a sown crop.

Array-job scripts written for xyzpy call it, from inside the crop folder or naming the crop;
here it is a thin door onto :meth:`xyzfarm.Crop.grow`, so one batch grows exactly as any other
(claimed, checkpointed, its failure recorded).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .crop.crop import Crop
from .errors import InvalidInputError
from .folder.layout import FOLDER_PREFIX


def _crop_from(crop: Any, fn: Any) -> Any:
    if crop is None:
        here = Path.cwd()
        if not here.name.startswith(FOLDER_PREFIX):
            raise InvalidInputError(
                f"grow() without a crop must run inside a crop folder '<parent>/"
                f"{FOLDER_PREFIX}<name>', but the current folder is {os.fspath(here)!r}; "
                "pass crop=Crop(name=..., parent_dir=...) (or crop=(name, location))."
            )
        return Crop(fn=fn, name=here.name[len(FOLDER_PREFIX) :], parent_dir=here.parent)
    if isinstance(crop, tuple):
        name, location = crop
        return Crop(fn=fn, name=name, parent_dir=Path(location).parent)
    if fn is not None:
        crop = Crop(fn=fn, name=crop.name, parent_dir=crop.parent_dir)
    return crop


def grow(
    batch_number: int,
    crop: Any = None,
    fn: Any = None,
    num_workers: int | None = None,
    check_mpi: bool = True,
    verbosity: int = 2,
    debugging: bool = False,
    raise_errors: bool = True,
) -> None:
    """Grow batch ``batch_number`` of a sown crop, as xyzpy's ``grow``.

    Parameters
    ----------
    batch_number : int
        The batch (1-based).
    crop : Crop or (name, location) tuple, optional
        The crop; default the crop folder this process runs in.
    fn : callable, optional
        The function (default: the one saved in the crop folder).
    num_workers : int, optional
        Grow the batch's cases in a process pool of this size.
    check_mpi, debugging : bool
        Accepted for xyzpy compatibility: an MPI job's ranks each claim the batch, and only
        one grows it (the others find it claimed).
    verbosity : {0, 1, 2}
        Progress shown (1 and 2 show a bar).
    raise_errors : bool
        Raise :class:`~xyzfarm.errors.BatchFailedError` if the batch fails (its error is
        recorded in ``failed/`` either way).

    Raises
    ------
    InvalidInputError
        If no crop is given and the current folder is not a crop folder.
    """
    del check_mpi, debugging
    the_crop = _crop_from(crop, fn)
    the_crop.grow(
        int(batch_number),
        num_workers=num_workers,
        raise_errors=raise_errors,
        verbosity=min(int(verbosity), 1),
    )
