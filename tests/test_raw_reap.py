from __future__ import annotations

import numpy as np
import pytest

import xyzfarm as xyz


def add(a, b):
    return a + b


def test_a_crop_without_a_runner_reaps_the_nested_results_of_combo_runner(tmp_path):
    combos = [("a", [1, 2, 3]), ("b", [10, 20])]
    crop = xyz.Crop(fn=add, parent_dir=tmp_path, batchsize=2)
    crop.sow_combos(combos, shuffle=True)
    crop.grow_missing(verbosity=0)
    assert crop.reap() == xyz.combo_runner(add, combos, verbosity=0)


def test_reaping_incomplete_fills_missing_cases_with_nan_and_needs_one_result(tmp_path):
    crop = xyz.Crop(fn=add, parent_dir=tmp_path)
    crop.sow_combos({"a": [1, 2], "b": [10, 20]})
    with pytest.raises(xyz.XYZError):
        crop.reap(allow_incomplete=True)
    crop.grow(1, verbosity=0)
    res = np.array(crop.reap(allow_incomplete=True), dtype=float)
    assert res[0, 0] == 11 and np.isnan(res).sum() == 3


def test_reap_combos_to_ds_labels_the_raw_outputs_at_reap_time(tmp_path):
    combos = {"a": [1, 2], "b": [10, 20]}
    crop = xyz.Crop(fn=add, parent_dir=tmp_path)
    crop.sow_combos(combos)
    crop.grow_missing(verbosity=0)
    ds = crop.reap_combos_to_ds(var_names="sum")
    assert ds.identical(xyz.combo_runner_to_ds(add, combos, "sum", verbosity=0))


def test_num_results_of_an_unsown_crop_is_minus_one(tmp_path):
    assert xyz.Crop(fn=add, parent_dir=tmp_path).num_results == -1
