from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import MergeConflictError
from xyzfarm.store.inplace import write_in_place


def model(n, beta):
    return n * beta, np.arange(3) * beta


def runner():
    return xyz.Runner(model, ["e", "g"], var_dims={"g": ["k"]}, var_coords={"k": range(3)})


@pytest.fixture
def holey():
    """A file over n 0..19 x beta 0..4 with every case with n odd and beta 2 missing."""
    cases = [
        {"n": n, "beta": float(b)} for n in range(20) for b in range(5) if not (n % 2 and b == 2)
    ]
    h = xyz.Harvester(runner(), data_name="big.h5")
    h.harvest_cases(cases, verbosity=0)
    return h


def test_filling_holes_in_place_gives_what_the_atomic_merge_gives(holey):
    new = runner().run_cases([{"n": n, "beta": 2.0} for n in range(1, 20, 2)], verbosity=0)
    expected = xyz.load_ds("big.h5").combine_first(new)
    assert write_in_place("big.h5", new, None)
    xr.testing.assert_identical(xyz.load_ds("big.h5"), expected)
    assert xyz.load_ds("big.h5").e.notnull().all()


def test_new_coordinate_values_do_not_fit_in_place():
    xyz.Harvester(runner(), data_name="big.h5").harvest_combos(
        {"n": [1], "beta": [1.0]}, verbosity=0
    )
    new = runner().run_combos({"n": [2], "beta": [1.0]}, verbosity=0)
    assert not write_in_place("big.h5", new, None)


def test_a_conflict_is_refused_before_anything_is_written(holey):
    before = xyz.load_ds("big.h5")
    bad = runner().run_cases([{"n": 0, "beta": 1.0}], verbosity=0)
    bad["e"][...] = 999.0
    with pytest.raises(MergeConflictError, match="'e'"):
        write_in_place("big.h5", bad, None)
    xr.testing.assert_identical(xyz.load_ds("big.h5"), before)
    assert write_in_place("big.h5", bad, True)
    assert xyz.load_ds("big.h5").e.sel(n=0, beta=1.0).item() == 999.0


def test_a_harvester_in_place_fills_holes_and_still_grows_atomically_when_needed(holey):
    h = xyz.Harvester(runner(), data_name="big.h5", in_place=True)
    h.harvest_cases([{"n": n, "beta": 2.0} for n in range(1, 20, 2)], verbosity=0)
    assert h.full_ds.e.notnull().all()
    h.harvest_combos({"n": [100], "beta": [2.0]}, verbosity=0)  # a new n: the atomic path
    assert 100 in xyz.load_ds("big.h5").n.values


DISK_FULL_IN_PLACE = """
import os, resource, signal, sys
import numpy as np
import xyzfarm as xyz
from xyzfarm.errors import DataFileWriteError
os.chdir(sys.argv[1])
def noise(x):
    return np.random.default_rng(x).random(50_000)
runner = xyz.Runner(noise, "v", var_dims={"v": ["i"]}, var_coords={"i": range(50_000)})
ds = runner.run_combos({"x": range(8)}, verbosity=0)
# compressed chunks: a block of NaN takes a few bytes, a block of noise needs new room
encoding = {"v": {"chunksizes": (1, 50_000), "zlib": True}}
xyz.save_ds(ds.where(ds.x < 1), "data.h5", encoding=encoding)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize("data.h5") + 1000,) * 2)
harvester = xyz.Harvester(runner, data_name="data.h5", in_place=True)
try:
    harvester.harvest_combos({"x": range(8)}, verbosity=0)
except DataFileWriteError as exc:
    print("ERROR", exc.errno, exc)
import gc
gc.collect()
print("alive")
"""


def test_a_full_disk_while_writing_in_place_raises_a_typed_error_and_the_process_lives_on(
    tmp_path, python, python_env
):
    import subprocess

    out = subprocess.run(
        [python, "-c", DISK_FULL_IN_PLACE, str(tmp_path)],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]  # was -11: HDF5 crashed the interpreter
    said = "ERROR 27 [Errno 27] could not write the data file 'data.h5' (File too large)"
    assert said in out.stdout
    assert "in place" in out.stdout
    assert out.stdout.rstrip().endswith("alive")
