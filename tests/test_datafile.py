from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xyzfarm.datafile import load_df, load_ds, save_df, save_ds
from xyzfarm.errors import DataFileError, EngineError


def make_ds() -> xr.Dataset:
    return xr.Dataset(
        {
            "v": (("x",), np.arange(3.0)),
            "c": (("x",), np.arange(3) * 1j),
            "b": (("x",), [True, False, True]),
        },
        coords={"x": [1, 2, 3]},
        attrs={"none": None, "flag": True, "n": 3},
    )


def test_save_ds_writes_exactly_the_name_given_and_load_reads_it_back():
    ds = make_ds()
    save_ds(ds, "data")
    assert Path("data").is_file() and not Path("data.h5").exists()
    back = load_ds("data")
    np.testing.assert_array_equal(back.v.values, ds.v.values)
    np.testing.assert_array_equal(back.c.values, ds.c.values)


def test_save_ds_does_not_change_the_callers_attrs():
    ds = make_ds()
    save_ds(ds, "data.h5")
    assert ds.attrs["none"] is None and ds.attrs["flag"] is True
    assert load_ds("data.h5").attrs["flag"] == "True"


def test_load_ds_finds_a_file_written_by_xyzpy_under_its_extended_name():
    save_ds(make_ds(), "old.h5")
    with pytest.warns(UserWarning, match="xyzpy"):
        back = load_ds("old")
    assert back.sizes["x"] == 3


def test_load_ds_of_a_missing_file_raises_or_gives_an_empty_dataset():
    with pytest.raises(FileNotFoundError):
        load_ds("nothing.h5")
    assert len(load_ds("nothing.h5", create_new=True).data_vars) == 0


def test_a_truncated_file_is_reported_with_its_name():
    save_ds(make_ds(), "data.h5")
    raw = Path("data.h5").read_bytes()
    Path("data.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match=r"data\.h5"):
        load_ds("data.h5")


def test_an_unknown_engine_is_refused():
    with pytest.raises(EngineError, match="zarr"):
        save_ds(make_ds(), "d", engine="zarr")


def test_a_failed_save_leaves_the_old_file_and_no_temporary_file():
    save_ds(make_ds(), "data.h5")
    before = Path("data.h5").read_bytes()
    bad = make_ds().assign(o=("x", np.array([object(), object(), object()], dtype=object)))
    with pytest.raises(Exception):
        save_ds(bad, "data.h5")
    assert Path("data.h5").read_bytes() == before
    assert sorted(p.name for p in Path(".").iterdir()) == ["data.h5"]


@pytest.mark.parametrize("engine", ["pickle", "csv", "json"])
def test_dataframes_round_trip_through_each_engine(engine):
    df = pd.DataFrame({"x": [1, 2], "y": [0.5, 1.5]})
    save_df(df, f"t.{engine}", engine=engine)
    pd.testing.assert_frame_equal(load_df(f"t.{engine}", engine=engine), df, check_dtype=False)


def test_an_unknown_dataframe_engine_is_refused():
    with pytest.raises(EngineError):
        save_df(pd.DataFrame(), "t", engine="excel")
