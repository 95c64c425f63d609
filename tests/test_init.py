from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xyzfarm

ROOT = Path(__file__).resolve().parent.parent


def test_the_public_names_of_xyzpy_farming_are_exported():
    for name in [
        "label",
        "Runner",
        "Harvester",
        "Sampler",
        "combo_runner",
        "case_runner",
        "load_ds",
        "save_ds",
        "load_df",
        "save_df",
    ]:
        assert callable(getattr(xyzfarm, name))


def test_importing_the_package_does_not_import_xarray(python, python_env):
    code = "import sys, xyzfarm; print('xarray' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_an_unknown_attribute_raises_attribute_error():
    try:
        xyzfarm.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_public_names_stay_functions_after_every_submodule_is_imported():
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(xyzfarm.__path__):
        importlib.import_module(f"xyzfarm.{info.name}")
    for name in xyzfarm.__all__:
        value = getattr(xyzfarm, name)
        if name not in ("errors", "__version__"):
            assert callable(value), f"xyzfarm.{name} is {value!r}"


def test_dir_of_the_package_lists_its_public_names_not_its_own_imports():
    import xyzfarm

    listed = dir(xyzfarm)
    assert {"Runner", "Harvester", "Crop", "grow", "__version__"} <= set(listed)
    assert not {"Any", "TYPE_CHECKING", "importlib", "annotations"} & set(listed)


def test_the_layers_import_only_downwards_as_the_import_contracts_say():
    # the contracts live in pyproject.toml ([tool.importlinter]); imports in functions count
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
