"""pytest plugin of ``make compat``: a per-test time limit, and a JSON summary of the run.

Loaded with ``-p compat_pytest``; ``XYZ_COMPAT_SUMMARY`` names the JSON file written at the end
(outcome per test, deselected and collection errors, names xyzfarm lacked). The time limit
(``XYZ_COMPAT_TIMEOUT`` seconds, SIGALRM in the main thread) turns a test that hangs into one
failure instead of a measurement that never ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

_outcomes: dict[str, dict[str, str]] = {}
_deselected: list[str] = []
_collection_errors: dict[str, str] = {}


class CompatTimeout(Exception):
    """A test ran past ``XYZ_COMPAT_TIMEOUT``."""


def _first_line(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else ""


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected.extend(item.nodeid for item in items)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _collection_errors[report.nodeid] = str(report.longrepr)[-2000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    limit = int(os.environ.get("XYZ_COMPAT_TIMEOUT", "0"))

    def on_alarm(signum: int, frame: Any) -> None:
        raise CompatTimeout(f"{item.nodeid} ran past {limit} s")

    if limit > 0:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(limit)
    try:
        yield
    finally:
        if limit > 0:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    # a failure in any phase (setup, call, teardown) fails the test; a skip in setup skips it
    if report.failed:
        entry.update(outcome="failed", message=f"[{report.when}] {_first_line(report)}")
    elif report.skipped and entry["outcome"] == "passed":
        entry.update(outcome="skipped", message=_first_line(report))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("XYZ_COMPAT_SUMMARY")
    if not path:
        return
    names = sys.modules.get("compat_names")
    summary = {
        "exitstatus": int(exitstatus),
        "tests": _outcomes,
        "deselected": _deselected,
        "collection_errors": _collection_errors,
        "missing_names": sorted(getattr(names, "MISSING", ())),
    }
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
