from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xyzfarm.errors import InvalidInputError, MergeConflictError
from xyzfarm.merge import merge_datasets, missing_cases


def ds_of(xs, values, name="s"):
    return xr.Dataset({name: ("x", np.asarray(values, dtype=float))}, coords={"x": xs})


def test_merging_into_nothing_gives_the_new_data():
    new = ds_of([1], [1.0])
    xr.testing.assert_identical(merge_datasets(None, new, None), new)


def test_overwrite_none_merges_and_nan_never_conflicts():
    old = ds_of([1, 2], [10, np.nan])
    new = ds_of([2, 3], [20, 30])
    merged = merge_datasets(old, new, None)
    assert list(merged.s.values) == [10, 20, 30]


def test_overwrite_none_raises_on_conflict_naming_the_point_and_values():
    with pytest.raises(MergeConflictError, match=r"'s'.*\{'x': 2\}.*11.*99"):
        merge_datasets(ds_of([1, 2], [10, 11]), ds_of([2], [99]), None)


def test_overwrite_true_keeps_new_values_and_false_keeps_old_ones():
    old, new = ds_of([1, 2], [11, 12]), ds_of([2, 3], [112, 113])
    assert list(merge_datasets(old, new, True).s.values) == [11, 112, 113]
    assert list(merge_datasets(old, new, False).s.values) == [11, 12, 113]


def test_overwrite_must_be_none_true_or_false():
    with pytest.raises(InvalidInputError):
        merge_datasets(ds_of([1], [1]), ds_of([1], [1]), "yes")  # type: ignore[arg-type]


def full():
    return xr.Dataset(
        {
            "e": (("x", "y"), [[1.0, np.nan], [np.nan, np.nan]]),
            "g": (("x", "y", "k"), [[[1, 1], [np.nan, 2]], [[np.nan, np.nan], [np.nan, np.nan]]]),
        },
        coords={"x": [1, 2], "y": [10, 20], "k": [0, 1]},
    )


def test_a_case_is_missing_when_absent_or_when_every_value_is_missing():
    rows = [(1, 10), (1, 20), (2, 10), (3, 10)]
    todo = missing_cases(full(), ("x", "y"), rows, {"g": ("k",)})
    # (1, 10) has values; (1, 20) has one value of g; (2, 10) has none; x=3 is absent
    assert todo == [(2, 10), (3, 10)]


def test_every_case_is_missing_from_an_empty_dataset():
    assert missing_cases(None, ("x",), [(1,), (2,)], {}) == [(1,), (2,)]


def test_a_swept_argument_the_file_does_not_have_makes_every_case_missing():
    assert missing_cases(full(), ("x", "y", "z"), [(1, 10, 0)], {"g": ("k",)}) == [(1, 10, 0)]


def test_a_file_dimension_the_sweep_does_not_give_is_refused():
    with pytest.raises(InvalidInputError, match="'k'"):
        missing_cases(full(), ("x", "y"), [(1, 10)], {})
