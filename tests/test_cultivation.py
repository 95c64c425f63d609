from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.errors import BatchFailedError


def model(n, beta):
    return n * beta, np.arange(3) * beta


OPTS = {"var_dims": {"g": ["k"]}, "var_coords": {"k": range(3)}}


def test_xyzpys_readme_quick_start_runs_unchanged_but_for_the_import():
    # a function returning a one-key dict, with var_names=None
    def foo(x, delta, p, amp=1.0, C=0.0):
        return {"fx": amp * (x - delta) ** p + C}

    ds = xyz.cultivate(
        foo,
        var_names=None,
        data_name="foo.h5",
        combos=dict(x=[-2.0, 0.0, 2.0], p=[1, 2], delta=[0.0, 1.0], C=[-2.0, 1.0], amp=[1.0]),
        verbosity=0,
    )
    assert ds["fx"].dims == ("x", "p", "delta", "C", "amp")
    assert ds["fx"].sel(x=2.0, p=2, delta=1.0, C=1.0, amp=1.0).item() == 2.0


def test_cultivate_grows_only_the_missing_cases_into_the_file():
    ds = xyz.cultivate(
        model,
        var_names=["e", "g"],
        runner_opts=OPTS,
        data_name="c.h5",
        combos={"n": [1, 2], "beta": [0.5]},
        batchsize=1,
        verbosity=0,
    )
    assert ds.sizes["n"] == 2
    ds = xyz.cultivate(
        model,
        var_names=["e", "g"],
        runner_opts=OPTS,
        data_name="c.h5",
        combos={"n": [1, 2, 3], "beta": [0.5, 1.0]},
        batchsize=2,
        verbosity=0,
        num_workers=2,
        num_threads=1,
    )
    reference = xyz.Runner(model, ["e", "g"], **OPTS).run_combos(
        {"n": [1, 2, 3], "beta": [0.5, 1.0]}, verbosity=0
    )
    xr.testing.assert_identical(without_provenance(xyz.load_ds("c.h5")), reference)
    assert not list(xyz.load_crops("."))  # cleaned up


def test_nothing_missing_means_nothing_is_sown():
    h = xyz.Harvester(xyz.Runner(model, ["e", "g"], **OPTS), data_name="c.h5")
    h.cultivate(combos={"n": [1], "beta": [1.0]}, verbosity=0)
    assert h.cultivate(combos={"n": [1], "beta": [1.0]}, verbosity=0) is not None
    assert not list(xyz.load_crops("."))


def flaky(n):
    if n == 2:
        raise ValueError("two")
    return float(n)


def test_on_error_ask_without_a_terminal_reaps_what_succeeded_and_says_so():
    h = xyz.Harvester(xyz.Runner(flaky, "v"), data_name="f.h5")
    with pytest.warns(UserWarning, match="safe action 'reap'"):
        ds = h.cultivate(combos={"n": [1, 2, 3]}, raise_errors=False, verbosity=0)
    assert ds.v.sel(n=1) == 1.0 and ds.v.sel(n=3) == 3.0 and 2 not in ds.n
    crop = xyz.load_crops(".")["flaky"]
    assert crop.status().failed == 1  # kept for inspection


def test_on_error_raise_raises():
    h = xyz.Harvester(xyz.Runner(flaky, "v"), data_name="f.h5")
    with pytest.raises(BatchFailedError):
        h.cultivate(combos={"n": [1, 2, 3]}, on_error="raise", verbosity=0)


def test_on_existing_reap_merges_a_different_old_crop_before_replacing_it():
    h = xyz.Harvester(xyz.Runner(flaky, "v"), data_name="f.h5")
    old = h.Crop(name="flaky")
    old.sow_combos({"n": [10, 11]})
    old.grow(batch_ids=[1], verbosity=0)
    ds = h.cultivate(combos={"n": [1, 3]}, on_existing="reap", verbosity=0)
    assert ds.v.sel(n=10) == 10.0 and ds.v.sel(n=3) == 3.0


def test_an_answer_at_a_terminal_is_used():
    from xyzfarm.cultivation import _decide

    answers = iter(["maybe", "delete"])
    assert _decide("ask", "Existing crop?", ask=lambda prompt: next(answers)) == "delete"
