from __future__ import annotations

import pytest

import xyzfarm as xyz


def add(a, b):
    return a + b


def test_grow_outside_a_crop_folder_without_a_crop_raises_xyzerror(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(xyz.XYZError, match="crop folder"):
        xyz.grow(1)


def test_grow_one_batch_by_crop_then_by_name_and_location(tmp_path):
    crop = xyz.Crop(fn=add, parent_dir=tmp_path)
    crop.sow_combos([("a", [1, 2]), ("b", [10])])
    xyz.grow(1, crop)
    assert crop.missing_results() == (2,)
    xyz.grow(2, crop=(crop.name, crop.location))
    assert crop.reap() == ((11,), (12,))  # nested tuples, as xyzpy


def test_grow_is_a_function_after_every_submodule_is_imported():
    import xyzfarm.crop.grow  # noqa: F401

    assert callable(xyz.grow)
