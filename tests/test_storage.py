from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xyzfarm.errors import LockTimeoutError
from xyzfarm.store import record_locks, storage


def test_atomic_write_publishes_the_whole_content():
    storage.write_bytes("f.bin", b"x" * 1000)
    assert Path("f.bin").read_bytes() == b"x" * 1000


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp_file():
    Path("f.txt").write_text("old")
    with pytest.raises(RuntimeError), storage.atomic_path("f.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert Path("f.txt").read_text() == "old"
    assert sorted(os.listdir(".")) == ["f.txt"]


def test_published_files_follow_the_umask():
    old = os.umask(0o027)
    try:
        storage.write_bytes("f.bin", b"1")
    finally:
        os.umask(old)
    assert Path("f.bin").stat().st_mode & 0o777 == 0o640


def test_keep_backup_holds_the_previous_content():
    Path("d.h5").write_text("v1")
    backup = storage.keep_backup("d.h5")
    storage.write_bytes("d.h5", b"v2")
    assert backup is not None and backup.read_text() == "v1"
    assert Path("d.h5").read_text() == "v2"


def test_keep_backup_of_a_missing_file_does_nothing():
    assert storage.keep_backup("nothing.h5") is None


def test_the_lock_is_reentrant_within_a_process():
    with storage.locked("data.h5"), storage.locked("data.h5"):
        pass


def test_the_lock_excludes_another_process():
    code = (
        "import time, xyzfarm.store.storage as s\n"
        "with s.locked('data.h5'):\n"
        "    print('held', flush=True); time.sleep(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"held"
        with (
            pytest.raises(LockTimeoutError, match=r"data\.h5"),
            storage.locked("data.h5", timeout_s=0.2),
        ):
            pass
    finally:
        child.wait()


def test_the_lock_is_freed_when_its_holder_is_killed():
    code = (
        "import time, xyzfarm.store.storage as s\n"
        "with s.locked('data.h5'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"held"
    child.kill()
    child.wait()
    with storage.locked("data.h5", timeout_s=5):
        pass


def test_the_lock_file_exists_only_while_the_lock_is_held():
    with storage.locked("data.h5"):
        assert Path("data.h5.lock").exists()
        with storage.locked("data.h5"):
            pass
        assert Path("data.h5.lock").exists()  # the outer hold still needs it
    assert sorted(os.listdir(".")) == []


def test_a_body_that_raises_still_removes_the_lock_file():
    with pytest.raises(RuntimeError), storage.locked("data.h5"):
        raise RuntimeError("the operation failed")
    assert not Path("data.h5.lock").exists()


def test_a_lock_file_left_by_an_older_version_is_taken_and_removed():
    Path("data.h5.lock").write_text("")
    with storage.locked("data.h5", timeout_s=2):
        pass
    assert not Path("data.h5.lock").exists()


def test_a_waiter_that_times_out_leaves_the_holders_lock_file_alone():
    code = (
        "import sys, xyzfarm.store.storage as s\n"
        "with s.locked('data.h5'):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == b"held"
        with pytest.raises(LockTimeoutError), storage.locked("data.h5", timeout_s=0.1):
            pass
        assert Path("data.h5.lock").exists()
    finally:
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    assert not Path("data.h5.lock").exists()


INCREMENT = """
import sys, xyzfarm.store.storage as s
from pathlib import Path
timeout_s = None if sys.argv[1] == "none" else float(sys.argv[1])
for _ in range(int(sys.argv[2])):
    with s.locked("counter", timeout_s=timeout_s):
        # read-modify-write in place: a second writer at once would lose or garble a count
        n = int(Path("counter").read_text())
        with open("counter", "w") as f:
            f.write(str(n + 1))
"""


def test_processes_incrementing_a_counter_under_the_lock_lose_nothing_and_leave_no_lock():
    # waiters that block and waiters that poll (a timeout) both take part; every release
    # unlinks the lock file, so waiters often hold a file that is no longer at the path
    Path("counter").write_text("0")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rounds = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", INCREMENT, timeout, str(rounds)], env=env)
        for timeout in ["none", "60"] * 6
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * len(procs)
    assert Path("counter").read_text() == str(rounds * len(procs))
    assert sorted(os.listdir(".")) == ["counter"]


def test_threads_of_one_process_take_turns():
    order: list[str] = []

    def hold(name: str) -> None:
        with storage.locked("data.h5"):
            order.append(name + "-in")
            time.sleep(0.05)
            order.append(name + "-out")

    threads = [threading.Thread(target=hold, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order[0][0] == order[1][0]  # in/out pairs never interleave


def test_cloudpickle_round_trips_a_lambda():
    f = storage.loads(storage.dumps(lambda x: x + 1))
    assert f(1) == 2


def no_flock(monkeypatch):
    """Make this process's flock/lockf fail as on a filesystem without kernel locks."""
    import errno
    import fcntl

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    monkeypatch.setattr(fcntl, "lockf", refuse)


def test_without_flock_the_lock_falls_back_to_a_soft_lock_naming_its_holder(monkeypatch):
    import json
    import socket

    no_flock(monkeypatch)
    with storage.locked("data.h5"):
        holder = json.loads(Path("data.h5.softlock").read_text())
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
        with storage.locked("data.h5"):  # re-entrant
            pass
        assert Path("data.h5.softlock").exists()
    assert sorted(os.listdir(".")) == []  # neither the soft lock nor an unlockable .lock


def test_a_soft_lock_left_by_a_dead_process_is_broken(monkeypatch):
    import json
    import socket

    no_flock(monkeypatch)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Path("data.h5.softlock").write_text(
        json.dumps(
            {"host": socket.gethostname(), "pid": dead.pid, "time": time.time(), "token": "x"}
        )
    )
    with storage.locked("data.h5", timeout_s=2):
        assert json.loads(Path("data.h5.softlock").read_text())["pid"] == os.getpid()


def test_an_old_soft_lock_from_another_host_is_broken_but_a_fresh_one_is_respected(monkeypatch):
    import json

    no_flock(monkeypatch)
    lock = Path("data.h5.softlock")
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time(), "token": "x"}))
    with (
        pytest.raises(LockTimeoutError, match="elsewhere"),
        storage.locked("data.h5", timeout_s=0.3),
    ):
        pass
    old = time.time() - storage.SOFT_LOCK_STALE_S - 1
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": old, "token": "x"}))
    with storage.locked("data.h5", timeout_s=2):
        pass


HARVEST_WITHOUT_FLOCK = """
import errno, fcntl, sys
def refuse(*a, **k):
    raise OSError(errno.ENOLCK, "No locks available")
fcntl.flock = refuse
import xyzfarm as xyz
h = xyz.Harvester(xyz.Runner(lambda x: x * 2.0, "y"), data_name="shared.h5")
for j in range(3):
    h.harvest_combos({"x": [int(sys.argv[1]) * 10 + j]}, verbosity=0)
"""


def test_processes_harvesting_into_one_file_without_flock_lose_nothing(python_env):
    procs = [
        subprocess.Popen([sys.executable, "-c", HARVEST_WITHOUT_FLOCK, str(i)], env=python_env)
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    import xyzfarm as xyz

    ds = xyz.load_ds("shared.h5")
    assert sorted(ds.x.values) == sorted(i * 10 + j for i in range(4) for j in range(3))
    assert not Path("shared.h5.softlock").exists()
    assert not Path("shared.h5.lock").exists()


def test_record_locks_without_kernel_support_warn_and_let_growing_go_on(monkeypatch):
    no_flock(monkeypatch)
    locks = record_locks.RecordLocks("claims.lock")
    with pytest.warns(UserWarning, match="no record locks"):
        assert locks.try_lock(1)
    locks.unlock(1)


def test_an_executable_file_is_published_with_the_umask_applied():
    old = os.umask(0o022)
    try:
        storage.write_bytes("run.sh", b"#!/bin/sh\n", mode=0o777)
    finally:
        os.umask(old)
    assert Path("run.sh").stat().st_mode & 0o777 == 0o755


def double(x):
    return 2.0 * x


def test_harvesting_and_reaping_leave_no_lock_file_beside_the_data():
    import xyzfarm as xyz

    h = xyz.Harvester(xyz.Runner(double, "y"), data_name="out.h5")
    h.harvest_combos({"x": [1, 2]}, verbosity=0)
    crop = h.Crop(name="more", batchsize=1)
    crop.sow_combos({"x": [3, 4]})
    crop.grow(verbosity=0)
    crop.reap()
    assert sorted(xyz.load_ds("out.h5").x.values) == [1, 2, 3, 4]
    assert [name for name in os.listdir(".") if "lock" in name] == []


class Local:
    """A class whose instances only cloudpickle may carry (by value, from ``__main__``)."""


def test_plain_records_pickle_as_cloudpickle_would_and_anything_else_goes_by_cloudpickle():
    import pickle

    import cloudpickle
    import numpy as np

    record = {"indices": range(3), "rows": [(1, 2.5, "a", None), (np.float64(2), np.arange(2))]}
    assert storage.is_plain(record["rows"])
    assert pickle.loads(storage.dumps(record, plain=True))["indices"] == range(3)
    looped: list[object] = [1]
    looped.append(looped)
    for value in (Local(), [Local()], (1, (2, Local())), np.array([Local()]), len, Local, looped):
        assert not storage.is_plain([1, value])
    # what the standard pickler refuses still goes by cloudpickle, even when asked for plain
    assert b"cloudpickle" in storage.dumps(lambda: 1, plain=True)
    assert cloudpickle.loads(storage.dumps([lambda: 1], plain=True))[0]() == 1


def test_the_next_save_removes_what_a_killed_save_left_but_not_a_save_in_flight(tmp_path):
    """kill -9 in the middle of a save leaves its temporary file (a whole dataset); the next
    save of the same file removes it, and leaves the file of a writer that still runs."""
    import signal
    import subprocess
    import sys

    import xarray as xr

    import xyzfarm as xyz

    target = tmp_path / "d.h5"
    code = (
        "import os, signal, sys, time\n"
        "from xyzfarm.store import storage\n"
        "with storage.atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    if sys.argv[2] == 'die':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    time.sleep(60)\n"
    )
    root = str(Path(xyz.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    killed = subprocess.run(
        [sys.executable, "-c", code, str(target), "die"], env=env, capture_output=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL
    alive = subprocess.Popen(
        [sys.executable, "-c", code, str(target), "live"], env=env, stdout=subprocess.PIPE
    )
    try:
        assert alive.stdout is not None and alive.stdout.readline() == b"writing\n"
        temps = sorted(tmp_path.glob(".d.h5.*.tmp"))
        assert len(temps) == 2
        xyz.save_ds(xr.Dataset({"v": ("x", [1.0])}), target)
        left = sorted(tmp_path.glob(".d.h5.*.tmp"))
        assert len(left) == 1 and f"~{alive.pid}." in left[0].name
    finally:
        alive.kill()
        alive.wait(timeout=30)
        for tmp in tmp_path.glob(".d.h5.*.tmp"):
            tmp.unlink()
