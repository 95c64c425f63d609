"""Run one real-usage harness and write what it produced, in a form both venvs can read.

``python compat_real_driver.py HARNESS OUT`` runs in the current folder (a fresh temporary
folder made by ``scripts/compat_real.py``), under xyzpy 1.3.5's venv or under this checkout's
venv with the harness's import lines already rewritten to xyzfarm. It executes the harness as
``__main__`` (its functions are pickled by value, as a user's script's are), then writes to OUT
a pickle holding only builtins and numpy arrays:

* ``raised``: None, or the exception's type name, the names of its classes (MRO), its message;
* ``results``: the harness's module-level ``RESULTS`` dict, canonicalised (:func:`canon`);
* ``files``: each path of the harness's ``RESULT_FILES`` list, read with plain xarray (or
  pandas for ``.csv``) and canonicalised, or ``("missing", path)``.

Nothing of xyzpy or xyzfarm is imported here: both runs are described by the same code, so a
difference in the output is a difference of the libraries. This file is not a test itself;
``scripts/compat_real.py`` compares two outputs.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import pickle
import re
import sys
import traceback
import types
from pathlib import Path
from typing import Any

import numpy as np

#: a structure this deep is summarised rather than walked (a cycle, or a giant object)
MAX_DEPTH = 12
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


def _named(variables: Any, depth: int) -> list[tuple[str, dict[str, Any]]]:
    """Coordinates or data variables by name (the mapping's own order carries no meaning)."""
    return sorted(((str(k), _variable(v, depth)) for k, v in variables.items()), key=_first)


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


def _array(values: np.ndarray, depth: int) -> tuple[Any, ...]:
    if values.dtype.kind == "O":
        flat = [canon(x, depth + 1) for x in values.ravel(order="C")]
        return ("ndarray", "object", values.shape, flat)
    return ("ndarray", values.dtype.str, values.shape, np.array(values, copy=True))


def _variable(var: Any, depth: int) -> dict[str, Any]:
    return {
        "dims": tuple(str(d) for d in var.dims),
        "dtype": var.dtype.str,
        "values": _array(np.asarray(var.values), depth),
        "attrs": canon(dict(var.attrs), depth + 1),
    }


def _xarray(obj: Any, depth: int) -> tuple[Any, ...] | None:
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - both venvs have xarray
        return None
    if isinstance(obj, xr.Dataset):
        return (
            "Dataset",
            {
                "sizes": [(str(k), int(v)) for k, v in obj.sizes.items()],
                # which coordinates and variables there are, by name: the order of the mapping
                # carries no meaning (the order of dimensions, of each variable's dimensions and
                # of each coordinate's values does, and is kept)
                "coords": _named(obj.coords, depth),
                "data_vars": _named(obj.data_vars, depth),
                "attrs": canon(dict(obj.attrs), depth + 1),
            },
        )
    if isinstance(obj, xr.DataArray):
        return (
            "DataArray",
            {
                "name": canon(obj.name, depth + 1),
                "variable": _variable(obj.variable, depth),
                "coords": _named(obj.coords, depth),
            },
        )
    return None


def _pandas(obj: Any, depth: int) -> tuple[Any, ...] | None:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - both venvs have pandas
        return None
    if isinstance(obj, pd.DataFrame):
        return (
            "DataFrame",
            {
                "columns": canon(list(obj.columns), depth + 1),
                "dtypes": [str(d) for d in obj.dtypes],
                "index": canon(obj.index, depth + 1),
                "values": [_array(obj[c].to_numpy(), depth) for c in obj.columns]
                if obj.columns.is_unique
                else _array(obj.to_numpy(), depth),
            },
        )
    if isinstance(obj, pd.Series):
        return (
            "Series",
            {
                "name": canon(obj.name, depth + 1),
                "dtype": str(obj.dtype),
                "index": canon(obj.index, depth + 1),
                "values": _array(obj.to_numpy(), depth),
            },
        )
    if isinstance(obj, pd.Index):
        return (
            type(obj).__name__,
            {"names": canon(list(obj.names), depth + 1), "values": _array(obj.to_numpy(), depth)},
        )
    return None


def canon(obj: Any, depth: int = 0) -> Any:
    """``obj`` as builtins and numpy arrays: nested tuples tagged with what each part was."""
    if depth > MAX_DEPTH:
        return ("too-deep", type(obj).__qualname__)
    if isinstance(obj, np.generic):
        return ("scalar", obj.dtype.str, canon(obj.item(), depth + 1))
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return obj
    if isinstance(obj, np.ndarray):
        return _array(obj, depth)
    for describe in (_xarray, _pandas):
        described = describe(obj, depth)
        if described is not None:
            return described
    if isinstance(obj, dict) or (hasattr(obj, "keys") and hasattr(obj, "__getitem__")):
        # attrs and other mappings: their order carries no meaning
        items = [(canon(k, depth + 1), canon(obj[k], depth + 1)) for k in obj.keys()]  # noqa: SIM118
        return ("mapping", sorted(items, key=lambda kv: repr(kv[0])))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [canon(x, depth + 1) for x in obj])
    if isinstance(obj, (set, frozenset)):
        return ("set", sorted((canon(x, depth + 1) for x in obj), key=repr))
    if isinstance(obj, range):
        return ("range", obj.start, obj.stop, obj.step)
    if callable(obj) and not dataclasses.is_dataclass(obj) and hasattr(obj, "__qualname__"):
        return ("callable", _name(obj))
    if dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        return ("object", type(obj).__qualname__, canon(dict(vars(obj)), depth + 1))
    return ("repr", type(obj).__qualname__, _ADDRESS.sub("", repr(obj)))


def read_file(path: str) -> Any:
    """A data file the harness wrote, read as any user would, with plain xarray or pandas."""
    if not os.path.exists(path):
        return ("missing", path)
    if path.endswith(".csv"):
        import pandas as pd

        return canon(pd.read_csv(path))
    import xarray as xr

    engine = "h5netcdf" if path.endswith((".h5", ".hdf5", ".nc", ".cdf", ".h5netcdf")) else None
    return canon(xr.load_dataset(path, engine=engine))


def run(harness: Path) -> dict[str, Any]:
    source = harness.read_text()
    # the harness is this project's own file (compat/real_usage/), run as `python harness.py`
    # runs a user's script: as the __main__ module (what pickle looks its classes up in), with
    # its folder first on sys.path; unlike runpy, its globals are kept if it raises
    module = types.ModuleType("__main__")
    module.__file__ = str(harness)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    namespace = module.__dict__
    sys.modules["__main__"] = module
    sys.path.insert(0, str(harness.parent))
    raised = None
    try:
        exec(compile(source, str(harness), "exec"), namespace)  # noqa: S102
    except BaseException as e:  # whatever the library raised is the result
        raised = {
            "type": type(e).__name__,
            "mro": [c.__name__ for c in type(e).__mro__],
            "message": str(e)[:400],
            "traceback": "".join(traceback.format_exception(e))[-3000:],
        }
    results = namespace.get("RESULTS")
    out: dict[str, Any] = {"raised": raised, "results": None, "files": {}}
    if isinstance(results, dict):
        out["results"] = {str(k): canon(v) for k, v in results.items()}
    for path in namespace.get("RESULT_FILES", ()):
        try:
            out["files"][str(path)] = read_file(str(path))
        except Exception as e:  # an unreadable file is a result too
            out["files"][str(path)] = ("unreadable", type(e).__name__, str(e)[:200])
    return out


def main() -> int:
    harness, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    out = run(harness)
    with open(out_path, "wb") as f:
        pickle.dump(out, f, protocol=4)
    if out["raised"]:
        sys.stderr.write(out["raised"]["traceback"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
