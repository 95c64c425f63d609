from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.errors import DataFileError, EngineError, UnsavableValueError
from xyzfarm.store.datafile import load_df, load_ds, save_df, save_ds


def make_ds() -> xr.Dataset:
    return xr.Dataset(
        {
            "v": (("x",), np.arange(3.0)),
            "c": (("x",), np.arange(3) * 1j),
            "b": (("x",), [True, False, True]),
        },
        coords={"x": [1, 2, 3]},
        attrs={"none": None, "flag": True, "n": 3},
    )


def test_save_ds_writes_exactly_the_name_given_and_load_reads_it_back():
    ds = make_ds()
    save_ds(ds, "data")
    assert Path("data").is_file() and not Path("data.h5").exists()
    back = load_ds("data")
    np.testing.assert_array_equal(back.v.values, ds.v.values)
    np.testing.assert_array_equal(back.c.values, ds.c.values)


def test_save_ds_does_not_change_the_callers_attrs():
    ds = make_ds()
    save_ds(ds, "data.h5")
    assert ds.attrs["none"] is None and ds.attrs["flag"] is True
    assert load_ds("data.h5").attrs["flag"] == "True"


def test_load_ds_finds_a_file_written_by_xyzpy_under_its_extended_name():
    save_ds(make_ds(), "old.h5")
    with pytest.warns(UserWarning, match="xyzpy"):
        back = load_ds("old")
    assert back.sizes["x"] == 3


def test_load_ds_of_a_missing_file_raises_or_gives_an_empty_dataset():
    with pytest.raises(FileNotFoundError):
        load_ds("nothing.h5")
    assert len(load_ds("nothing.h5", create_new=True).data_vars) == 0


def test_a_truncated_file_is_reported_with_its_name():
    save_ds(make_ds(), "data.h5")
    raw = Path("data.h5").read_bytes()
    Path("data.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match=r"data\.h5"):
        load_ds("data.h5")


@pytest.mark.parametrize("engine", ["zarr", "joblib"])
def test_an_engine_that_cannot_be_replaced_atomically_is_refused(engine):
    # joblib: xyzpy's test_sow_reap_cases fails on this on purpose (migrating-from-xyzpy.md)
    with pytest.raises(EngineError, match=engine):
        save_ds(make_ds(), "d", engine=engine)
    assert not Path("d").exists()


def test_a_failed_save_leaves_the_old_file_and_no_temporary_file():
    save_ds(make_ds(), "data.h5")
    before = Path("data.h5").read_bytes()
    bad = make_ds().assign(o=("x", np.array([object(), object(), object()], dtype=object)))
    with pytest.raises(Exception):
        save_ds(bad, "data.h5")
    assert Path("data.h5").read_bytes() == before
    assert sorted(p.name for p in Path(".").iterdir()) == ["data.h5"]


@pytest.mark.parametrize("engine", ["pickle", "csv", "json"])
def test_dataframes_round_trip_through_each_engine(engine):
    df = pd.DataFrame({"x": [1, 2], "y": [0.5, 1.5]})
    save_df(df, f"t.{engine}", engine=engine)
    pd.testing.assert_frame_equal(load_df(f"t.{engine}", engine=engine), df, check_dtype=False)


def test_an_unknown_dataframe_engine_is_refused():
    with pytest.raises(EngineError):
        save_df(pd.DataFrame(), "t", engine="excel")


DISK_FULL_SAVE = """
import os, resource, signal, sys
import numpy as np
import xarray as xr
import xyzfarm as xyz
from xyzfarm.errors import DataFileWriteError
os.chdir(sys.argv[1])
small = xr.Dataset({"v": ("x", np.zeros(10))}, coords={"x": np.arange(10)})
xyz.save_ds(small, "data.h5")
big = xr.Dataset({"v": (("x", "i"), np.random.default_rng(0).random((8, 50_000)))})
# a disk that fills up: files may not grow past 1 MB from now on (EFBIG, not a kill)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
for attempt in range(2):
    try:
        xyz.save_ds(big, "data.h5")
    except DataFileWriteError as exc:
        print("ERROR", exc.errno, exc)
import gc
gc.collect()
xr.testing.assert_identical(xyz.load_ds("data.h5"), small)
print(sorted(os.listdir(".")))
print("alive")
"""


def test_a_full_disk_while_saving_raises_a_typed_error_and_the_process_lives_on(
    tmp_path, python, python_env
):
    out = subprocess.run(
        [python, "-c", DISK_FULL_SAVE, str(tmp_path)],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]  # was -11: HDF5 crashed the interpreter
    assert out.stdout.count("ERROR 27 ") == 2
    assert "could not write the data file 'data.h5' (File too large)" in out.stdout
    assert "free some space" in out.stdout
    assert "['data.h5']" in out.stdout  # the old file intact, no temporary file left
    assert out.stdout.rstrip().endswith("alive")


def test_saving_a_dict_valued_variable_names_it_and_writes_nothing():
    values = np.empty(2, dtype=object)
    values[:] = [{"a": 1}, {"a": 2}]
    ds = xr.Dataset({"d": ("x", values)}, coords={"x": [1, 2]})
    with pytest.raises(UnsavableValueError, match=r"'d' holds a value of type dict.*var_names"):
        save_ds(ds, "data.h5")
    assert list(Path(".").iterdir()) == []


def test_saving_text_mixed_with_numbers_names_the_types():
    values = np.array([1, "a"], dtype=object)
    with pytest.raises(UnsavableValueError, match=r"'v' holds a mixture of int, str"):
        save_ds(xr.Dataset({"v": ("x", values)}), "data.h5")


def test_text_with_missing_values_and_all_missing_objects_still_save():
    text = np.array(["a", None], dtype=object)
    nothing = np.array([None, None], dtype=object)
    save_ds(xr.Dataset({"t": ("x", text), "n": ("x", nothing)}), "data.h5")
    assert list(load_ds("data.h5").t.values) == ["a", ""]


def test_a_folder_that_refuses_files_is_reported_before_anything_runs():
    from xyzfarm.errors import LocationError
    from xyzfarm.store.datafile import check_writable_folder

    Path("afile").write_text("")
    with pytest.raises(LocationError, match=r"cannot create files in .*afile.*data_name"):
        check_writable_folder("afile/data.h5")
    check_writable_folder("new/folder/data.h5")
    assert Path("new/folder").is_dir() and list(Path("new/folder").iterdir()) == []


def simple_ds() -> xr.Dataset:
    return xr.Dataset({"v": ("x", [1.0, 2.0, 3.0])}, coords={"x": [1, 2, 3]})


def provenance_of(ds: xr.Dataset) -> xr.Dataset:
    return xr.Dataset(
        {
            "xyz_host": (("x",), np.array(["a", "b", "c"], dtype=object)),
            "xyz_start": (("x",), np.array(["2024-01-01T10:00:00.123456789"] * 3, "M8[ns]")),
        },
        coords={"x": ds.x.values},
    )


def test_provenance_is_saved_as_a_group_of_the_same_file_that_plain_xarray_opens():
    from xyzfarm.store.datafile import load_provenance

    ds = simple_ds()
    save_ds(ds, "data.h5", provenance=provenance_of(ds))
    with xr.open_dataset("data.h5", engine="h5netcdf") as data:
        assert list(data.data_vars) == ["v"]  # the data alone, as saved
    with xr.open_dataset("data.h5", engine="h5netcdf", group="provenance") as prov:
        assert list(prov.xyz_host.values) == ["a", "b", "c"]
        assert prov.xyz_start.values[0] == np.datetime64("2024-01-01T10:00:00.123456789")
    xr.testing.assert_identical(load_ds("data.h5"), ds)
    xr.testing.assert_equal(load_provenance("data.h5"), provenance_of(ds))


def test_a_file_without_provenance_reads_none():
    from xyzfarm.store.datafile import load_provenance

    save_ds(make_ds(), "data.h5")
    assert load_provenance("data.h5") is None
    assert load_provenance("absent.h5") is None


def test_netcdf3_has_no_groups_so_provenance_is_left_out_with_a_warning():
    from xyzfarm.store.datafile import load_provenance

    pytest.importorskip("scipy")
    ds = simple_ds()
    with pytest.warns(UserWarning, match="no groups"):
        save_ds(ds, "data.nc", engine="scipy", provenance=provenance_of(ds))
    xr.testing.assert_identical(load_ds("data.nc", engine="scipy"), ds)
    assert load_provenance("data.nc", engine="scipy") is None


def test_unsavable_provenance_is_refused_before_the_file_is_touched():
    from xyzfarm.store.datafile import load_provenance

    ds = simple_ds()
    save_ds(ds, "data.h5", provenance=provenance_of(ds))
    bad = provenance_of(ds).assign(xyz_host=("x", np.array([{}, {}, {}], dtype=object)))
    with pytest.raises(UnsavableValueError, match="xyz_host"):
        save_ds(ds.assign(v=ds.v * 2), "data.h5", provenance=bad)
    xr.testing.assert_identical(load_ds("data.h5"), ds)
    assert list(load_provenance("data.h5").xyz_host.values) == ["a", "b", "c"]


def _flip_a_bit_in_the_values_of(path, var):
    import h5py

    with h5py.File(path, "r") as f:
        offset = f[var].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 3)
        byte = fh.read(1)
        fh.seek(offset + 3)
        fh.write(bytes([byte[0] ^ 0x10]))


def test_every_numeric_variable_is_written_with_a_checksum_and_text_without(tmp_path):
    import h5py

    ds = xr.Dataset(
        {
            "e": (("n", "b"), np.ones((3, 2))),
            "ok": ("n", [True, False, True]),
            "s": ("n", list("abc")),
        },
        coords={"n": [1, 2, 3], "b": [0.5, 1.5]},
    )
    xyz.save_ds(
        ds, tmp_path / "d.h5", provenance=xr.Dataset({"xyz_seconds": ("n", [1.0, 2.0, 3.0])})
    )
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert all(f[k].fletcher32 for k in ("e", "ok", "n", "b", "provenance/xyz_seconds"))
        assert not f["s"].fletcher32  # variable-length text: HDF5 has no filter for it
    assert "fletcher32" not in ds["e"].encoding  # the caller's Dataset is left as it was


def test_a_bit_flipped_in_a_saved_value_is_a_typed_error_naming_the_file_never_a_value(tmp_path):
    path = tmp_path / "d.h5"
    xyz.save_ds(xr.Dataset({"e": ("n", np.arange(100.0))}, coords={"n": np.arange(100)}), path)
    _flip_a_bit_in_the_values_of(path, "e")
    with pytest.raises(DataFileError, match="fails a checksum") as err:
        xyz.load_ds(path)
    assert str(path) in str(err.value) and ".bak" in str(err.value)


def test_a_harvester_whose_file_has_a_flipped_bit_refuses_to_merge_into_it(tmp_path):
    h = xyz.Harvester(xyz.Runner(lambda n: n * 1.0, "e"), data_name=tmp_path / "d.h5")
    h.harvest_combos({"n": range(50)}, verbosity=0)
    _flip_a_bit_in_the_values_of(tmp_path / "d.h5", "e")
    again = xyz.Harvester(xyz.Runner(lambda n: n * 1.0, "e"), data_name=tmp_path / "d.h5")
    with pytest.raises(DataFileError, match="fails a checksum"):
        again.harvest_combos({"n": [60]}, verbosity=0)


def test_a_file_written_without_checksums_still_reads_and_gets_them_when_saved_again(tmp_path):
    import h5py

    ds = xr.Dataset({"e": ("n", np.arange(4.0))}, coords={"n": np.arange(4)})
    ds.to_netcdf(tmp_path / "old.h5", engine="h5netcdf")  # as xyzpy or an earlier release
    back = xyz.load_ds(tmp_path / "old.h5")
    xr.testing.assert_identical(back, ds)
    xyz.save_ds(back, tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r") as f:
        assert f["e"].fletcher32
