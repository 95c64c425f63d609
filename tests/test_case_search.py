from __future__ import annotations

import numpy as np
import xarray as xr

import xyzfarm as xyz


def test_parse_into_cases_combines_cases_with_every_combo():
    cases = xyz.parse_into_cases(combos={"x": [1, 2]}, cases=[{"y": 0}])
    assert cases == [{"y": 0, "x": 1}, {"y": 0, "x": 2}]


def test_only_cases_without_any_data_are_missing():
    ds = xr.Dataset(
        {"v": (("a", "t"), [[1.0, np.nan], [np.nan, np.nan]])}, coords={"a": [1, 2], "t": [0, 1]}
    )
    assert xyz.find_missing_cases(ds, ignore_dims="t") == [{"a": 2}]
    assert xyz.parse_into_cases(combos={"a": [1, 2, 3]}, ds=ds) == [{"a": 2}, {"a": 3}]
    assert xyz.is_case_missing(ds, {"a": 2}) and not xyz.is_case_missing(ds, {"a": 1})
    assert xyz.is_case_missing(ds, {"a": 9})
