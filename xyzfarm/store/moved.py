"""Unpickling what an earlier xyzfarm wrote, after its modules moved into sub-packages.

A crop sown before the upgrade keeps pickles that name xyzfarm's modules by their old paths:
``function.pkl`` of a function wrapped by ``cache_to_disk`` names ``xyzfarm.disk_cache`` and
``xyzfarm.storage``. Growing such a crop after the upgrade would fail with ``No module named
'xyzfarm.storage'``. :func:`loads_moved` reads those pickles with the old paths sent to the
new ones; it is tried only after a plain load failed, so the common case costs nothing.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

#: module path before the move (issue 14) -> where its code lives now
MOVED_MODULES: dict[str, str] = {
    **{
        f"xyzfarm.{name}": f"xyzfarm.crop.{name}"
        for name in (
            "cluster",
            "cluster_keywords",
            "crop",
            "crop_base",
            "crop_farmer",
            "crop_grow",
            "crop_reap",
            "raw_reap",
            "reap",
            "sow",
        )
    },
    "xyzfarm.growing": "xyzfarm.crop.grow",
    "xyzfarm.schedulers.submit": "xyzfarm.crop.submit",
    "xyzfarm.schedulers.plan": "xyzfarm.schedulers.arrays",
    **{
        f"xyzfarm.{name}": f"xyzfarm.manage.{name}"
        for name in (
            "case_search",
            "disk_cache",
            "file_merge",
            "frames",
            "reshape",
            "slurm_outputs",
        )
    },
    **{
        f"xyzfarm.{name}": f"xyzfarm.node.{name}"
        for name in ("pool", "sentinel", "shipping", "slots", "worker", "worker_cli")
    },
    # the crop folder's format left the worker runtime's package (issue 24)
    **{
        f"xyzfarm{before}.{name}": f"xyzfarm.folder.{name}"
        for before in ("", ".node")
        for name in ("display", "layout", "manifest", "records", "results", "state")
    },
    **{
        f"xyzfarm.node.{name}": f"xyzfarm.folder.{name}"
        for name in ("failures", "outcomes", "provenance", "submissions", "throttle")
    },
    **{
        f"xyzfarm.{name}": f"xyzfarm.store.{name}"
        for name in ("datafile", "inplace", "merge", "storage")
    },
    **{
        f"xyzfarm.{name}": f"xyzfarm.sweep.{name}"
        for name in ("arguments", "assemble", "combos", "execute", "nested", "progress")
    },
    # a module then, a package now (like xyzfarm.crop and xyzfarm.worker, above)
    "xyzfarm.sweep": "xyzfarm.sweep.run",
}


def _subimport_moved(name: str) -> Any:
    """cloudpickle's module reference (a function's global module), sent to its new path."""
    import importlib

    return importlib.import_module(MOVED_MODULES.get(name, name))


class _MovedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("cloudpickle.cloudpickle", "subimport"):
            return _subimport_moved
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if module not in MOVED_MODULES:
                raise
            return super().find_class(MOVED_MODULES[module], name)


def loads_moved(data: bytes) -> Any:
    """Unpickle ``data`` reading xyzfarm's old module paths as the new ones (trusted data only).

    Raises whatever unpickling raises when ``data`` fails for another reason.
    """
    return _MovedUnpickler(io.BytesIO(data)).load()
