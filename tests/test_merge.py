from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xyzfarm.errors import (
    CoordinateTypeError,
    DimensionMismatchError,
    InvalidInputError,
    MergeConflictError,
)
from xyzfarm.store.merge import merge_datasets, missing_cases


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


def test_merge_refuses_a_variable_lacking_a_dimension_instead_of_copying_it_over_that_dim():
    old = xr.Dataset({"s": (("x", "k"), np.ones((2, 2)))}, coords={"x": [1, 2], "k": [0, 1]})
    with pytest.raises(DimensionMismatchError, match=r"'s'.*\('x',\).*\('x', 'k'\).*sweep"):
        merge_datasets(old, ds_of([3], [3.0]), None)


def test_merge_refuses_a_variable_with_another_dimension_for_every_overwrite():
    old = xr.Dataset({"s": (("x", "k"), np.ones((2, 2)))}, coords={"x": [1, 2], "k": [0, 1]})
    new = xr.Dataset({"s": (("x", "j"), np.ones((1, 2)))}, coords={"x": [3], "j": [0, 1]})
    for overwrite in (None, True, False):
        with pytest.raises(DimensionMismatchError, match=r"\('x', 'j'\).*\('x', 'k'\)"):
            merge_datasets(old, new, overwrite)


def test_merge_refuses_int_coordinates_into_string_ones_naming_both_dtypes():
    old = ds_of(["a", "b"], [1, 2])
    with pytest.raises(CoordinateTypeError, match=r"'x'.*numeric.*int64.*text"):
        merge_datasets(old, ds_of([1], [3]), None)


def test_merge_refuses_string_coordinates_into_int_ones_even_when_they_read_alike():
    with pytest.raises(CoordinateTypeError, match=r"'x'.*text.*numeric"):
        merge_datasets(ds_of([1, 2], [1, 2]), ds_of(["1"], [3]), True)


def test_merge_accepts_text_read_back_as_objects_and_ints_beside_floats():
    as_objects = np.array(["a", "b"], dtype=object)  # how h5netcdf returns strings
    merged = merge_datasets(ds_of(as_objects, [1, 2]), ds_of(["c"], [3]), None)
    assert list(merged.x.values) == ["a", "b", "c"]
    merged = merge_datasets(ds_of([1.5, 2.5], [1, 2]), ds_of([3], [3]), None)
    assert list(merged.x.values) == [1.5, 2.5, 3]
