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
    "label": "runner",
    "Runner": "runner",
    "combo_runner": "sweep",
    "case_runner": "sweep",
    "combo_runner_to_ds": "sweep",
    "case_runner_to_ds": "sweep",
    "Harvester": "harvester",
    "Sampler": "sampler",
    "Crop": "crop",
    "CropStatus": "state",
    "load_crops": "crop",
    "cultivate": "cultivation",
    "load_ds": "datafile",
    "save_ds": "datafile",
    "load_df": "datafile",
    "save_df": "datafile",
}

__all__ = [
    "Crop",
    "CropStatus",
    "Harvester",
    "Runner",
    "Sampler",
    "__version__",
    "case_runner",
    "case_runner_to_ds",
    "combo_runner",
    "combo_runner_to_ds",
    "cultivate",
    "errors",
    "label",
    "load_crops",
    "load_df",
    "load_ds",
    "save_df",
    "save_ds",
]

if TYPE_CHECKING:
    from . import errors
    from .crop import Crop, load_crops
    from .cultivation import cultivate
    from .datafile import load_df, load_ds, save_df, save_ds
    from .harvester import Harvester
    from .runner import Runner, label
    from .sampler import Sampler
    from .state import CropStatus
    from .sweep import case_runner, case_runner_to_ds, combo_runner, combo_runner_to_ds


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name == "errors":
            return importlib.import_module(".errors", __name__)
        raise AttributeError(f"module 'xyzfarm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
