from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.node.pool import THREAD_VARS, Slot, plan_slots

CORES = sorted(os.sched_getaffinity(0))

PROBE = """
import json, os, time
def probe(x):
    time.sleep(0.02)  # long enough that both workers get batches
    with open(os.environ["PROBE_LOG"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)),
                            "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "threads": {v: os.environ.get(v) for v in THREAD_VARS}}) + "\\n")
    return x
""".replace("THREAD_VARS", repr(THREAD_VARS))


def test_num_threads_gives_each_worker_its_own_disjoint_cores():
    slots = plan_slots(num_threads=1)
    assert [s.cpus for s in slots] == [[c] for c in CORES]


def test_the_pool_is_capped_by_cores_gpus_and_num_workers():
    with pytest.warns(UserWarning, match=f"num_workers={len(CORES) + 1} "):
        assert len(plan_slots(num_workers=len(CORES) + 1, num_threads=1)) == len(CORES)
    assert len(plan_slots(num_workers=1, num_threads=1)) == 1
    with pytest.warns(UserWarning, match="only 2 GPU id"):
        assert [s.gpus for s in plan_slots(num_workers=4, gpus="3,5")] == [["3"], ["5"]]
    assert [s.gpus for s in plan_slots(gpus=[0, 0])] == [["0"], ["0"]]


def test_more_workers_than_cores_is_said_out_loud_naming_both_numbers():
    asked = len(CORES) * 2
    with pytest.warns(UserWarning) as caught:
        slots = plan_slots(num_workers=asked, num_threads=1)
    (warning,) = caught
    text = str(warning.message)
    assert f"num_workers={asked}" in text and f"{len(CORES)} core(s)" in text
    assert text.endswith(f"running {len(slots)}.") and len(slots) == len(CORES)


def test_as_many_workers_as_cores_plans_silently(recwarn):
    assert len(plan_slots(num_workers=len(CORES), num_threads=1)) == len(CORES)
    assert not recwarn.list


def test_an_int_gpus_or_affinities_is_one_id_as_in_xyzpy_not_a_count():
    with pytest.warns(UserWarning, match="only 1 GPU id"):
        assert [s.gpus for s in plan_slots(num_workers=4, gpus=0)] == [["0"]]
    assert [s.gpus for s in plan_slots(gpus=2)] == [["2"]]
    assert [s.cpus for s in plan_slots(affinities=CORES[-1])] == [[CORES[-1]]]
    assert [s.gpus for s in plan_slots(gpus=range(2))] == [["0"], ["1"]]


def test_gpu_ids_may_be_integers_or_uuids():
    slots = plan_slots(gpus=["GPU-8f3c0a1e", "1"])
    assert [s.gpus for s in slots] == [["GPU-8f3c0a1e"], ["1"]]


def test_affinities_may_be_a_flat_list_or_explicit_sets():
    assert [s.cpus for s in plan_slots(affinities=[CORES[0]])] == [[CORES[0]]]
    assert [s.cpus for s in plan_slots(affinities=[CORES])] == [CORES]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"affinities": [9999]}, "9999"),
        ({"num_threads": 999}, "999"),
        ({"num_workers": 0}, "num_workers"),
        ({"gpus": -1}, "'-1' is not a GPU id"),
        ({"gpus": "x,y"}, "'x' is not a GPU id"),
        ({"gpus": [0, -1]}, "'-1' is not a GPU id"),
        ({"num_workers": True}, "num_workers"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_impossible_pinning_is_refused_naming_the_value(kw, match):
    with pytest.raises(InvalidInputError, match=match):
        plan_slots(**kw)


def test_a_slot_sets_thread_variables_and_visible_gpus():
    env = Slot(cpus=[0, 1], gpus=["2"]).env({})
    assert all(env[v] == "2" for v in THREAD_VARS)
    assert env["CUDA_VISIBLE_DEVICES"] == "2"


def test_pool_workers_are_pinned_disjointly_with_gpus_and_thread_variables(
    user_module, tmp_path, monkeypatch
):
    user_module("probemod", PROBE)
    import probemod

    log = tmp_path / "probe.jsonl"
    monkeypatch.setenv("PROBE_LOG", str(log))
    crop = xyz.Crop(fn=probemod.probe, name="pin")
    crop.sow_combos({"x": range(40)}, batchsize=2)
    crop.grow(num_workers=2, num_threads=1, gpus=[3, 7], verbosity=0)
    assert crop.status().done == 20
    per_pid = defaultdict(list)
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        per_pid[rec["pid"]].append(rec)
    assert len(per_pid) == min(2, len(CORES))
    cpu_sets = []
    for recs in per_pid.values():
        assert len({tuple(r["cpus"]) for r in recs}) == 1  # a worker stays on its cores
        cpu_sets.append(set(recs[0]["cpus"]))
        assert len({r["cuda"] for r in recs}) == 1
        assert all(v == "1" for v in recs[0]["threads"].values())
    assert all(len(s) == 1 for s in cpu_sets)
    assert len(set.union(*cpu_sets)) == len(cpu_sets)  # disjoint
    assert sorted(r[0]["cuda"] for r in per_pid.values()) == ["3", "7"][: len(per_pid)]


NOISY = """
import sys
def noisy(x):
    sys.stderr.write("e" * 200_000)
    print("out", x)
    return x
"""


def test_a_batch_writing_megabytes_to_stderr_neither_deadlocks_nor_is_lost(user_module):
    user_module("noisymod", NOISY)
    import noisymod

    crop = xyz.Crop(fn=noisymod.noisy, name="noisy")
    crop.sow_combos({"x": range(4)}, batchsize=2)
    crop.grow(num_workers=1, num_threads=1, log=True, verbosity=0)
    assert crop.status().done == 2
    text = crop.layout.log(1).read_text()
    assert text.count("e") >= 400_000 and "out 0" in text and "out 1" in text


def test_a_crop_grown_without_log_has_no_logs_folder(user_module):
    user_module("quietmod", NOISY)
    import quietmod

    crop = xyz.Crop(fn=quietmod.noisy, name="quiet")
    crop.sow_combos({"x": range(2)}, batchsize=2)
    crop.grow(num_workers=1, num_threads=1, verbosity=0)
    assert crop.status().done == 1
    assert not crop.layout.folder("logs").exists()


DIE = """
import os
import subprocess
import sys
def die_on_3(x):
    if x == 3:
        os._exit(9)
    return x
"""


def test_a_dying_worker_is_replaced_and_its_batch_reported_after_a_retry(user_module):
    user_module("diemod", DIE)
    import diemod

    crop = xyz.Crop(fn=diemod.die_on_3, name="die")
    crop.sow_combos({"x": range(8)}, batchsize=2)
    state = crop.grow(num_workers=1, num_threads=1, verbosity=0)
    assert state.done == 3 and state.failed == 1
    data = json.loads(crop.layout.failed(2).read_text())
    assert len(data["attempts"]) == 2
    assert all(a["error_type"] == "WorkerDied" for a in data["attempts"])
    assert "exit status 9" in data["attempts"][0]["message"]


HANG_AND_LEAK = """
import time
def hang_on_2(x):
    if x == 2:
        time.sleep(600)
    return x
def leak_on_2(x):
    if x == 2:
        hog = bytearray(400 * 2**20)
        hog[::4096] = b"x" * len(hog[::4096])  # really touch the pages
        time.sleep(5)
    return x
"""


def test_a_hanging_batch_is_killed_at_its_timeout_recorded_and_the_rest_completes(user_module):
    user_module("hangmod", HANG_AND_LEAK)
    import hangmod

    crop = xyz.Crop(fn=hangmod.hang_on_2, name="hang")
    crop.sow_combos({"x": range(4)})
    state = crop.grow(num_workers=1, batch_timeout_s=1.0, verbosity=0)
    assert (state.done, state.failed) == (3, 1)
    (attempt,) = json.loads(crop.layout.failed(3).read_text())["attempts"]
    assert attempt["error_type"] == "BatchTimeout" and "batch_timeout_s=1.0" in attempt["message"]


def test_a_worker_over_its_memory_cap_is_killed_recorded_and_the_rest_completes(user_module):
    user_module("leakmod", HANG_AND_LEAK)
    import leakmod

    crop = xyz.Crop(fn=leakmod.leak_on_2, name="leak")
    crop.sow_combos({"x": range(4)})
    state = crop.grow(num_workers=1, max_mem_gb=0.25, verbosity=0)
    assert (state.done, state.failed) == (3, 1)
    (attempt,) = json.loads(crop.layout.failed(3).read_text())["attempts"]
    assert attempt["error_type"] == "MemoryLimit"


def test_limits_need_worker_processes():
    crop = xyz.Crop(fn=lambda x: x, name="lim")
    crop.sow_combos({"x": [1]})
    with pytest.raises(InvalidInputError, match="batch_timeout_s"):
        crop.grow(subprocess=False, batch_timeout_s=1)


# -- bounded restarts: a worker that cannot start stops the pool, saying why --------------------

CRASH_ON_LOAD = """
import os, sys
if os.environ.get("CRASH_ON_LOAD"):
    sys.stderr.write("boom: this node has no licence for the solver\\n")
    sys.stderr.flush()
    os._exit(7)
"""


def test_workers_that_keep_dying_before_they_are_ready_stop_the_pool_with_their_stderr(
    user_module, monkeypatch, capfd
):
    import time

    from xyzfarm.errors import WorkerStartError
    from xyzfarm.node.pool import MAX_START_FAILURES, WorkerPool

    # a site module of the session's path that kills every fresh interpreter (as a missing
    # licence or a broken environment would) once the variable is set: only the workers crash
    # (the function itself travels by value, so its own module is never imported there)
    user_module("sitecustomize", CRASH_ON_LOAD)
    user_module("crashmod", "def f(x):\n    return x\n")
    import crashmod

    crop = xyz.Crop(fn=crashmod.f, name="crash")
    crop.sow_combos({"x": range(6)}, batchsize=2)
    monkeypatch.setenv("CRASH_ON_LOAD", "1")
    began = time.monotonic()
    with pytest.raises(WorkerStartError, match="boom: this node has no licence") as caught:
        crop.grow(num_workers=2, num_threads=1, verbosity=0)
    assert time.monotonic() - began < 10
    assert f"{MAX_START_FAILURES} pool worker(s) died" in str(caught.value)
    assert "exit status 7" in str(caught.value)
    assert "boom" in capfd.readouterr().err  # the user still sees what the workers said
    for batch in (1, 2, 3):
        attempt = json.loads(crop.layout.failed(batch).read_text())["attempts"][-1]
        assert attempt["error_type"] == "WorkerStartError" and "boom" in attempt["message"]
    # a pool started again stops again
    with WorkerPool(crop.layout, [Slot()]) as pool, pytest.raises(WorkerStartError):
        pool.run([1], lambda batch, status: None)
    assert pool.start_failures == MAX_START_FAILURES


def test_a_worker_whose_preflight_fails_stops_the_pool_at_once_with_its_reason():
    from xyzfarm.errors import FunctionLoadError
    from xyzfarm.node.pool import WorkerPool

    crop = xyz.Crop(fn=lambda x: x, name="nofn")
    crop.sow_combos({"x": range(4)}, batchsize=2)
    crop.layout.function.write_bytes(b"\x80\x05garbage")
    seen = {}
    with (
        WorkerPool(crop.layout, [Slot(), Slot()]) as pool,
        pytest.raises(FunctionLoadError, match=r"function\.pkl is damaged"),
    ):
        pool.run([1, 2], seen.__setitem__)
    assert seen == {1: "failed", 2: "failed"} and pool.start_failures == 0


# -- process groups: what a case starts dies with its worker, and with the grower ---------------

SPAWN = """
import os, subprocess, time
def spawn(x, hang):
    child = subprocess.Popen(["sleep", "1000"])
    with open(os.path.join(os.environ["PID_DIR"], f"{os.getpid()}-{child.pid}"), "w"):
        pass
    if hang:
        time.sleep(1000)
    return x
"""


def recorded_pids(folder, count, timeout_s=30.0):
    import time

    deadline = time.monotonic() + timeout_s
    while len(names := os.listdir(folder)) < count:
        assert time.monotonic() < deadline, f"only {names} started"
        time.sleep(0.05)
    return [int(p) for name in names for p in name.split("-")]


def alive(pids):
    import psutil

    def running(pid):
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [pid for pid in pids if running(pid)]


def gone_within(pids, seconds):
    import time

    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


@pytest.fixture
def spawner(user_module, tmp_path, monkeypatch):
    user_module("spawnmod", SPAWN)
    import spawnmod

    (tmp_path / "pids").mkdir()
    monkeypatch.setenv("PID_DIR", str(tmp_path / "pids"))
    return spawnmod


def test_a_child_left_running_by_a_finished_case_dies_when_the_pool_closes(spawner, tmp_path):
    crop = xyz.Crop(fn=spawner.spawn, name="leave")
    crop.sow_combos({"x": range(2)}, constants={"hang": False}, batchsize=1)
    crop.grow(num_workers=1, num_threads=1, verbosity=0)
    assert crop.status().done == 2
    pids = recorded_pids(tmp_path / "pids", 2)
    assert gone_within(pids, 5) == []


def test_a_batch_killed_at_its_timeout_takes_the_processes_its_case_started(spawner, tmp_path):
    crop = xyz.Crop(fn=spawner.spawn, name="hangs")
    crop.sow_combos({"x": [1]}, constants={"hang": True})
    state = crop.grow(num_workers=1, batch_timeout_s=1.0, verbosity=0)
    assert state.failed == 1
    assert gone_within(recorded_pids(tmp_path / "pids", 1), 5) == []


GROWER = """
import sys, xyzfarm as xyz, spawnmod
crop = xyz.Crop(fn=spawnmod.spawn, name="killed")
crop.sow_combos({"x": range(4)}, constants={"hang": True}, batchsize=1)
crop.grow(num_workers=2, num_threads=1, verbosity=0)
"""


@pytest.mark.skipif(len(CORES) < 2, reason="two pinned workers need two cores")
def test_kill_9_of_the_grower_leaves_no_worker_and_no_process_a_case_started(
    spawner, tmp_path, python_env
):
    env = {**python_env, "PYTHONPATH": f"{python_env['PYTHONPATH']}:{tmp_path / 'usercode'}"}
    grower = subprocess.Popen([sys.executable, "-c", GROWER], env=env)
    pids: list[int] = []
    try:
        pids = recorded_pids(tmp_path / "pids", 2)  # two workers, each with its `sleep`
        assert len(alive(pids)) == 4
        grower.kill()
        grower.wait()
        assert gone_within(pids, 5) == []
    finally:
        if grower.poll() is None:
            grower.kill()
        grower.wait()
        for pid in alive(pids):  # only if the test failed: never leave them behind
            os.kill(pid, 9)
