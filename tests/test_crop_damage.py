"""The crash-consistency matrix: every file of a crop folder, damaged every way, under every phase.

Each cell takes a freshly grown crop, damages one of its files (truncate, delete, zero, flip one
bit in a header, flip one bit in a payload), then runs one phase (status, grow, reap) and carries
on as a user would: regrow what is missing, then reap. A cell passes when it ends either

* with the reaped Dataset identical to ``run_combos`` of the same cases, or
* with a typed error (an :class:`~xyzfarm.errors.XyzfarmError`) naming the damaged file, the crop
  folder still on disk;

and fails when any step publishes a Dataset with a wrong or missing value, deletes the crop
before its data is published, raises an untyped error, or says "all done" of a crop that the
next reap then finds incomplete. ``python -m pytest tests/test_crop_damage.py -s`` prints the
tally that docs/reliability.md quotes.
"""

from __future__ import annotations

import collections
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop.reap import without_provenance
from xyzfarm.errors import CropIncompleteError, XyzfarmError
from xyzfarm.folder.manifest import Manifest
from xyzfarm.folder.results import done_map_name

MODEL = """
from pathlib import Path
FAIL_ONCE = None  # a marker file: while it exists, case (a=3, b=6) fails once and removes it

def model(a, b):
    if FAIL_ONCE is not None and (a, b) == (3, 6) and Path(FAIL_ONCE).exists():
        Path(FAIL_ONCE).unlink()
        raise RuntimeError("failing once on purpose")
    return 10.0 * a + b
"""
COMBOS = {"a": [1, 2, 3, 4], "b": [5, 6, 7]}  # 12 cases in 6 batches of 2; (3, 6) is in batch 4
#: the done map's label: its name holds the crop's sowing id, new at every sowing
DONE_MAP_LABEL = "results/<done map>"


def _flip(path: Path, offset: int, bit: int) -> None:
    data = bytearray(path.read_bytes() or b"\0")  # an empty file gets one flipped byte
    data[min(offset, len(data) - 1)] ^= 1 << bit
    path.write_bytes(bytes(data))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncate": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "delete": lambda p: p.unlink(),
    "zero": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    # byte 12, after the magic and the sowing id, is the batch id of a result-log record's
    # header (1 -> 5) and the length field of other records; in JSON files it is in the first
    # line (a key, or the batch number of a failure record)
    "flip-header": lambda p: _flip(p, 12, 2),
    # a value deep inside: for crop.json a digit of a coordinate (5 -> 7 flips bit 1)
    "flip-payload": lambda p: _flip(p, 3 * p.stat().st_size // 4, 1),
}
PHASES = {
    "status": ["status", "grow", "reap"],
    "grow": ["grow", "reap"],
    "reap": ["reap", "grow", "reap"],
    # pool workers load function.pkl and the case files themselves (as array tasks do)
    "grow-pool": ["grow-pool", "reap"],
}


def _setup(folder: Path, module, complete: bool) -> tuple[xyz.Crop, xr.Dataset]:
    # a Runner of its own: a reap that returned the crop's runner's last_ds would prove nothing
    expected = xyz.Runner(module.model, var_names=["y"]).run_combos(COMBOS, verbosity=0)
    runner = xyz.Runner(module.model, var_names=["y"])
    crop = runner.Crop(name="dmg", parent_dir=folder, batchsize=2)
    marker = folder / "fail-once"
    folder.mkdir(parents=True, exist_ok=True)
    if not complete:
        marker.touch()
    # before sowing: a global the function reads, changed after, is refused when growing
    module.FAIL_ONCE = str(marker)
    crop.sow_combos(COMBOS)
    crop.grow(verbosity=0)
    return crop, expected


def _files(crop: xyz.Crop) -> dict[str, Path]:
    """The crop's files by a stable label (``results/*.log`` has a generated name, the done
    map the crop's sowing id)."""
    root = Path(crop.layout.root)
    # its own sowing's only: a map of another sowing keeps its name, and then its own label
    done_map = "results/" + done_map_name(Manifest.read(crop.layout).sowing_id)
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("results/") and rel.endswith(".log"):
            rel = "results/<log>"
        out[DONE_MAP_LABEL if rel == done_map else rel] = path
    return out


def _names_file(exc: BaseException, path: Path, crop: xyz.Crop) -> bool:
    text = str(exc)
    return path.name in text or (isinstance(exc, CropIncompleteError) and crop.name in text)


def play(folder: Path, module, complete: bool, label: str, damage: str, phase: str) -> str:
    """Run one cell; return its outcome ("identical" or "refused: <error>"), or fail."""
    crop, expected = _setup(folder, module, complete)
    target = _files(crop)[label]
    DAMAGES[damage](target)
    steps = PHASES[phase]
    for k, step in enumerate(steps):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # damaged records are reported by warning
                if step == "status":
                    state = crop.status()
                    if state.done == state.total:
                        # "all done" must mean the next reap publishes every value
                        steps.insert(k + 1, "reap")
                elif step == "grow":
                    crop.grow_missing(verbosity=0)
                elif step == "grow-pool":
                    crop.grow_missing(verbosity=0, num_workers=1, subprocess=True)
                else:
                    result = crop.reap(verbosity=0)
        except XyzfarmError as exc:
            if step == "reap" and isinstance(exc, CropIncompleteError) and k + 1 < len(steps):
                assert Path(crop.layout.root).exists(), "an incomplete reap deleted the crop"
                continue  # the user regrows next
            assert Path(crop.layout.root).exists(), f"{type(exc).__name__}: crop deleted"
            assert _names_file(exc, target, crop), f"{type(exc).__name__} {exc} names no file"
            return f"refused: {type(exc).__name__}"
        if step == "reap":
            xr.testing.assert_identical(without_provenance(result), expected)
            return "identical"
    raise AssertionError("the cell ended without a reap")


COMPLETE_FILES = ["crop.json", "function.pkl", "cases.bin", "cases.idx", "results/<log>"]
COMPLETE_FILES.append("running.lock")
#: the growers' done map (issue 17): a hint, so any damage to it costs at most a regrowth
COMPLETE_FILES.append(DONE_MAP_LABEL)
#: with batch 4 failed half-way, growing again needs the inputs and its checkpoint
INCOMPLETE_FILES = [*COMPLETE_FILES, "partial/4", "failed/4.json"]
CELLS = [
    (complete, label, damage, phase)
    for complete, labels in ((True, COMPLETE_FILES), (False, INCOMPLETE_FILES))
    for label in labels
    for damage in DAMAGES
    for phase in PHASES
    # a complete crop gives a pool nothing to grow
    if not (complete and phase == "grow-pool")
]


@pytest.fixture
def damage_model(user_module):
    user_module("cropdamage", MODEL)
    import cropdamage

    return cropdamage


def test_the_damage_matrix_covers_every_file_a_grown_crop_has(damage_model, tmp_path):
    crop, _ = _setup(tmp_path / "full", damage_model, complete=True)
    assert set(_files(crop)) == set(COMPLETE_FILES)
    crop, _ = _setup(tmp_path / "part", damage_model, complete=False)
    assert set(_files(crop)) == set(INCOMPLETE_FILES)


@pytest.mark.slow
def test_every_damaged_crop_file_ends_in_the_exact_dataset_or_a_typed_error_naming_it(
    damage_model, tmp_path
):
    tally: collections.Counter[str] = collections.Counter()
    by_file: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures = []
    for n, (complete, label, damage, phase) in enumerate(CELLS):
        folder = tmp_path / f"cell{n}"
        try:
            outcome = play(folder, damage_model, complete, label, damage, phase)
        except Exception as exc:  # collect every bad cell, not only the first
            outcome = "BAD"
            failures.append(f"{label} {damage} {phase}: {type(exc).__name__}: {exc}"[:300])
        tally[outcome] += 1
        by_file[("complete " if complete else "half-grown ") + label][outcome.split(":")[0]] += 1
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{len(CELLS)} cells: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    for label, counts in by_file.items():
        print(f"  {label:26} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert not failures, "\n".join(failures)
