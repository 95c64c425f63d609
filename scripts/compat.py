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

Tests that fail because xyzfarm differs from xyzpy on purpose are listed in
:data:`DELIBERATE`, each with its reason (each also in docs/migrating-from-xyzpy.md). A test
skipped because an optional package (:data:`OPTIONAL_PACKAGES`) is not installed is allowed.

Prints ``compat: N passed / M total (K excluded)``, then the verdict.

Then xyzpy's documented farming usage (its README quick-start and farming notebooks, from the
same sdist) runs cell by cell in a real Jupyter kernel, import lines rewritten the same way
(``scripts/compat_docs.py``, with its own excluded and deliberate lists), and prints
``compat docs: N cells ran / M (K excluded)`` and its verdict. Exits

* 0 when every test passes except the deliberate ones, which all still fail, and every docs
  cell runs except the excluded and deliberate ones;
* 1 when a test outside both lists does not pass (fails, errors, or is skipped for another
  reason), or a deliberate one passes (the list must stay true: remove it, and its entry in
  the migration guide); the same for docs cells;
* 2 when the tests or docs could not be run at all (download failed or the file is not the
  one expected, an import line left unrewritten, nothing collected, pytest itself broke).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
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

import compat_docs

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
XYZPY = "xyzpy==1.3.5"
SDIST = "xyzpy-1.3.5.tar.gz"
#: of the sdist on the package index: a different file (a re-upload, a proxy) is refused
SDIST_SHA256 = "4ba0aa08af546a8cdb66cc5bb96dea010ca0e2d36b5d8338e30d6e4f44201b89"
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
        "asserts private state (_batch_remainder, _all_nan_result, _num_sown_batches, _num_results)"
    ),
    "test_gen/test_cropping.py::TestParseResourceIds": "_parse_resource_ids is private",
    "test_gen/test_cropping.py::TestAcquireFunctions": "_acquire_* are private",
    "test_gen/test_cropping.py::TestResourcePool": "_ResourcePool is private",
}

#: node id -> why it fails on purpose. Each is listed in docs/migrating-from-xyzpy.md too; a
#: listed test that passes fails the run, so the list stays true.
DELIBERATE = {
    "test_gen/test_cropping.py::TestSowerReaper::test_sow_reap_cases": (
        "saves its Harvester with engine='joblib': xyzfarm refuses the joblib (pickle) dataset "
        "engine (EngineError), because a pickle cannot be replaced atomically nor read without "
        "running code; h5netcdf (default), netcdf4 and scipy are accepted"
    ),
}

#: packages xyzpy's tests use when installed; a test skipped for want of one is allowed
OPTIONAL_PACKAGES = ("netcdf4", "zarr")
_NOT_INSTALLED = re.compile(r"\b(\w+) not installed")

_IMPORT_AS = re.compile(r"^(\s*)import xyzpy as (\w+)\s*$")
_FROM = re.compile(r"^(\s*)from xyzpy(?:\.[\w.]+)? import ")


class CompatError(Exception):
    """The compat tests could not be run at all."""


def download(cache: Path) -> Path:
    """The xyzpy sdist, downloaded into ``cache`` unless it is already there."""
    sdist = cache / SDIST
    if not sdist.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            XYZPY,
            "-d",
            str(cache),
        ]
        if subprocess.run(cmd).returncode != 0 or not sdist.exists():
            raise CompatError(f"could not download {XYZPY} into {cache} (see pip's output above)")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise CompatError(
            f"{sdist} has sha256 {digest}, not {SDIST_SHA256} (the file on the package index); "
            "delete it to download it again"
        )
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


def run_tests(work: Path, timeout: int, pytest_args: list[str], log_path: Path) -> dict[str, Any]:
    summary_path = work / "summary.json"
    env = dict(os.environ)
    # this checkout first, then the name shim and the plugin
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(SCRIPTS), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["XYZ_COMPAT_SUMMARY"] = str(summary_path)
    env["XYZ_COMPAT_TIMEOUT"] = str(timeout)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "compat_pytest",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
        "--tb=no",
        "-rN",
        *[f"--deselect={prefix}" for prefix in EXCLUDED],
        *pytest_args,
        "test_gen",
    ]
    # pytest's own report goes to a file: its closing "1 failed, 199 passed" line (the
    # deliberate differences) must not read as the verdict; ours below is the verdict
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        status = subprocess.run(
            cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    print(f"compat: pytest's report of xyzpy's tests is in {log_path}")
    if not summary_path.exists():
        sys.stdout.write(log_path.read_text()[-4000:])
        raise CompatError(f"pytest exited {status} without running the tests")
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    if status not in (0, 1):
        raise CompatError(f"pytest exited {status} (5: no test collected; 2-4: pytest broke)")
    return summary


def allowed_skip(message: str) -> str | None:
    """The optional package a skip says is missing, if it is one of :data:`OPTIONAL_PACKAGES`."""
    m = _NOT_INSTALLED.search(message)
    return m.group(1) if m and m.group(1) in OPTIONAL_PACKAGES else None


def verdict(summary: dict[str, Any]) -> list[str]:
    """What is wrong with a run: one line per test outside the lists that did not pass, per
    deliberate test that passed (or did not run), and per collection error. Empty if none."""
    tests = summary["tests"]
    problems = [
        f"COLLECTION ERROR {nodeid}: {err.strip().splitlines()[-1] if err.strip() else ''}"
        for nodeid, err in summary["collection_errors"].items()
    ]
    for nodeid, t in tests.items():
        if nodeid in DELIBERATE:
            if t["outcome"] == "passed":
                problems.append(
                    f"PASSED  {nodeid} is listed as a deliberate difference: remove it from "
                    "DELIBERATE and from docs/migrating-from-xyzpy.md"
                )
            elif t["outcome"] == "skipped":
                problems.append(f"SKIPPED {nodeid} (a deliberate difference): {t['message']}")
        elif t["outcome"] == "skipped" and allowed_skip(t["message"]) is None:
            problems.append(f"SKIPPED {nodeid}: {t['message']}")
        elif t["outcome"] == "failed":
            problems.append(f"FAILED  {nodeid}  {t['message']}")
    # a deliberate test that vanished (renamed, deselected by mistake) cannot prove its reason
    problems += [
        f"NOT RUN {nodeid} (a deliberate difference): fix its id in DELIBERATE"
        for nodeid in DELIBERATE
        if nodeid not in tests and nodeid not in summary["deselected"]
    ]
    return problems


def report(summary: dict[str, Any]) -> list[str]:
    """Print the counts, the lists and the verdict; return the verdict's problems."""
    tests = summary["tests"]
    counts = Counter(t["outcome"] for t in tests.values())
    total = len(tests) + len(summary["collection_errors"])
    # -k and the like deselect too: only EXCLUDED counts as excluded
    excluded = [n for n in summary["deselected"] if n.startswith(tuple(EXCLUDED))]
    print()
    print(f"compat: {counts['passed']} passed / {total} total ({len(excluded)} excluded)")
    print("excluded (private helpers of xyzpy):")
    for prefix, reason in EXCLUDED.items():
        print(f"  {prefix}: {reason}")
    print("deliberate differences (fail on purpose; docs/migrating-from-xyzpy.md):")
    for nodeid, reason in DELIBERATE.items():
        outcome = tests.get(nodeid, {}).get("outcome", "not run")
        print(f"  [{outcome}] {nodeid}: {reason}")
    skipped = {n: t for n, t in tests.items() if t["outcome"] == "skipped"}
    allowed = {n: allowed_skip(t["message"]) for n, t in skipped.items()}
    if any(allowed.values()):
        print("skipped (optional package not installed):")
        for nodeid, package in allowed.items():
            if package:
                print(f"  {nodeid}: {package}")
    if summary["missing_names"]:
        print("names imported that xyzfarm lacks: " + ", ".join(summary["missing_names"]))
    problems = verdict(summary)
    if problems:
        print(f"compat FAILED: {len(problems)} test(s) differ from what is expected:")
        for line in problems:
            print(f"  {line}")
    else:
        print("compat OK: every test passes but the deliberate differences listed above")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "build" / "compat",
        help="where the sdist is downloaded and kept",
    )
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary test folder")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--tests-only", action="store_true", help="run xyzpy's tests only, not its documented usage"
    )
    which.add_argument(
        "--docs-only", action="store_true", help="run xyzpy's documented usage only, not its tests"
    )
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="xyzfarm-compat-"))
    problems: list[str] = []
    try:
        sdist = download(args.cache)
        if not args.docs_only:
            extract(sdist, work)
            log_path = args.cache / "last-pytest.log"
            problems += report(run_tests(work, args.timeout, args.pytest_args, log_path))
        if not args.tests_only:
            run = compat_docs.run_docs(
                sdist, work / "docs", str(ROOT), args.cache / "last-docs-kernels.log"
            )
            stored = compat_docs.stored_outputs(sdist)
            problems += compat_docs.report(run, stored, args.cache / "last-docs-outputs.log")
    except (CompatError, compat_docs.DocsError) as e:
        print(f"compat: could not run: {e}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"test folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
