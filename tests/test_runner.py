from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import (
    ComboValueError,
    InvalidInputError,
    MissingArgumentError,
    OutputMismatchError,
    UnknownArgumentError,
)


@xyz.label(var_names=["sum", "diff"])
def foo(x, y):
    return x + y, x - y


@xyz.label(
    var_names=["energy", "gap"],
    var_dims={"gap": ["k"]},
    var_coords={"k": range(3)},
    constants={"scale": 2.0},
    resources={"big": np.ones(10)},
    attrs={"model": "toy"},
)
def model(n, beta, scale, big, seed=0):
    return scale * n * beta + seed, np.arange(3) * beta + big[0]


def test_a_labelled_function_is_still_callable_like_the_plain_function():
    assert foo(1, 2) == (3, -1)
    assert foo.__name__ == "foo"


def test_repr_shows_the_function_and_its_outputs():
    text = repr(model)
    assert text.startswith("<xyzfarm.Runner>")
    assert "var_names: ('energy', 'gap')" in text
    assert "constants: ['scale']" in text
    assert "resources: ['big']" in text


def test_run_combos_labels_every_output_over_the_grid():
    ds = foo.run_combos({"x": [1, 2], "y": [10, 20, 30]}, verbosity=0)
    assert isinstance(ds, xr.Dataset)
    assert ds["sum"].dims == ("x", "y")
    assert ds["diff"].sel(x=2, y=30).item() == -28
    assert foo.last_ds is ds


def test_constants_become_attrs_resources_are_not_saved_and_var_coords_are_kept():
    ds = model.run_combos({"n": [1, 2], "beta": [0.5]}, verbosity=0)
    assert ds.attrs == {"scale": 2.0, "model": "toy"}
    assert "big" not in ds.attrs and "big" not in ds.coords
    assert list(ds.k.values) == [0, 1, 2]
    assert ds["energy"].sel(n=2, beta=0.5).item() == 2.0
    assert ds["gap"].dims == ("n", "beta", "k")


def test_run_constants_override_stored_constants_for_that_run_only():
    ds = model.run_combos({"n": [1], "beta": [1.0]}, constants={"scale": 10.0}, verbosity=0)
    assert ds["energy"].item() == 10.0
    assert model.constants == {"scale": 2.0}


def test_a_constant_used_as_a_var_dim_becomes_a_coordinate():
    r = xyz.Runner(
        lambda x, t: x * np.asarray(t), "v", var_dims={"v": ["t"]}, constants={"t": [0, 1, 2]}
    )
    ds = r.run_combos({"x": [1, 2]}, verbosity=0)
    assert ds.v.dims == ("x", "t")
    assert list(ds.t.values) == [0, 1, 2]
    assert "t" not in ds.attrs


def test_run_cases_fills_the_grid_of_case_values_with_nan():
    ds = foo.run_cases([(1, 10), (2, 20), (3, 10)], verbosity=0)
    assert list(ds.x.values) == [1, 2, 3]
    assert list(ds.y.values) == [10, 20]
    assert np.isnan(ds["sum"].sel(x=1, y=20).item())
    assert ds["sum"].sel(x=3, y=10).item() == 13


def test_run_cases_accepts_dicts_and_explicit_fn_args():
    ds = foo.run_cases([{"y": 1, "x": 2}], verbosity=0)
    assert ds["sum"].dims == ("y", "x")
    ds = foo.run_cases([(1, 2)], fn_args=["y", "x"], verbosity=0)
    assert ds["diff"].sel(x=2, y=1).item() == 1


def test_run_combos_with_cases_runs_every_case_with_every_combo():
    ds = foo.run_combos({"y": [1, 2]}, cases=[{"x": 10}, {"x": 20}], verbosity=0)
    assert ds["sum"].dims == ("x", "y")
    assert ds["sum"].sel(x=20, y=2).item() == 22


def test_var_names_none_accepts_functions_returning_dicts():
    r = xyz.Runner(lambda x: {"a": x, "b": -x}, var_names=None)
    ds = r.run_combos({"x": [1, 2]}, verbosity=0)
    assert list(ds.b.values) == [-1, -2]


def test_var_names_none_accepts_functions_returning_datasets():
    def fn(x):
        return xr.Dataset({"q": ("t", np.arange(3) * x)}, coords={"t": [0, 1, 2]})

    ds = xyz.Runner(fn, var_names=None).run_combos({"x": [1, 2]}, verbosity=0)
    assert ds.q.dims == ("x", "t")
    assert ds.q.sel(x=2, t=2).item() == 4


def test_var_names_none_with_dataarrays_gives_a_dataarray_as_xyzpy_does():
    def fn(x):
        return xr.DataArray(x * 2.0, name="twice")

    da = xyz.Runner(fn, var_names=None).run_combos({"x": [1, 2]}, verbosity=0)
    assert isinstance(da, xr.DataArray) and da.name == "twice"


def test_a_single_string_var_name_takes_the_bare_return_value():
    ds = xyz.Runner(lambda x: x * 2, "double").run_combos({"x": [1, 2]}, verbosity=0)
    assert list(ds.double.values) == [2, 4]


def test_an_unknown_argument_is_refused_before_anything_runs():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    with pytest.raises(UnknownArgumentError, match="'xx'"):
        xyz.Runner(fn, "v").run_combos({"xx": [1]}, verbosity=0)
    assert calls == []


def test_a_missing_argument_is_refused_naming_it():
    with pytest.raises(MissingArgumentError, match="'y'"):
        foo.run_combos({"x": [1]}, verbosity=0)


def test_a_scalar_combo_is_refused_with_a_typed_error():
    with pytest.raises(ComboValueError):
        foo.run_combos({"x": 1, "y": [1]}, verbosity=0)


def test_outputs_that_do_not_match_var_names_name_the_case():
    r = xyz.Runner(lambda x: (x, x, x), ["a", "b"])
    with pytest.raises(OutputMismatchError, match=r"x=1"):
        r.run_combos({"x": [1]}, verbosity=0)


def test_an_unknown_runner_setting_is_refused():
    with pytest.raises(InvalidInputError, match="paralel"):
        foo.run_combos({"x": [1], "y": [1]}, paralel=True)


def test_parallel_runs_give_the_same_dataset_as_serial_ones():
    combos = {"n": [1, 2, 3], "beta": [0.1, 0.2]}
    serial = model.run_combos(combos, verbosity=0)
    with cf.ThreadPoolExecutor(2) as ex:
        threaded = model.run_combos(combos, executor=ex, verbosity=0)
    pooled = model.run_combos(combos, num_workers=2, verbosity=0)
    xr.testing.assert_identical(serial, threaded)
    xr.testing.assert_identical(serial, pooled)


def test_shuffled_runs_put_results_back_in_place():
    ds = foo.run_combos({"x": range(20), "y": range(5)}, shuffle=3, verbosity=0)
    xr.testing.assert_identical(ds, foo.run_combos({"x": range(20), "y": range(5)}, verbosity=0))


def test_default_runner_settings_apply_to_every_run(capsys):
    r = xyz.Runner(lambda x: x, "v", verbosity=0)
    r.run_combos({"x": range(100)})
    assert capsys.readouterr().err == ""


def test_label_can_make_a_harvester_or_a_sampler():
    h = xyz.label("v", harvester="data.h5")(lambda x: x)
    assert isinstance(h, xyz.Harvester) and h.data_name == "data.h5"
    s = xyz.label("v", sampler=True, engine="csv")(lambda x: x)
    assert isinstance(s, xyz.Sampler) and s.engine == "csv"
    with pytest.raises(InvalidInputError):
        xyz.label("v", harvester=True, sampler=True)(lambda x: x)


def test_setting_described_attributes_validates_them():
    r = xyz.Runner(lambda x: x, "v")
    r.var_names = ["w"]
    assert r.var_dims == {"w": ()}
    with pytest.raises(InvalidInputError):
        r.var_dims = {"nope": ["k"]}
    r.fn_args = "x"
    assert r.fn_args == ("x",)


def test_runner_properties_set_one_at_a_time_and_read_none_once_deleted():
    from xyzfarm import Runner

    r = Runner(lambda a: (a, [a] * 2), ["x", "arr"], var_dims={"arr": ["t"]}, constants={"c": 1})
    r.var_names = ["s", "e"]  # var_dims still names 'arr': checked only when used
    r.var_names = ["x", "arr"]
    for prop in ("var_dims", "var_coords", "constants", "resources"):
        delattr(r, prop)
        assert getattr(r, prop) is None
