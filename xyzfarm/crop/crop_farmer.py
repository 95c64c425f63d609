"""Where a crop's farmer comes from: a labelled function, or the crop folder it was sown in.

Also the check that a crop's parent folder can hold it, before anything is sown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import LocationError, OutputMismatchError
from ..folder.layout import CropLayout
from ..folder.manifest import Manifest
from ..node.worker import load_function
from .farmer import Farmer, rebuild_farmer, runner_of


def unwrap_labelled(fn: Any, farmer: Any) -> tuple[Any, Any]:
    """The plain function and the farmer, when ``fn`` is a labelled function (a Runner).

    A labelled function describes its outputs: the crop takes that description (as if it were
    the farmer) so the outputs are checked against it, instead of being taken as self-labelled
    and refused at reap, after every case ran. A farmer describing them otherwise is refused.
    """
    if not isinstance(fn, Farmer):
        return fn, farmer
    # a Harvester's or Sampler's file is not asked for: only its labelled function (a Runner)
    fn = fn.runner
    given = runner_of(farmer)
    if given is None:
        return fn.fn, fn
    ours = (fn.var_names, fn.var_dims, fn.var_coords)
    theirs = (given.var_names, given.var_dims, given.var_coords)
    if ours != theirs:
        raise OutputMismatchError(
            f"fn is labelled with var_names={ours[0]}, var_dims={ours[1]}, var_coords for "
            f"{sorted(ours[2] or {})}, but the farmer's with var_names={theirs[0]}, "
            f"var_dims={theirs[1]}, var_coords for {sorted(theirs[2] or {})}; pass only one "
            "of them (farmer=...), or label both alike."
        )
    return fn.fn, farmer


def farmer_from_disk(layout: CropLayout) -> Any:
    """The Runner, Harvester or Sampler a crop was sown for, rebuilt from its folder.

    None when the crop was sown without one, or its function was not saved (or cannot be
    loaded here): reaping then goes by the manifest's record alone. The farmers' constructors
    sit above this layer: :func:`~xyzfarm.crop.farmer.rebuild_farmer` calls the one they
    registered.
    """
    if not (layout.exists() and layout.function.is_file()):
        return None
    try:
        sown = Manifest.read(layout)
        record = sown.farmer
        if record is None:
            return None
        fn = load_function(layout, sown)[0]
        # a file outside the crop's folder is never taken from crop.json (the reap says so)
        path = record.data_path(layout.parent_dir) if record.has_file else None
    except Exception:  # an unloadable function only means no farmer
        return None
    return rebuild_farmer(fn, sown, path)


def check_parent_dir(parent_dir: Path) -> None:
    """Refuse a ``parent_dir`` whose nearest existing folder on the way is a file.

    Raises
    ------
    LocationError
        Naming the file in the way: sowing would otherwise fail half-way.
    """
    for folder in (parent_dir, *parent_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise LocationError(
                    f"parent_dir {os.fspath(parent_dir)!r} cannot hold a crop: "
                    f"{os.fspath(folder)!r} is a file, not a folder. Give a folder as parent_dir."
                )
            return
