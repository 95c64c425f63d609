from __future__ import annotations

import os

import pytest

from xyzfarm.crop.sow import batch_bounds, plan_batches, sow
from xyzfarm.errors import CropMismatchError, InvalidInputError, UnknownArgumentError
from xyzfarm.folder import records
from xyzfarm.folder.layout import CropLayout
from xyzfarm.sweep.assemble import check_schema


def fn(x, y):
    return x + y


SCHEMA = check_schema("s", None, None)


def sow_xy(layout, **kw):
    return sow(layout, fn=fn, schema=SCHEMA, combos={"x": range(10), "y": [1, 2]}, **kw)


def test_batches_split_cases_as_evenly_as_possible():
    assert plan_batches(10, batchsize=3) == 4
    assert plan_batches(10, num_batches=3) == 3
    assert plan_batches(2, num_batches=5) == 2
    sizes = [batch_bounds(10, 4, b)[1] - batch_bounds(10, 4, b)[0] for b in range(1, 5)]
    assert sizes == [3, 3, 2, 2]
    assert batch_bounds(10, 4, 1)[0] == 0 and batch_bounds(10, 4, 4)[1] == 10


@pytest.mark.parametrize(
    "kw", [{"batchsize": 0}, {"num_batches": -1}, {"batchsize": 2, "num_batches": 2}]
)
def test_bad_batch_settings_are_refused(kw):
    with pytest.raises(InvalidInputError):
        plan_batches(10, **kw)


def test_sowing_writes_a_manifest_and_one_indexed_file_of_cases():
    layout = CropLayout("c")
    sown = sow_xy(layout, batchsize=3)
    assert sown.plan.num_batches == 7
    assert sown.arg_names == ("x", "y")
    first = records.IndexedReader(layout.cases, layout.cases_index, sowing=sown.sowing_id).get(0)
    assert list(first["indices"]) == [0, 1, 2]
    assert first["rows"] == [(0, 1), (0, 2), (1, 1)]
    # inputs do not cost a file per case or per batch
    assert sorted(os.listdir(layout.root)) == sorted(
        [
            "crop.json",
            "function.pkl",
            "cases.bin",
            "cases.idx",
            "results",
            "partial",
            "failed",
        ]
    )


def test_sowing_the_same_sweep_again_changes_nothing():
    layout = CropLayout("c")
    first = sow_xy(layout, batchsize=3)
    (layout.folder("results") / "grower.log").write_bytes(b"keep me")
    assert sow_xy(layout, batchsize=3) == first
    assert (layout.folder("results") / "grower.log").read_bytes() == b"keep me"


def test_sowing_a_different_case_list_under_the_same_name_is_refused():
    layout = CropLayout("c")
    sow_xy(layout, batchsize=3)
    with pytest.raises(CropMismatchError, match="different case list"):
        sow(layout, fn=fn, schema=SCHEMA, combos={"x": range(11), "y": [1, 2]}, batchsize=3)
    with pytest.raises(CropMismatchError, match="batch plan"):
        sow_xy(layout, batchsize=4)


def test_shuffled_sowing_is_repeatable_and_covers_every_case_once():
    a, b = CropLayout("a"), CropLayout("b")
    # two sowings, so two sowing ids: the same cases in the same order all the same
    sown_a = sow_xy(a, batchsize=4, shuffle=True)
    sown_b = sow_xy(b, batchsize=4, shuffle=True)
    ra = records.IndexedReader(a.cases, a.cases_index, sowing=sown_a.sowing_id)
    rb = records.IndexedReader(b.cases, b.cases_index, sowing=sown_b.sowing_id)
    got = [ra.get(i) for i in range(5)]
    assert got == [rb.get(i) for i in range(5)]
    indices = [i for g in got for i in g["indices"]]
    assert sorted(indices) == list(range(20)) and indices != list(range(20))


def test_unknown_arguments_are_refused_before_anything_is_written():
    layout = CropLayout("c")
    with pytest.raises(UnknownArgumentError):
        sow(layout, fn=fn, schema=SCHEMA, combos={"x": [1], "z": [2]})
    assert not layout.root.exists()


def test_cases_times_combos_are_sown_as_cases():
    layout = CropLayout("c")
    sown = sow(layout, fn=fn, schema=SCHEMA, cases=[{"x": 1}, {"x": 2}], combos={"y": [5, 6]})
    assert sown.kind == "cases" and sown.plan.num_cases == 4


def test_sowing_over_a_crop_whose_manifest_changed_is_refused_and_overwrites_nothing():
    from xyzfarm.errors import CropFormatError

    layout = CropLayout("c")
    sow_xy(layout, batchsize=3)
    (layout.folder("results") / "grower.log").write_bytes(b"keep me")
    changed = layout.manifest.read_text().replace('"num_batches": 7', '"num_batches": 6')
    layout.manifest.write_text(changed)
    with pytest.raises(CropFormatError, match="checksum"):
        sow_xy(layout, batchsize=3)
    assert (layout.folder("results") / "grower.log").read_bytes() == b"keep me"
    assert layout.manifest.read_text() == changed


def test_a_sown_combos_manifest_recomputes_to_its_own_fingerprint():
    from xyzfarm.folder import manifest

    layout = CropLayout("c")
    data = sow(layout, fn=fn, schema=SCHEMA, combos={"x": [0.1, 1e300, -0.0], "y": ["a", (1, 2)]})
    assert manifest.combos_fingerprint(data.to_json()) == data.fingerprint


def test_the_manifest_records_the_functions_name_and_fingerprint(user_module):
    import xyzfarm as xyz
    from xyzfarm.folder import manifest
    from xyzfarm.node import shipping

    user_module("sowfp", "def f(x):\n    return x\n")
    import sowfp

    crop = xyz.Runner(sowfp.f, "y").Crop(name="fp")
    crop.sow_combos({"x": [1, 2]})
    sown = manifest.Manifest.read(crop.layout)
    assert sown.fn_qualname == "sowfp.f"
    assert sown.fn_fingerprint == shipping.fingerprint(sowfp.f)


def test_a_resow_mismatch_names_the_argument_and_both_value_lists():
    layout = CropLayout("c")
    sow_xy(layout, batchsize=3)
    with pytest.raises(
        CropMismatchError,
        match=r"argument 'x' was sown with \[0, 1, .*\(10 values\), now .*"
        r"\(11 values\)",
    ):
        sow(layout, fn=fn, schema=SCHEMA, combos={"x": range(11), "y": [1, 2]}, batchsize=3)


def test_a_resow_mismatch_of_cases_names_the_first_case_that_differs():
    layout = CropLayout("k")
    cases = [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}]
    sow(layout, fn=fn, schema=SCHEMA, cases=cases, batchsize=2, shuffle=True)
    changed = [*cases[:2], {"x": 5, "y": 7}]
    with pytest.raises(CropMismatchError, match=r"case 2 was sown as \{'x': 5, 'y': 6\}, now"):
        sow(layout, fn=fn, schema=SCHEMA, cases=changed, batchsize=2, shuffle=True)
    with pytest.raises(CropMismatchError, match="sown with 3 cases, now 2"):
        sow(layout, fn=fn, schema=SCHEMA, cases=cases[:2], batchsize=2, shuffle=True)
