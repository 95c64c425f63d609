from __future__ import annotations

import pytest

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.sweep.run import as_mapping, check_settings


def foo(x, y):
    return x + y, x - y


def test_combo_runner_returns_nested_tuples_as_xyzpy_and_can_split_or_flatten():
    f = foo
    assert xyz.combo_runner(f, {"x": [1, 2], "y": [10, 20]}, verbosity=0) == (
        ((11, -9), (21, -19)),
        ((12, -8), (22, -18)),
    )
    sums, _ = xyz.combo_runner(f, {"x": [1, 2], "y": [10, 20]}, split=True, verbosity=0)
    assert sums == ((11, 21), (12, 22))
    flat = xyz.combo_runner(f, {"x": [1, 2], "y": [10]}, flat=True, verbosity=0)
    assert flat == ((11, -9), (12, -8))


def test_combo_runner_with_cases_nests_the_dense_grid_as_tuples_with_nan_where_uncovered():
    # xyzpy's documented example (combo_runner's docstring): cases x combos, missing elsewhere
    # (None for string results, as xyzpy's code gives, though its docstring shows nan)
    res = xyz.combo_runner(
        lambda a, b, c: f"{a}{b}{c}",
        cases=[{"a": 1, "b": 3}, {"a": 2, "b": 4}],
        combos={"c": [5, 6]},
        verbosity=0,
    )
    assert isinstance(res, tuple) and isinstance(res[0][0], tuple)
    assert res[0][0] == ("135", "136") and res[1][1] == ("245", "246")
    assert res[0][1] == res[1][0] == (None, None)


def test_case_runner_returns_a_flat_tuple_in_case_order():
    assert xyz.case_runner(lambda a, b: a + b, ("a", "b"), [(1, 2), (3, 4)], verbosity=0) == (3, 7)


def test_module_level_runners_to_ds_label_results():
    ds = xyz.combo_runner_to_ds(foo, {"x": [1]}, ["sum", "diff"], constants={"y": 2}, verbosity=0)
    assert ds["sum"].item() == 3 and ds.attrs["y"] == 2
    ds = xyz.case_runner_to_ds(foo, ("x", "y"), [(1, 2)], ["sum", "diff"], verbosity=0)
    assert ds["diff"].item() == -1


def test_unknown_settings_and_non_mappings_are_refused_naming_them():
    with pytest.raises(InvalidInputError, match="paralel"):
        check_settings({"paralel": True})
    with pytest.raises(InvalidInputError, match="constants"):
        as_mapping(3, "constants")


def test_combo_runner_with_cases_returns_the_dense_grid_with_nan_where_no_case_ran():
    import numpy as np

    from xyzfarm import combo_runner

    out = combo_runner(
        lambda a, b, c: a + b + c,
        {"c": [100]},
        cases=[{"a": 2, "b": 10}, {"a": 1, "b": 20}],
        verbosity=0,
    )
    arr = np.array(out, dtype=float)
    assert arr.shape == (2, 2, 1)
    assert arr[1, 0, 0] == 112 and arr[0, 1, 0] == 121 and np.isnan(arr[0, 0, 0])
