"""``make compat``: run xyzpy 1.3.5's own farming tests against this checkout of xyzfarm.

The xyzpy source distribution is downloaded from the package index at run time (cached in
``build/compat/``; its code is never copied into this repository). Its ``tests/test_gen/``
files are extracted into a fresh temporary folder with only their import lines rewritten:

* ``import xyzpy as xyz``               -> ``import xyzfarm as xyz``
* ``from xyzpy[.sub.module] import A``  -> ``from compat_names import A`` (``A`` looked up on
  top-level ``xyzfarm``; a name xyzfarm lacks fails only the tests that use it, see
  ``scripts/compat_names.py``)

then run with pytest there (never in the worktree: crops default to the current folder).
Tests of xyzpy's private helpers are deselected by :data:`EXCLUDED`, each with its reason.

Prints ``compat: N passed / M total (K excluded)`` and the failures. Exits 0 whatever the pass
count (a measurement), non-zero only if the tests could not be run at all (download failed,
an import line left unrewritten, nothing collected, pytest itself broke).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
XYZPY = "xyzpy==1.3.5"
SDIST = "xyzpy-1.3.5.tar.gz"
TESTS_IN_SDIST = "xyzpy-1.3.5/tests/test_gen/"

#: the test_gen files run (all of them: every one is about xyzpy's farming side)
FILES = (
    "__init__.py",
    "test_case_runner.py",
    "test_combo_runner.py",
    "test_cropping.py",
    "test_farming.py",
    "test_prepare.py",
)

#: node-id prefix -> why those tests are not run. Only xyzpy's private helpers: names with an
#: underscore, internal batch arithmetic, and helpers xyzpy does not export at its top level.
EXCLUDED = {
    "test_gen/test_prepare.py": (
        "parse_var_names / parse_var_dims are helpers of xyzpy.gen.prepare, not exported at "
        "xyzpy's top level; the var_dims forms they parse reach users through Runner and "
        "combo_runner_to_ds, which the other files test"
    ),
    "test_gen/test_cropping.py::TestSowerReaper::test_parse_crop_details": (
        "parse_crop_details is xyzpy's crop-folder naming helper, not exported at its top level"
    ),
    "test_gen/test_cropping.py::TestSowerReaper::test_checks": (
        "drives Crop.choose_batch_settings, xyzpy's internal batch arithmetic"
    ),
    "test_gen/test_cropping.py::TestSowerReaper"
    "::test_choose_batch_settings_ignores_stale_batch_remainder": (
        "sets and reads Crop._batch_remainder (internal batch arithmetic)"
    ),
    "test_gen/test_cropping.py::TestSowerReaper"
    "::test_reap_allow_incomplete_with_short_final_batch": (
        "asserts Crop._batch_remainder (internal batch arithmetic)"
    ),
    "test_gen/test_cropping.py::TestSowerReaper::test_delete_all_resets_state": (
        "asserts private state (_batch_remainder, _all_nan_result, _num_sown_batches, "
        "_num_results)"
    ),
    "test_gen/test_cropping.py::TestParseResourceIds": "_parse_resource_ids is private",
    "test_gen/test_cropping.py::TestAcquireFunctions": "_acquire_* are private",
    "test_gen/test_cropping.py::TestResourcePool": "_ResourcePool is private",
}

_IMPORT_AS = re.compile(r"^(\s*)import xyzpy as (\w+)\s*$")
_FROM = re.compile(r"^(\s*)from xyzpy(?:\.[\w.]+)? import ")


class CompatError(Exception):
    """The compat tests could not be run at all."""


def download(cache: Path) -> Path:
    """The xyzpy sdist, downloaded into ``cache`` unless it is already there."""
    sdist = cache / SDIST
    if sdist.exists():
        return sdist
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--no-binary", ":all:", XYZPY, "-d", str(cache)]
    if subprocess.run(cmd).returncode != 0 or not sdist.exists():
        raise CompatError(f"could not download {XYZPY} into {cache} (see pip's output above)")
    return sdist


def rewrite_imports(source: str, fname: str) -> str:
    """``source`` with its xyzpy import lines pointed at xyzfarm; nothing else changes."""
    lines = []
    for line in source.splitlines(keepends=True):
        m = _IMPORT_AS.match(line)
        if m:
            line = f"{m.group(1)}import xyzfarm as {m.group(2)}\n"
        else:
            line = _FROM.sub(r"\1from compat_names import ", line)
        lines.append(line)
    rewritten = "".join(lines)
    # a form of import the rewrite does not know would silently test xyzpy itself
    for node in ast.walk(ast.parse(rewritten, fname)):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
        else:
            continue
        if any(m == "xyzpy" or m.startswith("xyzpy.") for m in mods):
            raise CompatError(f"{fname}:{node.lineno}: an xyzpy import the rewrite does not handle")
    return rewritten


def extract(sdist: Path, dest: Path) -> None:
    """Write the rewritten test_gen files into ``dest/test_gen``."""
    (dest / "test_gen").mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        for fname in FILES:
            member = tar.extractfile(TESTS_IN_SDIST + fname)
            if member is None:
                raise CompatError(f"{SDIST} has no {TESTS_IN_SDIST}{fname}")
            text = rewrite_imports(member.read().decode(), fname)
            (dest / "test_gen" / fname).write_text(text)
    # an ini of its own, so pytest neither climbs to a project's config nor caches
    (dest / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")


def run_tests(work: Path, timeout: int, pytest_args: list[str]) -> dict[str, Any]:
    summary_path = work / "summary.json"
    env = dict(os.environ)
    # this checkout first, then the name shim and the plugin
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(SCRIPTS), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["XYZ_COMPAT_SUMMARY"] = str(summary_path)
    env["XYZ_COMPAT_TIMEOUT"] = str(timeout)
    cmd = [sys.executable, "-m", "pytest", "-p", "compat_pytest", "-q", "--no-header",
           "-p", "no:cacheprovider", "--continue-on-collection-errors", "--tb=no", "-rN",
           *[f"--deselect={prefix}" for prefix in EXCLUDED], *pytest_args, "test_gen"]
    status = subprocess.run(cmd, cwd=work, env=env).returncode
    if not summary_path.exists():
        raise CompatError(f"pytest exited {status} without running the tests")
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    if status not in (0, 1):
        raise CompatError(f"pytest exited {status} (5: no test collected; 2-4: pytest broke)")
    return summary


def report(summary: dict[str, Any]) -> None:
    tests = summary["tests"]
    counts = Counter(t["outcome"] for t in tests.values())
    total = len(tests) + len(summary["collection_errors"])
    # -k and the like deselect too: only EXCLUDED counts as excluded
    excluded = [n for n in summary["deselected"] if n.startswith(tuple(EXCLUDED))]
    print()
    print(f"compat: {counts['passed']} passed / {total} total ({len(excluded)} excluded)")
    if counts["skipped"]:
        print(f"  skipped: {counts['skipped']}")
    for nodeid, err in summary["collection_errors"].items():
        print(f"  COLLECTION ERROR {nodeid}: {err.strip().splitlines()[-1]}")
    failed = {n: t for n, t in tests.items() if t["outcome"] != "passed"}
    if failed:
        print("not passed:")
        for nodeid, t in failed.items():
            print(f"  {t['outcome'].upper():7} {nodeid}  {t['message']}")
    if summary["missing_names"]:
        print("names imported that xyzfarm lacks: " + ", ".join(summary["missing_names"]))
    print("excluded (private helpers of xyzpy):")
    for prefix, reason in EXCLUDED.items():
        print(f"  {prefix}: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "compat",
                        help="where the sdist is downloaded and kept")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary test folder")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="xyzfarm-compat-"))
    try:
        extract(download(args.cache), work)
        report(run_tests(work, args.timeout, args.pytest_args))
    except CompatError as e:
        print(f"compat: could not run: {e}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"test folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
