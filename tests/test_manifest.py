from __future__ import annotations

import json

import numpy as np
import pytest

from xyzfarm.errors import CropFormatError
from xyzfarm.folder import manifest
from xyzfarm.folder.layout import CropLayout


@pytest.mark.parametrize(
    "value",
    [
        1,
        2.5,
        "s",
        None,
        True,
        [1, 2],
        (1, "a"),
        {"k": (1, 2)},
        1 + 2j,
        np.float32(1.5),
        np.int64(3),
        np.arange(4).reshape(2, 2),
        np.array(["a", "bc"]),
        range(3),
    ],
)
def test_encoding_round_trips_values_with_their_types(value):
    back = manifest.decode(json.loads(json.dumps(manifest.encode(value))))
    if isinstance(value, range):
        assert back == list(value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
        assert back.dtype == value.dtype
    else:
        assert back == value and type(back) is type(value)


def test_other_objects_are_pickled_inside_the_json():
    class Point:
        def __init__(self):
            self.x = 1

    back = manifest.decode(json.loads(json.dumps(manifest.encode(Point()))))
    assert back.x == 1


def test_a_manifest_from_a_newer_format_is_refused_with_a_clear_error():
    layout = CropLayout("c")
    layout.root.mkdir()
    layout.manifest.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(CropFormatError, match="upgrade"):
        manifest.Manifest.read(layout)


def test_a_damaged_manifest_is_reported():
    layout = CropLayout("c")
    layout.root.mkdir()
    layout.manifest.write_text("{not json")
    with pytest.raises(CropFormatError, match="damaged"):
        manifest.Manifest.read(layout)


def test_a_missing_manifest_says_to_sow_first():
    with pytest.raises(FileNotFoundError, match="sow"):
        manifest.Manifest.read(CropLayout("nothing"))


def test_the_fingerprint_depends_on_every_value():
    a = manifest.fingerprint(("x",), [[1, 2, 3]])
    assert a == manifest.fingerprint(("x",), [[1, 2, 3]])
    assert a != manifest.fingerprint(("x",), [[1, 2, 4]])
    assert a != manifest.fingerprint(("y",), [[1, 2, 3]])


def sow_b(name="m", **combos):
    from xyzfarm.crop.sow import sow
    from xyzfarm.sweep.assemble import check_schema

    layout = CropLayout(name)
    sow(
        layout,
        fn=lambda a, b: a * b,
        schema=check_schema("p", None, None),
        combos=combos or {"a": [1, 2], "b": [4, 5]},
    )
    return layout


def flip_the_5_of_b(layout):
    """One bit flipped in crop.json: the coordinate value b=5 becomes 7 (0x35 -> 0x37)."""
    raw = bytearray(layout.manifest.read_bytes())
    at = raw.index(b"5", raw.index(b'"b": ['))
    raw[at] ^= 0x02
    layout.manifest.write_bytes(bytes(raw))


def test_every_manifest_carries_a_checksum_of_its_content():
    layout = sow_b()
    data = json.loads(layout.manifest.read_text())
    assert len(data[manifest.CHECKSUM_KEY]) == 64
    assert manifest.CHECKSUM_KEY not in manifest.Manifest.read(layout).to_json()


def test_a_bit_flipped_in_a_coordinate_value_fails_the_manifest_checksum():
    layout = sow_b()
    flip_the_5_of_b(layout)
    assert json.loads(layout.manifest.read_text())["combos"]["b"] == [4, 7]
    with pytest.raises(CropFormatError, match=r"crop\.json.*fails its checksum"):
        manifest.Manifest.read(layout)


def test_a_bit_flipped_in_the_checksum_itself_is_refused():
    layout = sow_b()
    data = json.loads(layout.manifest.read_text())
    digest = data[manifest.CHECKSUM_KEY]
    data[manifest.CHECKSUM_KEY] = ("1" if digest[0] != "1" else "0") + digest[1:]
    layout.manifest.write_text(json.dumps(data))
    with pytest.raises(CropFormatError, match="checksum"):
        manifest.Manifest.read(layout)


def test_a_bit_flipped_in_the_checksums_name_is_not_taken_for_an_old_manifest():
    layout = sow_b()
    text = layout.manifest.read_text()
    layout.manifest.write_text(text.replace('"sha256"', '"sha2w6"'))
    with pytest.raises(CropFormatError, match="sha2w6"):
        manifest.Manifest.read(layout)


def without_checksum(layout):
    """Rewrite crop.json as the release before checksums wrote it, and the case records as
    they were then: bound to no sowing (a reader of a crop without a sowing id refuses those
    bound to one)."""
    from xyzfarm.folder import records

    data = json.loads(layout.manifest.read_text())
    del data[manifest.CHECKSUM_KEY]
    sowing = bytes.fromhex(data.pop("sowing"))  # added after checksums, as the three below
    for later in ("fn_qualname", "fn_fingerprint", "fn_sha256"):
        data.pop(later, None)
    data["format_version"] = 1
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=sowing)
    cases = [reader.get(i) for i in range(len(reader))]
    reader.close()
    records.write_indexed(layout.cases, layout.cases_index, iter(cases), sowing=None)
    layout.manifest.write_text(json.dumps(data, indent=1))


def test_a_manifest_written_before_checksums_existed_is_still_read():
    layout = sow_b()
    without_checksum(layout)
    sown = manifest.Manifest.read(layout)
    assert sown.decoded_combos()["b"] == [4, 5] and sown.plan.num_batches == 4


def test_an_old_manifest_whose_combos_changed_fails_its_recomputed_fingerprint():
    layout = sow_b()
    without_checksum(layout)
    flip_the_5_of_b(layout)
    with pytest.raises(CropFormatError, match=r"crop\.json.*fingerprint.*combos changed"):
        manifest.Manifest.read(layout)


def test_the_recomputed_fingerprint_matches_for_values_of_many_types():
    combos = {
        "a": [np.float32(0.5), np.int64(3)],
        "b": [(1, "x"), 1 + 2j, None, 0.1, -0.0, float("inf"), "s", True],
    }
    layout = sow_b("types", **combos)
    without_checksum(layout)  # so that only the fingerprint speaks
    assert manifest.Manifest.read(layout).kind == "combos"


def test_a_manifest_that_is_not_utf8_or_not_an_object_is_reported_as_damaged():
    layout = CropLayout("c")
    layout.root.mkdir()
    layout.manifest.write_text("[1, 2]")
    with pytest.raises(CropFormatError, match="damaged"):
        manifest.Manifest.read(layout)
    layout.manifest.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(CropFormatError, match="damaged"):
        manifest.Manifest.read(layout)


def test_the_manifest_reads_as_typed_fields_named_as_in_crop_json():
    layout = sow_b("typed", a=[1], b=[4, 5, 7])
    sown = manifest.Manifest.read(layout)
    raw = json.loads(layout.manifest.read_text())
    assert sown.name == raw["name"] and sown.fingerprint == raw["fingerprint"]
    assert sown.plan == manifest.BatchPlan(**raw["plan"])
    assert sown.arg_names == tuple(raw["arg_names"]) and sown.is_grid
    assert sown.decoded_combos()["b"] == [4, 5, 7]
    assert sown.extra == {}


def test_writing_a_manifest_read_back_keeps_the_files_content():
    layout = sow_b("same")
    before = json.loads(layout.manifest.read_text())
    manifest.Manifest.read(layout).write(layout)
    assert json.loads(layout.manifest.read_text()) == before


def test_fields_of_a_newer_release_are_kept_when_the_manifest_is_written_again():
    layout = sow_b("newer")
    data = json.loads(layout.manifest.read_text())
    data["later_field"] = {"x": 1}
    del data[manifest.CHECKSUM_KEY]
    manifest._write_json(layout, data)  # checksummed, as a newer release would write it
    sown = manifest.Manifest.read(layout)
    assert sown.extra == {"later_field": {"x": 1}}
    from dataclasses import replace

    replace(sown, fn_qualname="other.f").write(layout)
    assert json.loads(layout.manifest.read_text())["later_field"] == {"x": 1}


def test_a_checksummed_manifest_missing_a_field_is_reported_as_damaged():
    layout = sow_b("lacking")
    data = json.loads(layout.manifest.read_text())
    del data["plan"], data[manifest.CHECKSUM_KEY]
    manifest._write_json(layout, data)
    with pytest.raises(CropFormatError, match=r"crop\.json.*damaged.*'plan'"):
        manifest.Manifest.read(layout)


def test_a_crop_folder_of_the_release_before_checksums_still_grows_and_reaps():
    import xyzfarm as xyz

    crop = xyz.Runner(lambda b: b * 2, "y").Crop(name="old", batchsize=1)
    crop.sow_combos({"b": [1, 2, 3]})
    without_checksum(crop.layout)
    crop.grow(verbosity=0)
    assert crop.reap()["y"].values.tolist() == [2, 4, 6]
