"""scripts/compat.py: the verdict of `make compat` (xyzpy's own tests run against xyzfarm)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_compat() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))  # compat.py imports its sibling compat_docs
    spec = importlib.util.spec_from_file_location("compat_script", ROOT / "scripts" / "compat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compat_script"] = module
    spec.loader.exec_module(module)
    return module


compat = _load_compat()
DELIBERATE = next(iter(compat.DELIBERATE))


def summary(**outcomes: str) -> dict[str, Any]:
    """A run in which every deliberate test failed, plus ``outcomes`` (node id: outcome)."""
    tests = {n: {"outcome": "failed", "message": "[call] on purpose"} for n in compat.DELIBERATE}
    for nodeid, outcome in outcomes.items():
        message = "('t.py', 1, 'Skipped: zarr not installed')" if outcome == "skipped" else ""
        tests[nodeid] = {"outcome": outcome, "message": message}
    return {"tests": tests, "deselected": [], "collection_errors": {}, "missing_names": []}


def test_a_run_where_only_the_deliberate_tests_fail_is_accepted():
    assert compat.verdict(summary(a="passed")) == []


def test_a_failure_outside_the_lists_fails_the_run_naming_the_test():
    (problem,) = compat.verdict(summary(a="passed", b="failed"))
    assert problem.startswith("FAILED") and " b " in problem


def test_a_deliberate_test_that_starts_passing_fails_the_run_so_the_list_stays_true():
    result = summary()
    result["tests"][DELIBERATE]["outcome"] = "passed"
    (problem,) = compat.verdict(result)
    assert DELIBERATE in problem and "remove it" in problem


def test_a_deliberate_test_that_is_not_run_at_all_fails_the_run():
    result = summary()
    del result["tests"][DELIBERATE]
    (problem,) = compat.verdict(result)
    assert problem.startswith("NOT RUN") and DELIBERATE in problem


@pytest.mark.parametrize(
    ("message", "allowed"),
    [
        ("('t.py', 1, 'Skipped: zarr not installed')", "zarr"),
        ("('t.py', 1, 'Skipped: netcdf4 not installed')", "netcdf4"),
        ("('t.py', 1, 'Skipped: h5netcdf not installed')", None),
        ("('t.py', 1, 'Skipped: taskset is only available on Linux')", None),
    ],
)
def test_only_skips_for_optional_packages_are_allowed(message, allowed):
    assert compat.allowed_skip(message) == allowed
    result = summary(a="skipped")
    result["tests"]["a"]["message"] = message
    assert bool(compat.verdict(result)) is (allowed is None)


def test_a_collection_error_fails_the_run():
    result = summary()
    result["collection_errors"]["test_gen/test_x.py"] = "ImportError: no name"
    assert compat.verdict(result) == ["COLLECTION ERROR test_gen/test_x.py: ImportError: no name"]


def test_every_deliberate_difference_is_in_the_migration_guide():
    guide = (ROOT / "docs" / "migrating-from-xyzpy.md").read_text()
    for nodeid in compat.DELIBERATE:
        assert f"`{nodeid}`" in guide, f"{nodeid} is not listed in docs/migrating-from-xyzpy.md"


def test_the_migration_guide_lists_no_deliberate_test_the_script_does_not():
    guide = (ROOT / "docs" / "migrating-from-xyzpy.md").read_text()
    section = guide.split("## xyzpy's own tests that fail on purpose", 1)[1].split("\n## ")[0]
    listed = set(re.findall(r"`(test_gen/[^`]+)`", section))
    assert listed == set(compat.DELIBERATE)


def test_a_cached_sdist_that_is_not_the_one_on_the_index_is_refused(tmp_path):
    (tmp_path / compat.SDIST).write_bytes(b"not xyzpy")
    with pytest.raises(compat.CompatError, match="sha256"):
        compat.download(tmp_path)
