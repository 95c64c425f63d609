"""Shipping functions by value or by reference, restoring their file names, fingerprinting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import xyzfarm as xyz
from xyzfarm.errors import CropMismatchError, FunctionMismatchError
from xyzfarm.node import shipping
from xyzfarm.node.pool import child_pythonpath

ROOT = Path(__file__).resolve().parent.parent

HELPERS = """
def scale(x):
    return 3 * x
"""
ACCMOD = """
import numpy as np
from helpers import scale

def f(x):
    if x == 2:
        raise ValueError("two is refused")
    return float(np.sqrt(scale(x)))
"""


def _run_python(code: str, cwd: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter, as a user starts one: only this checkout added to its path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_installed_packages_travel_by_reference_and_local_modules_by_value(user_module):
    user_module("shiplocal", "def g(x):\n    return x\n")
    import shiplocal

    assert not shipping.travels_by_value(np)
    assert not shipping.travels_by_value(json)
    assert not shipping.travels_by_value(xyz)  # every task imports xyzfarm anyway
    assert shipping.travels_by_value(sys.modules["__main__"])
    assert shipping.travels_by_value(shiplocal)


def test_the_walk_finds_local_modules_the_function_uses_through_its_globals(user_module):
    user_module("helpers", HELPERS)
    user_module("accmod", ACCMOD)
    import accmod

    names = {m.__name__ for m in shipping.local_modules(accmod.f)}
    assert names == {"accmod", "helpers"}  # numpy is installed: by reference


def test_a_function_from_a_module_beside_the_session_loads_where_that_module_is_missing(
    tmp_path,
):
    session = tmp_path / "session"
    session.mkdir()
    (session / "helpers.py").write_text(HELPERS)
    (session / "accmod.py").write_text(ACCMOD)
    out = _run_python(
        """
        import accmod
        from xyzfarm.node import shipping
        open("f.pkl", "wb").write(shipping.dumps_function(accmod.f, {}))
        import cloudpickle
        assert not cloudpickle.list_registry_pickle_by_value()  # unregistered afterwards
        """,
        session,
    )
    assert out.returncode == 0, out.stderr
    elsewhere = tmp_path / "node"
    elsewhere.mkdir()
    out = _run_python(
        f"""
        import traceback
        from xyzfarm.node import shipping
        fn, fixed = shipping.loads_function(open({str(session / "f.pkl")!r}, "rb").read())
        print(fn(3))
        try:
            fn(2)
        except ValueError:
            print(traceback.format_exc())
        """,
        elsewhere,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "3.0"
    # the traceback names the user's file and line, not cloudpickle's <dynamic-code>
    assert f'File "{session / "accmod.py"}", line 7, in f' in out.stdout
    assert "dynamic-code" not in out.stdout


def test_the_fingerprint_ignores_where_the_code_sits_but_not_what_it_computes(user_module):
    user_module("fpa", "def h(x, k=1):\n    return x + k\n")
    user_module("fpb", "\n\n\ndef h(x, k=1):\n    return x + k\n")  # moved down 3 lines
    user_module("fpc", "def h(x, k=1):\n    return x - k\n")
    user_module("fpd", "def h(x, k=2):\n    return x + k\n")
    import fpa
    import fpb
    import fpc
    import fpd

    prints = [shipping.fingerprint(m.h) for m in (fpa, fpb, fpc, fpd)]
    # the module's name counts (fpa.h is not fpb.h), so compare code via a shared name
    fpb.h.__module__ = "fpa"
    assert shipping.fingerprint(fpb.h) == prints[0]
    assert prints[0] != prints[2] and prints[0] != prints[3]


def test_the_fingerprint_sees_closure_values_and_the_local_functions_it_calls(user_module):
    def make(k):
        def add(x):
            return x + k

        return add

    assert shipping.fingerprint(make(1)) == shipping.fingerprint(make(1))
    assert shipping.fingerprint(make(1)) != shipping.fingerprint(make(2))
    user_module("callee1", "def inner(x):\n    return x\ndef outer(x):\n    return inner(x)\n")
    import callee1

    before = shipping.fingerprint(callee1.outer)
    callee1.inner = lambda x: -x  # what outer calls changed
    assert shipping.fingerprint(callee1.outer) != before


def test_growing_with_a_changed_function_is_refused_naming_both(user_module):
    user_module("versions", "def f(x):\n    return x\ndef g(x):\n    return 2 * x\n")
    import versions

    crop = xyz.Runner(versions.f, "y").Crop(name="v", batchsize=2)
    crop.sow_combos({"x": [1, 2, 3, 4]})
    crop.grow(1, verbosity=0)
    crop.fn = versions.g
    with pytest.raises(FunctionMismatchError, match=r"versions\.f.*versions\.g.*replace_fn=True"):
        crop.grow(verbosity=0)
    with pytest.raises(FunctionMismatchError):
        crop.grow(verbosity=0, num_workers=2, subprocess=True)
    assert isinstance(FunctionMismatchError("x"), CropMismatchError)


def test_replace_fn_rewrites_the_saved_function_and_each_case_names_its_function(user_module):
    user_module("versions2", "def f(x):\n    return x\ndef g(x):\n    return 2 * x\n")
    import versions2

    crop = xyz.Runner(versions2.f, "y").Crop(name="v2", batchsize=2)
    crop.sow_combos({"x": [1, 2, 3, 4]})
    crop.grow(1, verbosity=0)
    old = shipping.fingerprint(versions2.f)
    crop.fn = versions2.g
    crop.grow(verbosity=0, num_workers=2, subprocess=True, replace_fn=True)  # workers: pkl
    ds = crop.reap(clean_up=False, verbosity=0, provenance="in")
    assert ds.y.values.tolist() == [1, 2, 6, 8]  # batch 1 kept its results, 2 grew with g
    assert ds.xyz_fn.values.tolist() == [old, old, *[shipping.fingerprint(versions2.g)] * 2]


def test_child_pythonpath_holds_the_session_entries_but_never_the_stdlib_or_site_packages():
    entries = child_pythonpath().split(os.pathsep)
    assert entries[0] == os.getcwd()
    assert not [e for e in entries if shipping.is_installed(e)]
    import sysconfig

    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    assert stdlib not in map(os.path.realpath, entries)
    assert not [e for e in entries if "site-packages" in e]


def test_child_pythonpath_holds_the_folder_holding_xyzfarm_never_the_package_folder_itself():
    # the package's own folder on the path would make its modules (errors, runner, demo, ...)
    # importable as top-level names, shadowing the user's modules of the same names
    entries = list(map(os.path.realpath, child_pythonpath().split(os.pathsep)))
    package = Path(xyz.__file__).resolve().parent
    assert str(package) not in entries
    if not shipping.is_installed(package.parent):
        assert str(package.parent) in entries


def test_another_interpreter_is_not_broken_by_the_exported_path(tmp_path):
    other = Path("/usr/bin/python3")
    if not other.is_file():
        pytest.skip("no second interpreter at /usr/bin/python3")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": child_pythonpath()}
    out = subprocess.run(
        [str(other), "-c", "import re, json, sys; print(sys.version_info[:2])"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr  # no "SRE module mismatch" from a leaked stdlib


def test_a_notebook_global_changed_after_sowing_is_refused_by_name_and_never_mixes_results(
    tmp_path,
):
    """As a notebook user works: sow, grow a batch here, edit a global in another cell, grow
    on. The crop never holds values of both: growing refuses naming the global, workers and
    this process agree once it is set back, and replace_fn=True takes the new value."""
    import nbformat
    from kernel import execute, stream

    (tmp_path / "work").mkdir()
    cells = [
        "import xyzfarm as xyz\nSCALE = 2.0\n"
        "@xyz.label(var_names=['y'])\ndef f(x):\n    return x * SCALE\n"
        "crop = xyz.Crop(fn=f, name='g', batchsize=2)\n"
        "crop.sow_combos({'x': [1, 2, 3, 4, 5, 6]})\ncrop.grow(1, subprocess=False, verbosity=0)",
        "SCALE = 3.0",
        "try:\n    crop.grow(2, subprocess=False, verbosity=0)\n"
        "except xyz.errors.FunctionMismatchError as e:\n    print('REFUSED', e)",
        "try:\n    crop.grow(2, subprocess=True, num_workers=1, verbosity=0)\n"
        "except xyz.errors.FunctionMismatchError as e:\n    print('REFUSED', e)",
        "SCALE = 2.0\ncrop.grow(2, subprocess=True, num_workers=1, verbosity=0)\n"
        "SCALE = 3.0\ncrop.grow(3, subprocess=False, verbosity=0, replace_fn=True)\n"
        "print('VALUES', crop.reap().y.values.tolist())",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    execute(nb, tmp_path / "work")
    for k in (2, 3):
        out = stream(nb.cells[k], "stdout")
        assert "REFUSED" in out and "'SCALE'" in out and "replace_fn=True" in out, out
    # batch 1 and 2 with SCALE=2 (here, then in a worker), batch 3 after replacing with 3
    assert "VALUES [2.0, 4.0, 6.0, 8.0, 15.0, 18.0]" in stream(nb.cells[4], "stdout")


def test_growing_through_an_executor_with_a_changed_global_is_refused_too(tmp_path):
    import concurrent.futures as cf

    namespace = {"SCALE": 2.0}
    exec("def scaled(x):\n    return x * SCALE\n", namespace)
    namespace["scaled"].__module__ = "__main__"  # as a notebook defines it
    crop = xyz.Crop(
        fn=xyz.label(var_names=["y"])(namespace["scaled"]), name="ex", parent_dir=tmp_path
    )
    crop.sow_combos({"x": [1, 2]})
    namespace["SCALE"] = 3.0
    with cf.ThreadPoolExecutor(2) as ex, pytest.raises(FunctionMismatchError, match="'SCALE'"):
        crop.grow(executor=ex, verbosity=0)
    assert crop.status().done == 0
