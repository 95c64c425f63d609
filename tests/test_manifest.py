from __future__ import annotations

import json

import numpy as np
import pytest

from xyzfarm import manifest
from xyzfarm.errors import CropFormatError
from xyzfarm.layout import CropLayout


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
        manifest.read(layout)


def test_a_damaged_manifest_is_reported():
    layout = CropLayout("c")
    layout.root.mkdir()
    layout.manifest.write_text("{not json")
    with pytest.raises(CropFormatError, match="damaged"):
        manifest.read(layout)


def test_a_missing_manifest_says_to_sow_first():
    with pytest.raises(FileNotFoundError, match="sow"):
        manifest.read(CropLayout("nothing"))


def test_the_fingerprint_depends_on_every_value():
    a = manifest.fingerprint(("x",), [[1, 2, 3]])
    assert a == manifest.fingerprint(("x",), [[1, 2, 3]])
    assert a != manifest.fingerprint(("x",), [[1, 2, 4]])
    assert a != manifest.fingerprint(("y",), [[1, 2, 3]])
