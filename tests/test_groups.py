"""Process hygiene of ``grow(num_workers=n)`` (issue 23): the process pool xyzfarm makes has
the pinned pool's guarantees. What a case starts dies with the grow; a grower killed with
SIGTERM or ``kill -9`` leaves none of its workers, nor what their cases started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import xyzfarm as xyz

SPAWNER = """
import os, subprocess, sys
import xyzfarm as xyz

@xyz.label(var_names=["pid"])
def spawn(x):
    # a case that starts a helper and returns without waiting for it
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.environ["XYZ_TEST_PIDS"], "a") as f:
        f.write(f"{child.pid} {os.getpid()}\\n")
    return child.pid
"""

GROWER = """
import spawner, xyzfarm as xyz
crop = xyz.Crop(fn=spawner.spawn, name="g", batchsize=1)
crop.sow_combos({"x": list(range(40))})
crop.grow(num_workers=2, verbosity=0)
"""


def _pids(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(p) for line in path.read_text().split() for p in [line] if p.isdigit()}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pids: set[int], timeout_s: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return set()
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


def test_what_cases_start_dies_when_a_grow_with_num_workers_returns(
    user_module, tmp_path, monkeypatch
):
    user_module("spawner", SPAWNER)
    import spawner

    pids = tmp_path / "pids.txt"
    monkeypatch.setenv("XYZ_TEST_PIDS", str(pids))
    crop = xyz.Crop(fn=spawner.spawn, name="g", batchsize=1)
    crop.sow_combos({"x": [1, 2, 3, 4]})
    crop.grow(num_workers=2, verbosity=0)
    started = _pids(pids)
    assert len(started) >= 5  # 4 case children and at least one worker
    assert _wait_dead(started) == set(), "a case's child or a worker outlived the grow"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill -9"])
def test_a_grower_killed_mid_grow_leaves_no_worker_and_no_case_child(user_module, tmp_path, sig):
    folder = user_module("spawner", SPAWNER)
    (tmp_path / "grower.py").write_text(GROWER)
    pids = tmp_path / "pids.txt"
    env = dict(os.environ)
    root = str(Path(xyz.__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), root, env.get("PYTHONPATH", "")])
    env["XYZ_TEST_PIDS"] = str(pids)
    grower = subprocess.Popen([sys.executable, "grower.py"], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(pids.read_text().split()) < 6 if pids.exists() else True:
            assert grower.poll() is None, "the grower ended before it was killed"
            assert time.monotonic() < deadline, "the cases never started"
            time.sleep(0.02)
        grower.send_signal(sig)
        grower.wait(timeout=30)
    finally:
        if grower.poll() is None:
            grower.kill()
            grower.wait()
    started = _pids(pids)
    assert _wait_dead(started) == set(), "a worker or a case's child outlived its grower"
