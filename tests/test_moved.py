"""Pickles written before the modules moved into sub-packages (a crop sown before the upgrade)
still load: storage.loads retries a failed import with the old module paths (store/moved.py).

An old pickle is made the way the old xyzfarm made it, then given the old paths: cloudpickle's
protocol 0 spells module paths as plain text lines, so they can be put back by replacing text.
"""

from __future__ import annotations

import importlib
import sys

import cloudpickle
import pytest

import xyzfarm as xyz
from xyzfarm.node import worker
from xyzfarm.store import storage
from xyzfarm.store.moved import MOVED_MODULES, loads_moved
from xyzfarm.sweep.run import combo_runner


def with_old_paths(obj: object, old_to_new: dict[str, str]) -> bytes:
    data = cloudpickle.dumps(obj, protocol=0)
    for old, new in old_to_new.items():
        # a module path ends a GLOBAL line (module\nname\n) or a string (Vmodule\n)
        assert f"{new}\n".encode() in data, new
        data = data.replace(f"{new}\n".encode(), f"{old}\n".encode())
    return data


def test_a_cache_to_disk_function_pickled_with_the_old_paths_loads_and_runs(tmp_path):
    cached = xyz.cache_to_disk(lambda x: 2 * x, cachedir=tmp_path / "cache")
    old = with_old_paths(
        cached,
        {
            "xyzfarm.disk_cache": "xyzfarm.manage.disk_cache",
            "xyzfarm.storage": "xyzfarm.store.storage",
        },
    )
    with pytest.raises(ModuleNotFoundError, match=r"xyzfarm\.storage"):
        cloudpickle.loads(old)  # what growing a crop sown before the upgrade did
    fn = storage.loads(old)
    assert fn(3) == 6 and fn(3) == 6  # the second call reads the cache through old 'storage'
    assert len(list((tmp_path / "cache").rglob("*.pkl"))) == 1


def test_names_of_old_modules_that_are_packages_now_load_from_the_module_that_holds_them():
    old = with_old_paths(
        {"runner": combo_runner, "record": worker.grow_batch},
        {"xyzfarm.sweep": "xyzfarm.sweep.run", "xyzfarm.worker": "xyzfarm.node.worker"},
    )
    loaded = storage.loads(old)
    assert loaded == {"runner": combo_runner, "record": worker.grow_batch}


def test_a_pickle_that_fails_for_another_reason_raises_its_own_error():
    data = cloudpickle.dumps(combo_runner, protocol=0).replace(
        b"xyzfarm.sweep.run\n", b"xyzfarm.nowhere\n"
    )
    with pytest.raises(ModuleNotFoundError, match=r"'xyzfarm\.nowhere'"):
        storage.loads(data)
    with pytest.raises(ModuleNotFoundError, match=r"'xyzfarm\.nowhere'"):
        loads_moved(data)


def test_every_new_path_in_the_table_is_a_module_and_every_old_one_is_gone_or_a_package():
    packages_now = set()
    for old, new in MOVED_MODULES.items():
        assert not hasattr(importlib.import_module(new), "__path__"), new
        try:
            packages_now.add(importlib.import_module(old).__name__)
        except ModuleNotFoundError:
            continue
        assert hasattr(sys.modules[old], "__path__"), old
    assert packages_now == {"xyzfarm.crop", "xyzfarm.sweep", "xyzfarm.worker"}
