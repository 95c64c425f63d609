from __future__ import annotations

from pathlib import Path

import pytest

from xyzfarm.errors import InvalidInputError
from xyzfarm.folder.layout import CropLayout, check_crop_name


def test_the_crop_folder_is_dot_xyz_name_in_the_parent():
    layout = CropLayout("big", "runs")
    assert layout.root == Path("runs").absolute() / ".xyz-big"
    assert layout.failed(3).name == "3.json"
    assert layout.crop_lock.parent == layout.parent_dir  # usable after the folder is gone


@pytest.mark.parametrize("name", ["", "..", "../up", "a/b", "/abs", "a\\b", " padded", "x\0y"])
def test_names_that_could_escape_the_parent_folder_are_refused(name):
    with pytest.raises(InvalidInputError):
        check_crop_name(name)


def test_from_root_recovers_name_and_parent():
    layout = CropLayout.from_root(Path("p") / ".xyz-run1")
    assert layout.name == "run1" and layout.parent_dir == Path("p").absolute()
    with pytest.raises(InvalidInputError):
        CropLayout.from_root("not-a-crop")


def test_batch_ids_are_read_from_one_directory_scan():
    layout = CropLayout("c")
    layout.make_folders()
    for b in (1, 5):
        layout.failed(b).write_text("{}")
    (layout.folder("failed") / ".tmp-junk").write_text("")
    assert layout.batch_ids_in("failed") == {1, 5}
    assert layout.batch_ids_in("nothing-here") == set()


def test_crop_folders_follow_the_umask_but_are_never_world_writable():
    import os

    old = os.umask(0)
    try:
        layout = CropLayout("open")
        layout.make_folders()
    finally:
        os.umask(old)
    for path in (layout.root, layout.folder("results")):
        assert path.stat().st_mode & 0o777 == 0o775


def test_a_crop_name_too_long_for_the_filesystem_is_refused_naming_the_limit():
    from xyzfarm.folder.layout import MAX_CROP_NAME_BYTES

    with pytest.raises(InvalidInputError, match=rf"300 bytes long.*limit of {MAX_CROP_NAME_BYTES}"):
        check_crop_name("n" * 300)
    longest = "n" * MAX_CROP_NAME_BYTES
    layout = CropLayout(longest)
    layout.make_folders()  # the longest name allowed makes every file it names
    Path(str(layout.crop_lock) + ".softlock").write_text("")
    with pytest.raises(InvalidInputError, match="bytes long"):
        check_crop_name("é" * (MAX_CROP_NAME_BYTES // 2 + 1))  # two bytes each in UTF-8


@pytest.mark.parametrize(
    "link", ["results", "results/<done map>", "logs", "partial", "failed", "cases.bin"]
)
def test_a_link_anywhere_in_a_crop_folder_is_refused_before_anything_is_written_through_it(
    tmp_path, link
):
    import xyzfarm as xyz
    from xyzfarm.errors import CropFormatError
    from xyzfarm.folder.manifest import Manifest
    from xyzfarm.folder.results import done_map_name

    crop = xyz.Runner(lambda x: x * 1.0, "y").Crop(name="ln", parent_dir=tmp_path / "work")
    crop.sow_combos({"x": [1, 2]})
    crop.grow(1, subprocess=False, verbosity=0)  # results/ and its done map exist now
    # the done map's name holds the sowing id, known only once the crop is sown
    sowing = Manifest.read(crop.layout).sowing_id
    link = link.replace("<done map>", done_map_name(sowing))
    (tmp_path / "work" / ".xyz-ln" / "logs").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = tmp_path / "work" / ".xyz-ln" / link
    target = elsewhere / path.name
    path.rename(target)  # the real one moved out, a link left in its place
    path.symlink_to(target)
    before = sorted(p.name for p in elsewhere.rglob("*"))
    for attempt in (
        lambda: crop.grow(subprocess=False, verbosity=0),
        lambda: crop.grow(subprocess=True, num_workers=1, verbosity=0),
        lambda: crop.reap(allow_incomplete=True),
    ):
        with pytest.raises(CropFormatError, match="symbolic link") as err:
            attempt()
        assert str(path) in str(err.value)
    assert sorted(p.name for p in elsewhere.rglob("*")) == before  # nothing written there
