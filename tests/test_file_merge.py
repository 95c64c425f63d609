from __future__ import annotations

import xarray as xr

import xyzfarm as xyz


def test_save_merge_ds_merges_with_the_file_already_there(tmp_path):
    path = tmp_path / "d.h5"
    xyz.save_merge_ds(xr.Dataset({"v": ("a", [1.0])}, coords={"a": [1]}), path)
    xyz.save_merge_ds(xr.Dataset({"v": ("a", [2.0])}, coords={"a": [2]}), path)
    assert xyz.load_ds(path)["v"].values.tolist() == [1.0, 2.0]
