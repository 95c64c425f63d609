"""What scripts written for xyzpy get once the import is switched: xyzpy's Dataset, not another.

Each expectation here is what xyzpy 1.3.5 gives for the same calls (checked against it by
``make compat``'s real-usage corpus, ``compat/real_usage``); these tests pin them without
xyzpy installed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import DimensionMismatchError, OutputMismatchError


def energy(n, beta, alpha=1.0):
    return n * beta + alpha


# -- crops: xyzpy's dimension order ------------------------------------------------------------


def test_a_reaped_crop_has_its_swept_dims_in_alphabetical_order_as_xyzpy_sorts_them(tmp_path):
    runner = xyz.Runner(energy, var_names="e")
    crop = runner.Crop(name="order", parent_dir=tmp_path, batchsize=3)
    crop.sow_combos({"n": [1, 2, 3], "beta": [0.5, 1.5]})
    crop.grow(subprocess=False, verbosity=0)
    ds = crop.reap()
    assert ds["e"].dims == ("beta", "n")
    assert ds["e"].values[1, 2] == 3 * 1.5 + 1.0  # .values[i, j] as an xyzpy script indexes it
    # run_combos keeps the given order, as xyzpy's does
    assert runner.run_combos({"n": [1, 2, 3], "beta": [0.5, 1.5]})["e"].dims == ("n", "beta")


def test_a_harvester_crop_writes_its_file_in_xyzpy_s_dim_order(tmp_path):
    h = xyz.Harvester(xyz.Runner(energy, var_names="e"), data_name=tmp_path / "d.h5")
    crop = h.Crop(name="file", parent_dir=tmp_path)
    crop.sow_combos([("n", [1, 2]), ("beta", [0.5])])
    crop.grow(subprocess=False, verbosity=0)
    crop.reap()
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf") as ds:
        assert ds["e"].dims == ("beta", "n")


def test_a_crop_sown_in_the_given_order_by_an_earlier_release_is_found_again(tmp_path):
    from xyzfarm.crop.sow import sow
    from xyzfarm.folder.layout import CropLayout
    from xyzfarm.sweep.assemble import check_schema

    runner = xyz.Runner(energy, var_names="e")
    crop = runner.Crop(name="old", parent_dir=tmp_path, batchsize=2)
    # as the release before sowed it: names in the given order
    sow(
        CropLayout("old", tmp_path),
        fn=energy,
        schema=check_schema("e", None, None),
        combos={"n": [1, 2], "beta": [0.5]},
        batchsize=2,
    )
    crop.sow_combos({"n": [1, 2], "beta": [0.5]})  # the same sweep: no mismatch, no change
    crop.grow(subprocess=False, verbosity=0)
    assert crop.reap()["e"].dims == ("n", "beta")


# -- crops: constants given when sowing ----------------------------------------------------------


class Circuit:
    """An object constant, as a quantum circuit or a model instance would be."""

    def __init__(self, depth):
        self.depth = depth


def depth_energy(n, circuit, label="none"):
    return n * circuit.depth


def test_constants_given_to_sow_combos_reach_the_function_but_are_not_saved_as_attributes(
    tmp_path,
):
    runner = xyz.Runner(depth_energy, var_names="e", constants={"label": "run-1"})
    h = xyz.Harvester(runner, data_name=tmp_path / "d.h5")
    crop = h.Crop(name="consts", parent_dir=tmp_path)
    crop.sow_combos({"n": [1, 2]}, constants={"circuit": Circuit(3)})
    crop.grow(subprocess=True, num_workers=1, verbosity=0)
    crop.reap()
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf") as ds:
        assert ds["e"].values.tolist() == [3, 6]
        assert "circuit" not in ds.attrs  # xyzpy records the Runner's constants only
        assert ds.attrs["label"] == "run-1"


def test_a_sow_constant_that_names_an_output_dimension_is_still_its_coordinate(tmp_path):
    def curve(a, t):
        return a * np.asarray(t)

    runner = xyz.Runner(curve, var_names="y", var_dims={"y": ["t"]})
    crop = runner.Crop(name="curve", parent_dir=tmp_path)
    crop.sow_combos({"a": [1, 2]}, constants={"t": [0.0, 1.0, 2.0]})
    crop.grow(subprocess=False, verbosity=0)
    ds = crop.reap()
    assert ds["t"].values.tolist() == [0.0, 1.0, 2.0] and "t" not in ds.attrs


# -- crops: xyzpy's scheduler-named methods ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "scheduler"),
    [
        ("gen_slurm_script", "slurm"),
        ("gen_sge_script", "sge"),
        ("gen_pbs_script", "pbs"),
        ("gen_qsub_script", "sge"),
    ],
)
def test_xyzpy_s_per_scheduler_script_methods_render_that_scheduler_s_script(
    tmp_path, method, scheduler
):
    crop = xyz.Runner(energy, var_names="e").Crop(name="s", parent_dir=tmp_path)
    crop.sow_combos({"n": [1, 2], "beta": [0.5]})
    script = getattr(crop, method)(minutes=20, gigabytes=2)
    directive = {"slurm": "#SBATCH", "sge": "#$", "pbs": "#PBS"}[scheduler]
    assert directive in script


CUBE = "def cube(x):\n    return x ** 3 * 1.0\n"


@pytest.mark.parametrize(
    ("method", "cluster"), [("qsub_grow", "sge"), ("grow_sge", "sge"), ("grow_slurm", "slurm")]
)
def test_xyzpy_s_grow_methods_submit_to_their_scheduler_and_the_crop_reaps(
    request, user_module, method, cluster
):
    request.getfixturevalue(cluster)  # the local SLURM or Grid Engine that make test starts
    user_module(f"cube_{method}", CUBE)
    cube = __import__(f"cube_{method}").cube
    crop = xyz.Runner(cube, "y").Crop(name=method, batchsize=2)
    crop.sow_combos({"x": [1, 2, 3]})
    job = getattr(crop, method)(minutes=5, gigabytes=1)  # xyzpy's spelling of the request
    assert job.scheduler == cluster
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    assert crop.reap()["y"].values.tolist() == [1.0, 8.0, 27.0]


# -- labelled outputs when var_names is given ----------------------------------------------------


def spectrum(a):
    return xr.DataArray(np.arange(3) * a, dims=["t"], coords={"t": [0, 1, 2]})


def test_a_dataarray_output_under_one_var_name_is_read_as_labelled_data_as_xyzpy_does():
    out = xyz.Runner(spectrum, var_names=["sigma"]).run_combos({"a": [1, 2]})
    assert isinstance(out, xr.DataArray) and out.dims == ("a", "t")
    assert out.values.tolist() == [[0, 1, 2], [0, 2, 4]]
    assert out.name is None  # as xyzpy gives it; a Harvester names it after var_names


def test_a_dataarray_output_under_one_var_name_reaps_from_a_crop(tmp_path):
    crop = xyz.Runner(spectrum, var_names="sigma").Crop(name="da", parent_dir=tmp_path)
    crop.sow_combos({"a": [1, 2, 3]})
    crop.grow([1, 3], subprocess=False, verbosity=0)
    out = crop.reap(allow_incomplete=True, clean_up=False)
    assert out.dims == ("a", "t") and np.isnan(out.values[1]).all()
    crop.grow(subprocess=False, verbosity=0)
    assert crop.reap().values.tolist() == [[0, 1, 2], [0, 2, 4], [0, 3, 6]]


def test_a_dict_output_under_one_var_name_gives_its_own_variables_as_xyzpy_does():
    out = xyz.Runner(lambda a: {"p": a * 1.0}, var_names="p").run_combos({"a": [1, 2]})
    assert out["p"].values.tolist() == [1.0, 2.0]


# -- gaps in bool outputs ----------------------------------------------------------------------


def above(a, b):
    return a > b


def test_a_bool_output_with_gaps_holds_none_there_with_var_names_as_in_xyzpy():
    ds = xyz.case_runner_to_ds(above, ["a", "b"], [(1, 1), (2, 1), (1, 2)], var_names="ok")
    assert ds["ok"].dtype == object
    assert ds["ok"].values.tolist() == [[False, False], [True, None]]


def test_a_bool_output_with_gaps_is_float_with_nan_for_labelled_dicts_as_in_xyzpy():
    def labelled(a, b):
        return {"ok": a > b, "v": a * 1.0}

    ds = xyz.case_runner_to_ds(labelled, ["a", "b"], [(1, 1), (2, 1), (1, 2)], var_names=None)
    assert ds["ok"].dtype == np.float64
    assert np.array_equal(ds["ok"].values, [[0.0, 0.0], [1.0, np.nan]], equal_nan=True)


# -- var_coords taken from an existing DataArray ----------------------------------------------


def test_var_coords_taken_from_a_dataarray_with_text_coordinates_label_the_outputs():
    template = xr.DataArray(
        np.zeros((2, 3)), dims=["k", "s"], coords={"k": [0.5, 1.5], "s": ["x", "y", "z"]}
    )
    runner = xyz.Runner(
        lambda a: np.ones((2, 3)) * a,
        var_names="m",
        var_dims={"m": template.dims},
        var_coords=template.coords,
    )
    ds = runner.run_combos({"a": [1, 2]})
    assert ds["m"].dims == ("a", "k", "s")
    assert ds["s"].values.tolist() == ["x", "y", "z"] and ds["k"].values.tolist() == [0.5, 1.5]


# -- a sweep that does not fit the target file is refused before anything runs ---------------


def test_a_crop_whose_dims_do_not_fit_the_harvester_s_file_is_refused_when_sown(tmp_path):
    h = xyz.Harvester(xyz.Runner(energy, var_names="e"), data_name=tmp_path / "d.h5")
    h.harvest_combos({"n": [1, 2], "beta": [0.1, 0.2]})
    crop = h.Crop(name="wider", parent_dir=tmp_path)
    with pytest.raises(DimensionMismatchError) as err:
        crop.sow_combos({"n": [1, 2], "beta": [0.1], "alpha": [1.0, 2.0]})
    message = str(err.value)
    assert "('alpha', 'beta', 'n')" in message and "('n', 'beta')" in message
    assert "reap(into=" in message and "--into" in message
    assert not (tmp_path / ".xyz-wider").exists()


def test_a_harvest_whose_dims_do_not_fit_the_file_is_refused_before_any_case_runs(tmp_path):
    calls = []

    def counted(n, beta, alpha=1.0):
        calls.append(n)
        return n * beta + alpha

    h = xyz.Harvester(xyz.Runner(counted, var_names="e"), data_name=tmp_path / "d.h5")
    h.harvest_combos({"n": [1], "beta": [0.1]})
    calls.clear()
    with pytest.raises(DimensionMismatchError, match="sweep \\['beta'\\] too"):
        h.harvest_combos({"n": [2, 3]}, constants={"beta": 0.1})
    assert calls == []


# -- notebook habits ------------------------------------------------------------------------


def test_a_function_reading_a_lock_is_refused_at_sowing_naming_the_global(tmp_path):
    lock = threading.Lock()
    namespace = {"LOCK": lock}
    exec("def locked(x):\n    with LOCK:\n        return x\n", namespace)
    crop = xyz.Crop(fn=namespace["locked"], name="locked", parent_dir=tmp_path)
    with pytest.raises(xyz.errors.FunctionPickleError, match="'LOCK'") as err:
        crop.sow_combos({"x": [1, 2]})
    assert isinstance(err.value, TypeError)  # what xyzpy's raw error was
    assert not (tmp_path / ".xyz-locked").exists()


def test_a_closure_over_an_object_holding_an_open_file_is_refused_naming_its_attribute(tmp_path):
    class Model:
        def __init__(self, path: Path) -> None:
            self.scale = 2
            self.log = path.open("w")

    model = Model(tmp_path / "log.txt")
    try:

        def predict(x):
            return x * model.scale

        crop = xyz.Crop(fn=predict, name="model", parent_dir=tmp_path)
        with pytest.raises(xyz.errors.FunctionPickleError, match=r"'model'.*\.log"):
            crop.sow_combos({"x": [1, 2]})
    finally:
        model.log.close()
    assert not (tmp_path / ".xyz-model").exists()


def test_the_manifest_records_the_globals_the_function_reads(tmp_path):
    crop = xyz.Crop(fn=energy, name="g", parent_dir=tmp_path)
    crop.sow_combos({"n": [1], "beta": [1.0]})
    raw = json.loads((tmp_path / ".xyz-g" / "crop.json").read_text())
    assert raw.get("fn_globals", {}) == {}  # a module-level function of an importable module


def test_output_mismatch_with_several_names_and_a_dict_output_is_still_refused_by_name():
    with pytest.raises(OutputMismatchError, match="var_names"):
        xyz.Runner(lambda a: {"x": a, "y": a}, var_names=["x", "y"]).run_combos({"a": [1]})


# -- found by the real-usage corpus (compat/real_usage) ------------------------------------


def test_results_of_a_class_local_to_a_function_come_back_from_worker_processes():
    def make():
        class Result:
            def __init__(self, value):
                self.value = value

        @xyz.label(var_names=["res"])
        def f(x):
            return Result(x * 2.0)

        return f

    ds = make().run_combos({"x": [1, 2]}, parallel=True, num_workers=2, verbosity=0)
    assert [r.value for r in ds["res"].values] == [2.0, 4.0]


def test_a_dataarray_output_keeps_its_attributes_and_gets_the_constants_as_xyzpy_gives_it():
    base = xr.DataArray([1.0, 2.0], dims=["T"], coords={"T": [1000, 2000]})

    def total(sigma_bl, sigma_flow, l_flow):
        out = sigma_flow * l_flow + sigma_bl
        out.attrs = {"units": "S/m"}
        return out

    runner = xyz.Runner(
        total, constants={"sigma_flow": 2.0, "sigma_bl": base}, var_names=["sigma_tot"]
    )
    out = runner.run_combos({"l_flow": [0.0, 0.5]}, verbosity=0)
    assert out.name is None and sorted(out.attrs) == ["sigma_bl", "sigma_flow", "units"]


def test_a_harvester_names_an_unnamed_dataarray_after_its_one_var_name(tmp_path):
    h = xyz.Harvester(xyz.Runner(spectrum, var_names="sigma"), data_name=tmp_path / "d.h5")
    h.harvest_combos({"a": [1, 2]}, verbosity=0)
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf") as ds:
        assert ds["sigma"].dims == ("a", "t")


def test_a_function_given_as_a_constant_is_not_saved_as_an_attribute():
    def helper(x):
        return x

    runner = xyz.Runner(
        lambda a, fn, scale: fn(a) * scale, var_names=["y"], constants={"fn": helper, "scale": 2}
    )
    assert sorted(runner.run_combos({"a": [1, 2]}, verbosity=0).attrs) == ["scale"]


def test_reaping_a_harvester_crop_returns_this_crop_s_data_while_the_file_gets_all(tmp_path):
    h = xyz.Harvester(xyz.Runner(energy, var_names="e"), data_name=tmp_path / "d.h5")
    for i in range(2):
        crop = h.Crop(name=f"run{i}", parent_dir=tmp_path)
        crop.sow_combos([("n", [i]), ("beta", [0.5, 1.0])])
        crop.grow(subprocess=False, verbosity=0)
    reaped = xyz.Crop(name="run1", parent_dir=tmp_path).reap()
    assert dict(reaped.sizes) == {"beta": 2, "n": 1}
    xyz.Crop(name="run0", parent_dir=tmp_path).reap()
    with xr.open_dataset(tmp_path / "d.h5", engine="h5netcdf") as ds:
        assert dict(ds.sizes) == {"beta": 2, "n": 2}


def test_var_coords_given_as_an_object_array_keep_their_dtype_in_runs_and_crops(tmp_path):
    ids = np.array(["W1", "W2"], dtype=object)
    runner = xyz.Runner(
        lambda a: [str(a)] * 2, var_names=["t"], var_dims={"t": ["ID"]}, var_coords={"ID": ids}
    )
    assert runner.run_combos({"a": [1]}, verbosity=0).coords["ID"].dtype == object
    crop = runner.Crop(name="ids", parent_dir=tmp_path)
    crop.sow_combos({"a": [1, 2]})
    crop.grow(subprocess=False, verbosity=0)
    assert crop.reap().coords["ID"].dtype == object


# -- argument forms (the forms probe of scripts/forms_audit.py, pinned here) ------------------


def add(a, b=0):
    return a + b


def test_the_rows_of_a_2d_array_are_cases_as_xyzpy_zips_them_with_fn_args():
    ds = xyz.case_runner_to_ds(add, ["a", "b"], np.array([[1, 10], [2, 20]]), "y", verbosity=0)
    assert float(ds["y"].sel(a=2, b=20)) == 22


def test_a_dataframe_of_cases_runs_one_case_per_row_named_by_its_columns():
    import pandas as pd

    cases = pd.DataFrame({"a": [1, 2], "b": [10, 20]})
    ds = xyz.case_runner_to_ds(add, None, cases, "y", verbosity=0)
    assert float(ds["y"].sel(a=1, b=10)) == 11 and np.isnan(float(ds["y"].sel(a=1, b=20)))


def test_combos_given_as_an_xarray_coordinate_sweep_its_values():
    k = xr.DataArray([0.0, 1.0, 2.0], dims=["k"], coords={"k": [1, 2, 3]})
    ds = xyz.combo_runner_to_ds(add, {"a": k.coords["k"]}, "y", verbosity=0)
    assert ds["y"].values.tolist() == [1, 2, 3]


def test_an_argument_given_twice_is_refused_as_the_value_error_xyzpy_raised():
    with pytest.raises(ValueError, match="given both"):
        xyz.combo_runner_to_ds(add, {"a": [1], "b": [3]}, "y", constants={"b": 5}, verbosity=0)


def test_to_df_gives_one_row_per_case_as_xyzpy():
    df = xyz.combo_runner_to_ds(add, {"a": [1, 2]}, "y", to_df=True, verbosity=0)
    assert df.to_dict("list") == {"a": [1, 2], "y": [1, 2]}
