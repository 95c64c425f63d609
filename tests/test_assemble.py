from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xyzfarm.errors import DuplicateValueError, InvalidInputError, OutputMismatchError
from xyzfarm.sweep.assemble import build_dataset, check_schema, split_outputs


def test_combos_results_are_reshaped_onto_the_grid_with_var_dims_last():
    schema = check_schema(["e", "g"], {"g": ["k"]}, {"k": [0, 1, 2]})
    rows = [(x, y) for x in [1, 2] for y in [10, 20]]
    results = [(x + y, np.full(3, x * y)) for x, y in rows]
    ds = build_dataset(
        results, ("x", "y"), rows, schema, {}, None, grid={"x": [1, 2], "y": [10, 20]}
    )
    assert ds["e"].dims == ("x", "y")
    assert ds["g"].dims == ("x", "y", "k")
    assert ds["e"].sel(x=2, y=10).item() == 12
    assert list(ds["g"].sel(x=2, y=20).values) == [40, 40, 40]
    assert list(ds.k.values) == [0, 1, 2]


def test_cases_that_do_not_fill_the_grid_leave_nan_and_promote_ints():
    schema = check_schema("s", None, None)
    rows = [(1, 2), (3, 4)]
    ds = build_dataset([3, 7], ("x", "y"), rows, schema, {}, None)
    assert ds["s"].dtype == float
    assert ds["s"].sel(x=1, y=2).item() == 3
    assert np.isnan(ds["s"].sel(x=1, y=4).item())


def test_bools_that_do_not_fill_the_grid_become_objects_with_nan_as_in_xarray():
    schema = check_schema("even", None, None)
    rows = [(1, 2), (3, 4)]
    ds = build_dataset([False, True], ("x", "y"), rows, schema, {}, None)
    assert ds["even"].dtype == object
    assert ds["even"].sel(x=1, y=2).item() is False and ds["even"].sel(x=3, y=4).item() is True
    assert ds["even"].isnull().values.tolist() == [[False, True], [True, False]]


def test_cases_that_fill_the_grid_keep_their_dtype():
    schema = check_schema("s", None, None)
    rows = [(1,), (2,)]
    ds = build_dataset([3, 7], ("x",), rows, schema, {}, None)
    assert ds["s"].dtype.kind == "i"


def test_case_coordinates_are_sorted():
    schema = check_schema("s", None, None)
    ds = build_dataset([1, 2, 3], ("x",), [(3,), (1,), (2,)], schema, {}, None)
    assert list(ds.x.values) == [1, 2, 3]
    assert list(ds.s.values) == [2, 3, 1]


def test_constants_naming_a_dimension_become_its_coordinate_and_others_attrs():
    schema = check_schema(["g"], {"g": ["t"]}, None)
    rows = [(1,), (2,)]
    consts = {"t": [0.0, 0.5], "method": "exact"}
    ds = build_dataset(
        [np.ones(2), np.zeros(2)], ("x",), rows, schema, consts, {"who": "me"}, grid={"x": [1, 2]}
    )
    assert list(ds.t.values) == [0.0, 0.5]
    assert ds.attrs == {"method": "exact", "who": "me"}


def test_a_result_with_the_wrong_number_of_outputs_names_the_case():
    with pytest.raises(OutputMismatchError, match=r"\{x=2\}.*tuple of 2"):
        split_outputs([(1, 2), 3], ("a", "b"), ("x",), [(1,), (2,)])


def test_an_array_of_the_wrong_shape_names_the_case_and_the_expected_shape():
    schema = check_schema(["g"], {"g": ["k"]}, {"k": range(3)})
    with pytest.raises(OutputMismatchError, match=r"\{x=2\}.*\(2,\).*\(3,\)"):
        build_dataset([np.ones(3), np.ones(2)], ("x",), [(1,), (2,)], schema, {}, None)


def test_an_array_for_a_scalar_output_is_refused():
    schema = check_schema(["e"], None, None)
    with pytest.raises(OutputMismatchError, match="scalar"):
        build_dataset([np.ones(3), np.ones(3)], ("x",), [(1,), (2,)], schema, {}, None)


def test_dict_outputs_become_variables():
    schema = check_schema(None, None, None)
    ds = build_dataset(
        [{"a": 1, "b": 2.0}, {"a": 3, "b": 4.0}],
        ("x",),
        [(1,), (2,)],
        schema,
        {},
        None,
        grid={"x": [1, 2]},
    )
    assert set(ds.data_vars) == {"a", "b"}
    assert list(ds.a.values) == [1, 3]


@pytest.mark.parametrize("grid", [{"x": [1, 2]}, None], ids=["combos", "cases"])
def test_a_dict_output_with_one_key_becomes_one_scalar_variable(grid):
    schema = check_schema(None, None, None)
    ds = build_dataset([{"fx": 1.5}, {"fx": 2.5}], ("x",), [(1,), (2,)], schema, {}, None, grid)
    assert list(ds.data_vars) == ["fx"]
    assert ds["fx"].dims == ("x",) and ds["fx"].values.tolist() == [1.5, 2.5]


def test_a_dict_output_with_one_array_key_keeps_its_var_dims():
    schema = check_schema(None, {"fx": ["t"]}, {"t": [0, 1, 2]})
    results = [{"fx": np.arange(3) * x} for x in (1, 2)]
    ds = build_dataset(results, ("x",), [(1,), (2,)], schema, {}, None, grid={"x": [1, 2]})
    assert ds["fx"].dims == ("x", "t") and ds["fx"].sel(x=2).values.tolist() == [0, 2, 4]


def test_a_dict_output_may_give_an_array_as_xarrays_dims_and_data_pair():
    schema = check_schema(None, None, None)
    results = [{"sum": x + 1, "long": (("i",), np.linspace(x, 9, 4))} for x in (1, 2)]
    ds = build_dataset(results, ("x",), [(1,), (2,)], schema, {}, None, grid={"x": [1, 2]})
    assert ds["long"].dims == ("x", "i") and ds["long"].sel(x=2).values[0] == 2.0
    assert ds["sum"].dims == ("x",)


def test_dict_outputs_with_different_keys_are_refused():
    schema = check_schema(None, None, None)
    with pytest.raises(OutputMismatchError, match="same keys"):
        build_dataset([{"a": 1}, {"b": 2}], ("x",), [(1,), (2,)], schema, {}, None)


def test_dataset_outputs_are_stacked_along_the_swept_arguments():
    schema = check_schema(None, None, None)
    results = [xr.Dataset({"q": ("t", np.arange(2) * x)}, coords={"t": [5, 6]}) for x in (1, 2, 3)]
    ds = build_dataset(results, ("x",), [(1,), (2,), (3,)], schema, {}, None)
    assert ds.q.dims == ("x", "t")
    assert ds.q.sel(x=3, t=6).item() == 3


def test_an_unnamed_dataarray_output_is_refused():
    schema = check_schema(None, None, None)
    with pytest.raises(OutputMismatchError, match="unnamed"):
        build_dataset([xr.DataArray(1.0)], ("x",), [(1,)], schema, {}, None)


def test_schema_refuses_var_dims_for_unknown_outputs_and_repeated_coords():
    with pytest.raises(InvalidInputError, match="'z'"):
        check_schema(["a"], {"z": ["k"]}, None)
    with pytest.raises(DuplicateValueError, match="'k'"):
        check_schema(["a"], {"a": ["k"]}, {"k": [1, 1]})
    with pytest.raises(InvalidInputError, match="repeat"):
        check_schema(["a", "a"], None, None)


# -- property-based: a labelled run gives a correct Dataset or a typed error, writes nothing -----

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import xyzfarm as xyz  # noqa: E402
from xyzfarm.errors import XyzfarmError  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(
    var_names=st.one_of(
        st.none(),
        st.text(min_size=1, max_size=3),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    ),
    var_dims=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["a", "b", "z"]), st.sampled_from(["k", ("k",), ("k", "j")]), max_size=2
        ),
    ),
    var_coords=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["k", "j"]), st.lists(st.integers(0, 3), max_size=3), max_size=2
        ),
    ),
    shape=st.sampled_from([(), (2,), (3,), (2, 2)]),
)
def test_any_output_description_gives_a_dataset_or_a_typed_error(
    var_names, var_dims, var_coords, shape
):
    import os

    names = [var_names] if isinstance(var_names, str) else list(var_names or [])

    def fn(x):
        value = np.full(shape, float(x)) if shape else float(x)
        return tuple(value for _ in names) if len(names) > 1 else value

    try:
        runner = xyz.Runner(fn, var_names, var_dims=var_dims, var_coords=var_coords)
        ds = runner.run_combos({"x": [1, 2]}, verbosity=0)
    except XyzfarmError as exc:
        assert isinstance(exc, (TypeError, ValueError)) and str(exc)
        return
    finally:
        assert os.listdir(".") == []  # nothing is ever written by a run
    for name in names:
        assert ds[name].dims[0] == "x"
        assert ds[name].sel(x=2).values.flat[0] == 2.0


def test_a_grid_filled_batch_by_batch_equals_the_dataset_built_at_once():
    from xyzfarm.sweep.assemble import GridFiller

    schema = check_schema(["s", "v"], {"v": ["k"]}, {"k": [0, 1]})
    grid = {"x": [1, 2, 3], "y": [10, 20]}
    rows = [(x, y) for x in grid["x"] for y in grid["y"]]
    results = [(x + y, np.array([x, y])) for x, y in rows]
    filler = GridFiller(grid, schema, {})
    filler.add(range(3, 6), results[3:])  # any order, batch by batch
    filler.add(range(0, 3), results[:3])
    xr.testing.assert_identical(
        filler.dataset(None), build_dataset(results, ("x", "y"), rows, schema, {}, None, grid)
    )


def test_a_partly_filled_grid_holds_nan_and_a_bad_batch_names_its_case():
    from xyzfarm.sweep.assemble import GridFiller

    schema = check_schema(["s"], None, None)
    filler = GridFiller({"x": [1, 2, 3]}, schema, {})
    filler.add([0, 2], [5, 7])
    assert np.isnan(filler.dataset(None).s.sel(x=2).item())
    with pytest.raises(OutputMismatchError, match=r"\{x=2\}"):
        filler.add([1], [np.ones(3)])


def test_a_later_batch_whose_outputs_changed_shape_names_its_case_and_both_shapes():
    from xyzfarm.sweep.assemble import GridFiller

    schema = check_schema(["v"], {"v": ["k"]}, None)  # no coordinates: any consistent length
    filler = GridFiller({"x": [1, 2, 3], "y": ["a", "b"]}, schema, {})
    filler.add([0, 1], [np.zeros(2), np.zeros(2)])
    with pytest.raises(OutputMismatchError, match=r"'v'.*\{x=2, y='b'\}.*\(3,\).*\(2,\)"):
        filler.add([3, 4], [np.zeros(3), np.zeros(3)])


def test_outputs_that_change_shape_across_cases_name_the_case_when_built_at_once():
    schema = check_schema(["v"], {"v": ["k"]}, None)
    rows = [(1,), (2,), (3,)]
    results = [np.zeros(2), np.zeros(2), np.zeros((3,))]
    with pytest.raises(OutputMismatchError, match=r"\{x=3\}.*\(3,\)"):
        build_dataset(results, ("x",), rows, schema, {}, None, {"x": [1, 2, 3]})
    with pytest.raises(OutputMismatchError, match=r"\{x=3\}.*\(3,\)"):
        build_dataset(results, ("x",), rows, schema, {}, None)


def test_var_dims_in_xyzpys_tuple_key_and_list_forms():
    from xyzfarm.sweep.assemble import check_schema

    assert check_schema(["x", "y"], {("x", "y"): "t"}, None).var_dims == {"x": ("t",), "y": ("t",)}
    assert check_schema(["x"], ["t"], None).var_dims == {"x": ("t",)}
    assert check_schema(["x", "y"], [["t"], []], None).var_dims == {"x": ("t",), "y": ()}
