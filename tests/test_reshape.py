from __future__ import annotations

import numpy as np
import xarray as xr

import xyzfarm as xyz


def test_trimna_drops_all_nan_coordinates_and_post_fix_renames_variables():
    ds = xr.Dataset({"v": ("a", [1.0, np.nan])}, coords={"a": [1, 2]})
    assert xyz.trimna(ds)["a"].values.tolist() == [1]
    assert list(xyz.post_fix(ds, "old").data_vars) == ["v_old"]


def test_check_runs_prints_the_range_and_gaps(capsys):
    da = xr.DataArray([1.0, np.nan, 1.0, 1.0], coords={"run": [0, 1, 2, 3]}, dims="run")
    xyz.check_runs(da)
    assert "MISSING: [(1, 2)]" in capsys.readouterr().out


def test_auto_xyz_ds_puts_y_over_z_and_x():
    ds = xyz.auto_xyz_ds([0, 1, 2], [[1, 2, 3], [4, 5, 6]])
    assert ds["y"].dims == ("z", "x") and ds.sizes["z"] == 2
