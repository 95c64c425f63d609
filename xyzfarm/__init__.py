"""xyzfarm: label a function's outputs, sweep it over parameters, farm the cases out.

The public names load lazily, so that ``python -m xyzfarm.worker`` on a compute node starts
without importing xarray. ``import xyzfarm as xyz`` then ``xyz.Runner`` works as in xyzpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "label": "labelling",
    "Runner": "runner",
    "combo_runner": "sweep.run",
    "case_runner": "sweep.run",
    "combo_runner_to_ds": "sweep.run",
    "case_runner_to_ds": "sweep.run",
    "Harvester": "harvester",
    "Sampler": "sampler",
    "Crop": "crop.crop",
    "CropStatus": "folder.state",
    "ClusterJob": "crop.submit",
    "load_crops": "crop.crop",
    "cultivate": "labelling",
    "load_ds": "store.datafile",
    "save_ds": "store.datafile",
    "load_df": "store.datafile",
    "save_df": "store.datafile",
    # the rest of xyzpy's farming API (xyzpy.gen and xyzpy.manage at its top level)
    "XYZError": "errors",
    "grow": "grow_one",
    "case_runner_to_df": "manage.frames",
    "combo_runner_to_df": "manage.frames",
    "results_to_ds": "manage.frames",
    "find_missing_cases": "manage.case_search",
    "is_case_missing": "manage.case_search",
    "parse_into_cases": "manage.case_search",
    "save_merge_ds": "manage.file_merge",
    "merge_sync_conflict_datasets": "manage.file_merge",
    "cache_to_disk": "manage.disk_cache",
    "check_runs": "manage.reshape",
    "auto_xyz_ds": "manage.reshape",
    "sort_dims": "manage.reshape",
    "trimna": "manage.reshape",
    "post_fix": "manage.reshape",
    "clean_slurm_outputs": "manage.slurm_outputs",
    "manage_slurm_outputs": "manage.slurm_outputs",
}

#: public names that find crops by name (see ``__getattr__``)
_FINDS_CROPS = frozenset({"Crop", "load_crops"})

__all__ = [
    "ClusterJob",
    "Crop",
    "CropStatus",
    "Harvester",
    "Runner",
    "Sampler",
    "XYZError",
    "__version__",
    "auto_xyz_ds",
    "cache_to_disk",
    "case_runner",
    "case_runner_to_df",
    "case_runner_to_ds",
    "check_runs",
    "clean_slurm_outputs",
    "combo_runner",
    "combo_runner_to_df",
    "combo_runner_to_ds",
    "cultivate",
    "errors",
    "find_missing_cases",
    "grow",
    "is_case_missing",
    "label",
    "load_crops",
    "load_df",
    "load_ds",
    "manage_slurm_outputs",
    "merge_sync_conflict_datasets",
    "parse_into_cases",
    "post_fix",
    "results_to_ds",
    "save_df",
    "save_ds",
    "save_merge_ds",
    "sort_dims",
    "trimna",
]

if TYPE_CHECKING:
    from . import errors
    from .crop.crop import Crop, load_crops
    from .crop.submit import ClusterJob
    from .errors import XYZError
    from .folder.state import CropStatus
    from .grow_one import grow
    from .harvester import Harvester
    from .labelling import cultivate, label
    from .manage.case_search import find_missing_cases, is_case_missing, parse_into_cases
    from .manage.disk_cache import cache_to_disk
    from .manage.file_merge import merge_sync_conflict_datasets, save_merge_ds
    from .manage.frames import case_runner_to_df, combo_runner_to_df, results_to_ds
    from .manage.reshape import auto_xyz_ds, check_runs, post_fix, sort_dims, trimna
    from .manage.slurm_outputs import clean_slurm_outputs, manage_slurm_outputs
    from .runner import Runner
    from .sampler import Sampler
    from .store.datafile import load_df, load_ds, save_df, save_ds
    from .sweep.run import case_runner, case_runner_to_ds, combo_runner, combo_runner_to_ds


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name == "errors":
            return importlib.import_module(".errors", __name__)
        raise AttributeError(f"module 'xyzfarm' has no attribute {name!r}")
    if name in _FINDS_CROPS:
        # registers the farmers' constructors with the crop layer first, so a crop found by
        # name gets back the Runner, Harvester or Sampler it was sown for
        importlib.import_module(".labelling", __name__)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names, not the helpers this module itself imports (Any, importlib, ...)
    return sorted({*__all__, "__version__"})
