"""scripts/compat_real.py: how `make compat` compares real xyzpy usage run with both libraries.

The runs themselves need xyzpy 1.3.5's venv (`make compat`); these tests check the comparison,
the canonical form both runs are reduced to, and the harnesses' own descriptions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import compat_docs  # noqa: E402
import compat_real  # noqa: E402
import compat_real_driver as driver  # noqa: E402


def ds() -> xr.Dataset:
    return xr.Dataset(
        {"x": (("a", "b"), np.arange(6.0).reshape(2, 3)), "s": ("a", ["u", "v"])},
        coords={"a": [1, 2], "b": ["p", "q", "r"]},
        attrs={"k": 1.5},
    )


def differences(a: object, b: object) -> list[str]:
    return compat_real.diff(driver.canon(a), driver.canon(b), "R")


def test_identical_results_do_not_differ_and_nan_equals_nan():
    data = ds()
    data["x"][0, 0] = np.nan
    assert differences(data, data.copy(deep=True)) == []
    assert differences({"v": float("nan")}, {"v": float("nan")}) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.transpose("b", "a"), "dims"),
        (lambda d: d.isel(a=[1, 0]), "coords['a'].values"),
        (lambda d: d.assign_coords(b=np.array(["p", "q", "r"], dtype=object)), "dtype"),
        (lambda d: d.assign_attrs(k=2.5), "attrs"),
        (lambda d: d.drop_vars("s"), "data_vars"),
        (lambda d: d.assign(x=d["x"] * (1 + 1e-6)), "values"),
    ],
)
def test_each_kind_of_difference_is_named(change, expected):
    found = differences(ds(), change(ds()))
    assert found and any(expected in line for line in found), found


def test_the_order_of_coordinates_and_attributes_in_their_mappings_is_not_a_difference():
    data = ds()
    reordered = xr.Dataset(
        {"s": data["s"], "x": data["x"]},
        coords={"b": data["b"], "a": data["a"]},
        attrs=dict(data.attrs),
    )
    assert differences(data, reordered) == []
    assert differences({"p": 1, "q": 2}, {"q": 2, "p": 1}) == []


def test_objects_are_compared_by_class_and_fields_functions_by_name():
    class Fit:
        def __init__(self, chisqr):
            self.chisqr = chisqr

    assert differences([Fit(1.0)], [Fit(1.0)]) == []
    assert differences([Fit(1.0)], [Fit(2.0)])
    assert differences({"f": len}, {"f": len}) == []
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert differences(frame, frame.astype({"a": float}))


def output(raised: str | None = None, mro: tuple[str, ...] = (), **results: object) -> dict:
    return {
        "raised": None
        if raised is None
        else {"type": raised, "mro": list(mro) or [raised], "message": "m", "traceback": ""},
        "results": {k: driver.canon(v) for k, v in results.items()},
        "files": {},
    }


def test_an_xyzfarm_error_deriving_from_xyzpys_counts_as_the_same():
    verdict, details = compat_real.compare(
        output("ValueError"), output("OutputMismatchError", ("OutputMismatchError", "ValueError"))
    )
    assert verdict == "same" and "both raised ValueError" in details[0]
    assert compat_real.compare(output("ValueError"), output("KeyError"))[0] == "differs"
    assert compat_real.compare(output(ds=ds()), output("KeyError"))[0] == "xyzfarm raised"
    assert compat_real.compare(output("KeyError"), output(ds=ds()))[0] == "differs"


def test_a_deliberate_harness_that_comes_out_the_same_fails(monkeypatch):
    monkeypatch.setitem(compat_real.DELIBERATE, "h", "on purpose")
    same = compat_real.Run("ok", output(ds=ds()))
    outcome = compat_real.judge("h", "src", {"xyzpy": same, "xyzfarm": same})
    assert outcome.verdict == "differs" and "DELIBERATE" in outcome.detail
    other = compat_real.Run("ok", output(ds=ds().isel(a=[1, 0])))
    assert compat_real.judge("h", "src", {"xyzpy": same, "xyzfarm": other}).verdict == (
        "deliberate"
    )


def test_a_harness_xyzpy_could_not_run_is_not_compared():
    broken = compat_real.Run("crashed", None, 0.0, "Traceback ...")
    fine = compat_real.Run("ok", output(ds=ds()))
    outcome = compat_real.judge("h", "src", {"xyzpy": broken, "xyzfarm": fine})
    assert outcome.verdict == "error"
    assert compat_real.report([outcome]) == 2


HARNESSES = compat_real.harnesses()


def test_there_is_a_corpus_of_real_usage():
    sources = {compat_real.describe(p)["source"] for p in HARNESSES}
    assert len(HARNESSES) >= 15 and len(sources) >= 8


@pytest.mark.parametrize("path", HARNESSES, ids=[p.stem for p in HARNESSES])
def test_each_harness_names_its_source_and_sets_results(path):
    info = compat_real.describe(path)
    assert {"source", "path", "exercises", "stand-in"} <= set(info), info
    assert info["source"].count("/") == 1
    text = path.read_text()
    assert "RESULTS" in text
    rewritten = compat_docs.rewrite_cell(text, path.name)  # raises on an import it misses
    assert "import xyzfarm" in rewritten
