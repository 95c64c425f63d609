"""The files farmers keep their full data in (xyzfarm.store.full_data)."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from xyzfarm.store.full_data import append_to_file, concat_rows, merge_into_file


def test_merging_into_a_missing_file_creates_it_and_merging_again_adds_the_new_cases(tmp_path):
    path = tmp_path / "full.h5"
    first = xr.Dataset({"y": ("x", [1.0, 4.0])}, coords={"x": [1, 2]})
    second = xr.Dataset({"y": ("x", [9.0])}, coords={"x": [3]})
    merge_into_file(path, first, None)
    merged = merge_into_file(path, second, None)
    assert merged is not None
    assert list(merged["x"].values) == [1, 2, 3]
    with xr.open_dataset(path, engine="h5netcdf") as on_disk:
        assert list(on_disk["y"].values) == [1.0, 4.0, 9.0]


def test_appending_rows_keeps_the_previous_file_as_a_backup(tmp_path):
    path = tmp_path / "full.pkl"
    append_to_file(path, pd.DataFrame({"x": [1], "y": [1]}))
    whole = append_to_file(path, pd.DataFrame({"x": [2], "y": [4]}))
    assert list(whole["y"]) == [1, 4]
    assert list(pd.read_pickle(path)["y"]) == [1, 4]
    assert (tmp_path / "full.pkl.bak").exists()


def test_concatenating_rows_onto_nothing_gives_a_copy_of_the_new_rows():
    new = pd.DataFrame({"x": [1]})
    rows = concat_rows(None, new)
    assert rows.equals(new) and rows is not new
