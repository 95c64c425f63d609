from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.pool import THREAD_VARS, Slot, plan_slots

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
        ({"gpus": 0}, "gpus"),
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


DIE = """
import os
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
