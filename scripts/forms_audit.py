"""The forms audit: each accepted form of xyzpy 1.3.5's inputs, run through both libraries.

xyzpy accepts most inputs in several forms: combos as a mapping, a sequence of ``(name,
values)`` pairs or one pair; values as lists, ranges, arrays, pandas indexes; ``var_names``
as a str, list or tuple; ``var_dims`` as a mapping of str / list / tuple (or
``DataArray.dims``), a str, a list in step with ``var_names``; ``var_coords`` as a mapping or
``DataArray.coords``; cases as tuples, mappings or scalars; constants and resources as
mappings or pairs. Each probe (:data:`PROBES`) is a tiny call written once and run under
``import xyzpy as xyz`` and under ``import xyzfarm as xyz``, each in a child interpreter and
a fresh temporary folder; its outcome (a summary of the value returned, or the exception's
type and message) is compared: ``same``, ``differs`` (where), ``xyzpy raises``, ``xyzfarm
raises``, or ``both raise``.

* ``--snapshot`` (run with a Python that has xyzpy 1.3.5, e.g. ``.venv-xyzpy/bin/python``):
  records xyzpy's outcomes in :data:`SNAPSHOT` (committed), so the comparison runs without
  xyzpy.
* default (the dev venv): runs the probes under xyzfarm and compares them with the snapshot,
  or with a live xyzpy given by ``--xyzpy-python PATH``. Prints one line per probe. Exits 1
  when a probe's verdict is not ``same`` / ``both raise`` and it is in neither
  :data:`DELIBERATE` (why) nor :data:`PENDING` (what xyzpy does), or when a listed probe
  now agrees (the lists must stay true). ``both raise`` notes where xyzfarm's error is not
  an instance of the builtin class xyzpy's was.

Cheap: two interpreters (or one, with the snapshot), a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
XYZPY_VERSION = "1.3.5"
SNAPSHOT = ROOT / "compat" / f"xyzpy-{XYZPY_VERSION}-forms.json"

#: defined in each child before the probes run (``xyz`` is the library under test)
PREAMBLE = """
import numpy as np
import pandas as pd
import xarray as xr

def add(a, b=0):
    return a + b

def two(a, b=0):
    return a + b, a - b

def vec(a, b=0):
    return np.arange(3) * a + b

def vecs(a, b=0):
    return np.arange(3) * a + b, np.arange(3) * a - b

def vec_and_scalar(a, b=0):
    return np.arange(3) * a, a + b

def grid(a):
    return np.ones((2, 3)) * a

def double(s):
    return s * 2

def as_ds(a, b=0):
    return xr.Dataset({"y": a + b})

def scaled(a, k):
    return np.asarray(k) * a

def uses_resource(a, r):
    return a + r["offset"]

K = xr.DataArray(np.zeros(3), dims=["k"], coords={"k": [0, 1, 2]})
KS = xr.DataArray(np.zeros(3), dims=["k"], coords={"k": ["x", "y", "z"]})
G = xr.DataArray(np.zeros((2, 3)), dims=["i", "j"], coords={"i": [0, 1], "j": [5, 6, 7]})
C2 = {"a": [1, 2], "b": [10, 20]}
Q = {"verbosity": 0}
"""

#: probe id -> (the form it tries, the code: an expression, or statements setting ``result``)
PROBES: dict[str, tuple[str, str]] = {
    # combos ------------------------------------------------------------------------------
    "combos-mapping": ("combos as a mapping", "xyz.combo_runner_to_ds(add, C2, 'y', **Q)"),
    "combos-pairs": (
        "combos as a list of (name, values) pairs",
        "xyz.combo_runner_to_ds(add, [('a', [1, 2]), ('b', [10, 20])], 'y', **Q)",
    ),
    "combos-tuple-of-pairs": (
        "combos as a tuple of (name, values) pairs",
        "xyz.combo_runner_to_ds(add, (('a', [1, 2]), ('b', [10, 20])), 'y', **Q)",
    ),
    "combos-one-pair": (
        "combos as one (name, values) pair",
        "xyz.combo_runner_to_ds(add, ('a', [1, 2]), 'y', constants={'b': 10}, **Q)",
    ),
    "combos-scalar-value": (
        "a scalar where values are expected",
        "xyz.combo_runner_to_ds(add, {'a': 3, 'b': [10, 20]}, 'y', **Q)",
    ),
    "combos-string-value": (
        "a str as the values (its characters)",
        "xyz.combo_runner_to_ds(double, {'s': 'ab'}, 'y', **Q)",
    ),
    "combos-string-list": (
        "a list of str as the values",
        "xyz.combo_runner_to_ds(double, {'s': ['ab', 'c']}, 'y', **Q)",
    ),
    "combos-range": ("values as a range", "xyz.combo_runner_to_ds(add, {'a': range(3)}, 'y', **Q)"),
    "combos-tuple": ("values as a tuple", "xyz.combo_runner_to_ds(add, {'a': (1, 2)}, 'y', **Q)"),
    "combos-ndarray": (
        "values as a numpy array",
        "xyz.combo_runner_to_ds(add, {'a': np.linspace(0, 1, 3)}, 'y', **Q)",
    ),
    "combos-pd-index": (
        "values as a pandas Index",
        "xyz.combo_runner_to_ds(add, {'a': pd.Index([1, 2])}, 'y', **Q)",
    ),
    "combos-pd-series": (
        "values as a pandas Series",
        "xyz.combo_runner_to_ds(add, {'a': pd.Series([1, 2])}, 'y', **Q)",
    ),
    "combos-generator": (
        "values as a generator",
        "xyz.combo_runner_to_ds(add, {'a': (i for i in range(2))}, 'y', **Q)",
    ),
    "combos-da-coords": (
        "values as a DataArray coordinate",
        "xyz.combo_runner_to_ds(add, {'a': K.coords['k']}, 'y', **Q)",
    ),
    "combos-duplicate": (
        "a value repeated in combos",
        "xyz.combo_runner_to_ds(add, {'a': [1, 1]}, 'y', **Q)",
    ),
    "combo_runner-mapping": ("combo_runner, combos as a mapping", "xyz.combo_runner(add, C2, **Q)"),
    "combo_runner-pairs": (
        "combo_runner, combos as pairs",
        "xyz.combo_runner(add, [('a', [1, 2]), ('b', [10, 20])], **Q)",
    ),
    "combo_runner-one-pair": (
        "combo_runner, combos as one pair",
        "xyz.combo_runner(add, ('a', [1, 2]), constants={'b': 1}, **Q)",
    ),
    "run_combos-pairs": (
        "Runner.run_combos, combos as pairs",
        "xyz.Runner(add, var_names='y').run_combos([('a', [1, 2]), ('b', [3])], **Q)",
    ),
    "run_combos-one-pair": (
        "Runner.run_combos, combos as one pair",
        "xyz.Runner(add, var_names='y').run_combos(('a', [1, 2]), **Q)",
    ),
    "harvest_combos-pairs": (
        "Harvester.harvest_combos, combos as pairs",
        "h = xyz.Harvester(xyz.Runner(add, var_names='y'), data_name='h.h5')\n"
        "h.harvest_combos([('a', [1, 2]), ('b', [3])], **Q)\n"
        "result = h.full_ds",
    ),
    # var_names -----------------------------------------------------------------------------
    "var_names-str": (
        "var_names as a str",
        "xyz.Runner(add, var_names='y').run_combos(C2, **Q)",
    ),
    "var_names-list": (
        "var_names as a list of one",
        "xyz.Runner(add, var_names=['y']).run_combos(C2, **Q)",
    ),
    "var_names-tuple": (
        "var_names as a tuple of one",
        "xyz.Runner(add, var_names=('y',)).run_combos(C2, **Q)",
    ),
    "var_names-list-two": (
        "var_names as a list of two",
        "xyz.Runner(two, var_names=['p', 'm']).run_combos(C2, **Q)",
    ),
    "var_names-tuple-two": (
        "var_names as a tuple of two",
        "xyz.Runner(two, var_names=('p', 'm')).run_combos(C2, **Q)",
    ),
    "var_names-none-dataset": (
        "var_names=None, the function returning a Dataset",
        "xyz.combo_runner_to_ds(as_ds, C2, var_names=None, **Q)",
    ),
    "var_names-label-str": (
        "@label(var_names=str)",
        "xyz.label(var_names='y')(add).run_combos(C2, **Q)",
    ),
    # var_dims ------------------------------------------------------------------------------
    "var_dims-dict-str": (
        "var_dims {name: str}",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-dict-list": (
        "var_dims {name: list}",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': ['k']}, "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-dict-tuple": (
        "var_dims {name: tuple}",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': ('k',)}, "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-str": (
        "var_dims as a str (one output, one dimension)",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims='k', var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-da-dims": (
        "var_dims {name: DataArray.dims}",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': K.dims}, "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-da-dims-2d": (
        "var_dims {name: DataArray.dims} of two dimensions, var_coords DataArray.coords",
        "xyz.combo_runner_to_ds(grid, {'a': [1, 2]}, 'g', var_dims={'g': G.dims}, "
        "var_coords=G.coords, **Q)",
    ),
    "var_dims-in-step-list": (
        "var_dims a list in step with var_names",
        "xyz.combo_runner_to_ds(vec_and_scalar, C2, ['v', 's'], var_dims=[['k'], ()], "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-tuple-key": (
        "var_dims {(name, name): dims}",
        "xyz.combo_runner_to_ds(vecs, C2, ['v', 'w'], var_dims={('v', 'w'): 'k'}, "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-pairs": (
        "var_dims as (name, dims) pairs",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims=[('v', ['k'])], "
        "var_coords={'k': [0, 1, 2]}, **Q)",
    ),
    "var_dims-no-coords": (
        "var_dims without var_coords",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, **Q)",
    ),
    "var_dims-runner-da-dims": (
        "Runner(var_dims={name: DataArray.dims}, var_coords=DataArray.coords)",
        "xyz.Runner(vec, var_names='v', var_dims={'v': K.dims}, var_coords=K.coords)"
        ".run_combos(C2, **Q)",
    ),
    # var_coords ----------------------------------------------------------------------------
    "var_coords-range": (
        "var_coords values as a range",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': range(3)}, **Q)",
    ),
    "var_coords-ndarray": (
        "var_coords values as a numpy array",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': np.array([0.5, 1.5, 2.5])}, **Q)",
    ),
    "var_coords-pd-index": (
        "var_coords values as a pandas Index",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': pd.Index([0, 1, 2])}, **Q)",
    ),
    "var_coords-str": (
        "var_coords of str",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': ['x', 'y', 'z']}, **Q)",
    ),
    "var_coords-da-coords": (
        "var_coords as DataArray.coords (numbers)",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, var_coords=K.coords, **Q)",
    ),
    "var_coords-da-coords-str": (
        "var_coords as DataArray.coords (str)",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, var_coords=KS.coords, **Q)",
    ),
    "var_coords-pairs": (
        "var_coords as (dim, values) pairs",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords=[('k', [0, 1, 2])], **Q)",
    ),
    "var_coords-dataarray-value": (
        "var_coords {dim: DataArray coordinate}",
        "xyz.combo_runner_to_ds(vec, C2, 'v', var_dims={'v': 'k'}, "
        "var_coords={'k': KS.coords['k']}, **Q)",
    ),
    # cases ---------------------------------------------------------------------------------
    "cases-tuples": (
        "cases as tuples, fn_args a list",
        "xyz.case_runner_to_ds(add, ['a', 'b'], [(1, 10), (2, 20)], 'y', **Q)",
    ),
    "cases-tuples-fn_args-tuple": (
        "cases as tuples, fn_args a tuple",
        "xyz.case_runner_to_ds(add, ('a', 'b'), [(1, 10), (2, 20)], 'y', **Q)",
    ),
    "cases-dicts": (
        "cases as dicts, fn_args None",
        "xyz.case_runner_to_ds(add, None, [{'a': 1, 'b': 10}, {'a': 2, 'b': 20}], 'y', **Q)",
    ),
    "cases-one-dict": (
        "cases as one dict",
        "xyz.case_runner_to_ds(add, None, {'a': 1, 'b': 10}, 'y', **Q)",
    ),
    "cases-scalars": (
        "cases as scalars, fn_args a str",
        "xyz.case_runner_to_ds(add, 'a', [1, 2, 3], 'y', **Q)",
    ),
    "cases-strings": (
        "cases as str, fn_args a str",
        "xyz.case_runner_to_ds(double, 's', ['ab', 'c'], 'y', **Q)",
    ),
    "cases-ndarray": (
        "cases as a 2-d numpy array",
        "xyz.case_runner_to_ds(add, ['a', 'b'], np.array([[1, 10], [2, 20]]), 'y', **Q)",
    ),
    "cases-dataframe": (
        "cases as a DataFrame",
        "xyz.case_runner_to_ds(add, None, pd.DataFrame({'a': [1, 2], 'b': [10, 20]}), 'y', **Q)",
    ),
    "cases-dataframe-records": (
        "cases as DataFrame.to_dict('records')",
        "xyz.case_runner_to_ds(add, None, "
        "pd.DataFrame({'a': [1, 2], 'b': [10, 20]}).to_dict('records'), 'y', **Q)",
    ),
    "cases-with-combos": (
        "case_runner_to_ds cases and combos",
        "xyz.case_runner_to_ds(add, 'a', [1, 2], 'y', combos={'b': [10, 20]}, **Q)",
    ),
    "combos-with-cases": (
        "combo_runner_to_ds combos and cases (dicts)",
        "xyz.combo_runner_to_ds(add, {'b': [10, 20]}, 'y', cases=[{'a': 1}, {'a': 2}], **Q)",
    ),
    "run_cases-tuples": (
        "Runner.run_cases, tuples and fn_args",
        "xyz.Runner(add, var_names='y').run_cases([(1, 10), (2, 20)], fn_args=['a', 'b'], **Q)",
    ),
    "run_cases-dicts": (
        "Runner.run_cases, dicts",
        "xyz.Runner(add, var_names='y').run_cases([{'a': 1, 'b': 10}, {'a': 2, 'b': 20}], **Q)",
    ),
    "run_cases-runner-fn_args": (
        "Runner(fn_args=...).run_cases, tuples",
        "xyz.Runner(add, var_names='y', fn_args=['a', 'b']).run_cases([(1, 10), (2, 20)], **Q)",
    ),
    "harvest_cases-dicts": (
        "Harvester.harvest_cases, dicts",
        "h = xyz.Harvester(xyz.Runner(add, var_names='y'), data_name='h.h5')\n"
        "h.harvest_cases([{'a': 1, 'b': 10}, {'a': 2, 'b': 20}], **Q)\n"
        "result = h.full_ds",
    ),
    "case_runner-tuples": (
        "case_runner, tuples",
        "xyz.case_runner(add, ['a', 'b'], [(1, 10), (2, 20)], **Q)",
    ),
    # constants, resources, attrs -------------------------------------------------------------
    "constants-dict": (
        "constants as a dict",
        "xyz.combo_runner_to_ds(add, {'a': [1, 2]}, 'y', constants={'b': 5}, **Q)",
    ),
    "constants-pairs": (
        "constants as (name, value) pairs",
        "xyz.combo_runner_to_ds(add, {'a': [1, 2]}, 'y', constants=[('b', 5)], **Q)",
    ),
    "constants-dim-coord": (
        "a constant naming an output dimension (its coordinate)",
        "xyz.combo_runner_to_ds(scaled, {'a': [1, 2]}, 'v', var_dims={'v': 'k'}, "
        "constants={'k': [0, 1, 2]}, **Q)",
    ),
    "constants-run_combos-pairs": (
        "Runner.run_combos(constants=pairs)",
        "xyz.Runner(add, var_names='y').run_combos({'a': [1, 2]}, constants=[('b', 5)], **Q)",
    ),
    "constants-runner-dict": (
        "Runner(constants=dict)",
        "xyz.Runner(add, var_names='y', constants={'b': 5}).run_combos({'a': [1, 2]}, **Q)",
    ),
    "constants-runner-pairs": (
        "Runner(constants=pairs)",
        "xyz.Runner(add, var_names='y', constants=[('b', 5)]).run_combos({'a': [1, 2]}, **Q)",
    ),
    "constants-override-combo": (
        "a constant with the name of a combo",
        "xyz.combo_runner_to_ds(add, {'a': [1, 2], 'b': [3]}, 'y', constants={'b': 5}, **Q)",
    ),
    "resources-dict": (
        "resources as a dict",
        "xyz.combo_runner_to_ds(uses_resource, {'a': [1, 2]}, 'y', "
        "resources={'r': {'offset': 100}}, **Q)",
    ),
    "resources-pairs": (
        "resources as (name, value) pairs",
        "xyz.combo_runner_to_ds(uses_resource, {'a': [1, 2]}, 'y', "
        "resources=[('r', {'offset': 100})], **Q)",
    ),
    "resources-runner": (
        "Runner(resources=dict)",
        "xyz.Runner(uses_resource, var_names='y', resources={'r': {'offset': 100}})"
        ".run_combos({'a': [1, 2]}, **Q)",
    ),
    "attrs-dict": (
        "attrs as a dict",
        "xyz.combo_runner_to_ds(add, {'a': [1, 2]}, 'y', attrs={'note': 'x'}, **Q)",
    ),
    # DataFrame forms -----------------------------------------------------------------------
    "to_df-combos": (
        "combo_runner_to_df",
        "xyz.combo_runner_to_df(add, C2, 'y', **Q)",
    ),
    "to_df-cases": (
        "case_runner_to_df, tuples",
        "xyz.case_runner_to_df(add, ['a', 'b'], [(1, 10), (2, 20)], 'y', **Q)",
    ),
    "to_df-two-outputs": (
        "combo_runner_to_df, two outputs and a constant",
        "xyz.combo_runner_to_df(two, {'a': [1, 2]}, ['p', 'm'], constants={'b': 1}, **Q)",
    ),
    "sampler-add_df-dataframe": (
        "Sampler.add_df(DataFrame)",
        "s = xyz.Sampler(xyz.Runner(add, var_names='y'))\n"
        "s.add_df(pd.DataFrame({'a': [1, 2], 'b': [0, 0], 'y': [1, 2]}))\n"
        "result = s.full_df",
    ),
    "sampler-add_df-dict": (
        "Sampler.add_df(dict of columns)",
        "s = xyz.Sampler(xyz.Runner(add, var_names='y'))\n"
        "s.add_df({'a': [1, 2], 'b': [0, 0], 'y': [1, 2]})\n"
        "result = s.full_df",
    ),
    "sampler-sample-pairs-callable": (
        "Sampler.sample_combos, combos as pairs with a callable (columns, rows, values in range)",
        "s = xyz.Sampler(xyz.Runner(add, var_names='y'))\n"
        "df = s.sample_combos(5, [('a', [1, 2]), ('b', lambda: 7)], **Q)\n"
        "result = (list(df.columns), len(df), set(df['a']) <= {1, 2}, set(df['b']) == {7})",
    ),
}

#: probe id -> why xyzfarm's outcome differs from xyzpy's on purpose
DELIBERATE: dict[str, str] = {
    "combos-string-value": (
        "xyzpy sweeps the characters of a str given as the values ({'s': 'ab'} runs s='a' "
        "and s='b'); xyzfarm refuses it (ComboValueError, a TypeError) as the likely mistake "
        "it is, as it refuses a scalar: write ['ab'] for one value or list('ab') for the "
        "characters"
    ),
    "combos-da-coords": (
        "xyzpy fails with TypeError (the 0-d DataArrays that iterating a coordinate gives are "
        "unhashable); xyzfarm sweeps the coordinate's values, as it reads var_coords=da.coords"
    ),
    "cases-dataframe": (
        "xyzpy fails with TypeError (it iterates the column names); xyzfarm takes one case "
        "per row, named by the columns"
    ),
}

#: probe id -> what xyzpy does, for a difference not fixed yet (the lead empties this list)
PENDING: dict[str, str] = {}

#: the probes whose outcome differs on purpose or for now; a listed probe that agrees again
#: fails the run, so the lists stay true
KNOWN = {**DELIBERATE, **PENDING}


# ------------------------------------------------------------------------------------------
# the child: run every probe under one library


def _plain(value: Any) -> Any:
    """A JSON-able summary of ``value``: Datasets, DataFrames and arrays by their labels,
    dtypes and values; NaN as "nan"."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    if isinstance(value, xr.Dataset):
        return {
            "Dataset": {
                "dims": {str(k): int(n) for k, n in value.sizes.items()},
                "coords": {str(k): _plain(v.variable) for k, v in value.coords.items()},
                "data_vars": {str(k): _plain(v.variable) for k, v in value.data_vars.items()},
                "attrs": {str(k): _plain(v) for k, v in value.attrs.items()},
            }
        }
    if isinstance(value, xr.DataArray):
        return {"DataArray": _plain(value.to_dataset(name="_"))}
    if isinstance(value, xr.Variable):
        return {
            "dims": list(value.dims),
            "dtype": str(value.dtype),
            "values": _plain(value.values),
        }
    if isinstance(value, pd.DataFrame):
        return {
            "DataFrame": {
                "columns": [str(c) for c in value.columns],
                "dtypes": [str(t) for t in value.dtypes],
                "index": _plain(list(value.index)),
                "rows": _plain(value.to_numpy().tolist()),
            }
        }
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "values": _plain(value.tolist())}
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _message(error: BaseException, folder: str) -> str:
    text = str(error).replace(folder, "<tmp>")
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    return text.splitlines()[0][:240] if text else ""


def run_probes(library: str) -> dict[str, Any]:
    """Every probe's outcome under ``import <library> as xyz`` (in this interpreter)."""
    import contextlib
    import importlib
    import io
    import warnings

    warnings.simplefilter("ignore")
    namespace: dict[str, Any] = {"xyz": importlib.import_module(library)}
    exec(PREAMBLE, namespace)  # noqa: S102 - our own probe code
    outcomes: dict[str, Any] = {}
    here = os.getcwd()
    for probe, (_, code) in PROBES.items():
        with tempfile.TemporaryDirectory(prefix="xyz-forms-") as folder:
            os.chdir(folder)
            local = dict(namespace)
            try:
                with (
                    contextlib.redirect_stdout(io.StringIO()),
                    contextlib.redirect_stderr(io.StringIO()),
                ):
                    if "result =" in code:
                        exec(code, local)  # noqa: S102 - our own probe code
                        value = local["result"]
                    else:
                        value = eval(code, local)  # noqa: S307 - our own probe code
                outcomes[probe] = {"value": _plain(value)}
            except Exception as error:
                builtins = [c.__name__ for c in type(error).__mro__ if c.__module__ == "builtins"]
                outcomes[probe] = {
                    "raises": type(error).__name__,
                    "builtin": builtins[0],
                    # every builtin class it is an instance of: ours may refine two
                    "builtins": builtins,
                    "message": _message(error, folder),
                }
            finally:
                os.chdir(here)
    return outcomes


# ------------------------------------------------------------------------------------------
# comparing


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path or 'keys'}: {list(a)} vs {list(b)}"
        for k in a:
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}.{k}" if path else k)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {json.dumps(a)[:120]} vs {json.dumps(b)[:120]}"


def verdict(theirs: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str]:
    """(``same`` | ``differs`` | ``xyzpy raises`` | ``xyzfarm raises`` | ``both raise``,
    detail)."""
    if "raises" in theirs and "raises" in ours:
        compatible = theirs["builtin"] in ours.get("builtins", [ours["builtin"]])
        note = "" if compatible else f" (xyzpy {theirs['builtin']}, xyzfarm {ours['builtin']})"
        return "both raise", f"{theirs['raises']} / {ours['raises']}{note}"
    if "raises" in theirs:
        return "xyzpy raises", f"{theirs['raises']}: {theirs['message']}"
    if "raises" in ours:
        return "xyzfarm raises", f"{ours['raises']}: {ours['message']}"
    if theirs["value"] == ours["value"]:
        return "same", ""
    return "differs", _first_difference(theirs["value"], ours["value"])


AGREE = ("same", "both raise")


def compare(theirs: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(probe, verdict, detail) for every probe."""
    return [(p, *verdict(theirs[p], ours[p])) for p in PROBES if p in theirs and p in ours]


def problems_of(rows: list[tuple[str, str, str]], theirs: dict[str, Any]) -> list[str]:
    problems = [f"NOT RECORDED {p}: run --snapshot with xyzpy" for p in PROBES if p not in theirs]
    for probe, answer, detail in rows:
        if answer not in AGREE and probe not in KNOWN:
            problems.append(
                f"UNLISTED {probe}: {answer}: {detail}; list it in DELIBERATE (why) or PENDING "
                "(what xyzpy does) in scripts/forms_audit.py"
            )
        if answer in AGREE and probe in KNOWN:
            problems.append(f"STALE {probe}: now {answer}; remove it from DELIBERATE/PENDING")
    problems += [f"UNKNOWN {p}: listed but no such probe" for p in KNOWN if p not in PROBES]
    problems += [f"BOTH {p}: in DELIBERATE and PENDING" for p in set(DELIBERATE) & set(PENDING)]
    return problems


# ------------------------------------------------------------------------------------------
# running the children


def _child(python: str, library: str) -> dict[str, Any]:
    env = dict(os.environ)
    if library == "xyzfarm":
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", library],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tempfile.gettempdir(),
    )
    if out.returncode != 0:
        raise SystemExit(f"the {library} probes failed to run ({python}):\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help=f"record xyzpy's outcomes (in {SNAPSHOT.relative_to(ROOT)}) with this Python",
    )
    parser.add_argument(
        "--xyzpy-python", help="a Python with xyzpy 1.3.5: compare with it live, not the snapshot"
    )
    parser.add_argument("--json", help="also write every probe's outcomes and verdict here")
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(_dump(run_probes(args.child)))
        return 0
    if args.snapshot:
        import xyzpy

        if xyzpy.__version__ != XYZPY_VERSION:
            raise SystemExit(f"xyzpy {xyzpy.__version__} is installed, not {XYZPY_VERSION}")
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(_dump(_child(sys.executable, "xyzpy")))
        print(f"{SNAPSHOT.relative_to(ROOT)}: {len(PROBES)} probes")
        return 0
    if args.xyzpy_python:
        theirs = _child(os.path.abspath(args.xyzpy_python), "xyzpy")
    else:
        theirs = json.loads(SNAPSHOT.read_text())
    ours = _child(sys.executable, "xyzfarm")
    rows = compare(theirs, ours)
    width = max(len(p) for p in PROBES)
    for probe, answer, detail in rows:
        known = " [DELIBERATE]" if probe in DELIBERATE else " [PENDING]" if probe in PENDING else ""
        print(f"{probe:<{width}}  {answer:<14}{known} {detail}".rstrip())
    counts = {a: sum(r[1] == a for r in rows) for a in dict.fromkeys(r[1] for r in rows)}
    print("forms: " + ", ".join(f"{n} {a}" for a, n in counts.items()) + f" of {len(rows)}")
    if args.json:
        report = {
            p: {"form": PROBES[p][0], "code": PROBES[p][1], "verdict": a, "detail": d}
            | {"xyzpy": theirs[p], "xyzfarm": ours[p]}
            for p, a, d in rows
        }
        Path(args.json).write_text(_dump(report))
    problems = problems_of(rows, theirs)
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
