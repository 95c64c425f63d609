"""Nothing written outside the crop's folder on a crop file's word (issue 23): a crop.json
(a colleague's, copied in; or crafted) whose farmer names a file elsewhere never makes
``xyzfarm reap`` write there; the user names such a file with ``--into``."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

import xyzfarm as xyz
from xyzfarm.folder.manifest import FarmerRecord, Manifest


def sq(x):
    return x * x * 1.0


@pytest.fixture
def xyzfarm(python, python_env):
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "xyzfarm", *argv],
            env=python_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def _grown_harvester_crop(parent: Path, data_name: str):
    crop = xyz.Harvester(xyz.Runner(sq, "y"), data_name=data_name).Crop(
        name="hv", parent_dir=str(parent)
    )
    crop.sow_combos({"x": range(3)})
    crop.grow(verbosity=0)
    return crop


@pytest.mark.parametrize("where", ["../outside/evil.h5", "ABSOLUTE", "sub/../../evil.h5"])
def test_a_crop_json_naming_a_file_outside_its_folder_is_refused_and_nothing_is_written_there(
    tmp_path, xyzfarm, where
):
    crop = _grown_harvester_crop(tmp_path / "project", "h.h5")
    (tmp_path / "outside").mkdir()
    target = str(tmp_path / "outside" / "evil.h5") if where == "ABSOLUTE" else where
    sown = Manifest.read(crop.layout)  # rewritten whole, checksum included, as a forger would
    farmer = FarmerRecord(kind="harvester", data_name=target, engine="h5netcdf")
    dataclasses.replace(sown, farmer=farmer).write(crop.layout)
    done = xyzfarm("reap", "hv", "--dir", str(tmp_path / "project"))
    assert done.returncode != 0
    assert "outside the crop's parent folder" in done.stderr and "--into" in done.stderr
    assert not list(tmp_path.rglob("evil.h5*")), "the reap wrote where crop.json said"
    assert crop.is_prepared(), "the crop was deleted although nothing was delivered"
    # the way out the message gives: the user names the file
    into = tmp_path / "outside" / "chosen.h5"
    done = xyzfarm("reap", "hv", "--dir", str(tmp_path / "project"), "--into", str(into))
    assert done.returncode == 0, done.stderr
    assert list(xyz.load_ds(str(into)).y.values) == [0, 1, 4]


def test_a_harvester_file_in_a_sub_folder_of_the_crops_parent_is_still_reaped_by_name(
    tmp_path, xyzfarm
):
    crop = _grown_harvester_crop(tmp_path, "data/h.h5")
    done = xyzfarm("reap", "hv")
    assert done.returncode == 0, done.stderr
    assert list(xyz.load_ds("data/h.h5").y.values) == [0, 1, 4] and not crop.is_prepared()
