from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from damage import flip

from xyzfarm.crop.grow import missing_batches
from xyzfarm.crop.sow import sow
from xyzfarm.folder import records
from xyzfarm.folder.layout import CropLayout
from xyzfarm.folder.manifest import Manifest
from xyzfarm.folder.results import DoneMap, ResultIndex, ResultWriter
from xyzfarm.node.worker import ALREADY, BUSY, DONE, FAILED, LoadedCrop, grow_batch
from xyzfarm.store import record_locks, storage
from xyzfarm.sweep.assemble import check_schema


def sown(fn, combos, **kw):
    layout = CropLayout("c")
    sow(layout, fn=fn, schema=check_schema("v", None, None), combos=combos, **kw)
    return layout


def sowing(layout):
    """The crop's sowing id, which every record written for it must carry."""
    return Manifest.read(layout).sowing_id


def as_sown_by_the_previous_release(layout):
    """Make ``layout`` a crop of the release before sowing ids: a manifest without one, and
    unbound case records (what that release wrote)."""
    from dataclasses import replace

    manifest = Manifest.read(layout)
    reader = records.IndexedReader(layout.cases, layout.cases_index, sowing=manifest.sowing_id)
    try:
        cases = [reader.get(b) for b in range(manifest.plan.num_batches)]
    finally:
        reader.close()
    records.write_indexed(layout.cases, layout.cases_index, iter(cases), sowing=None)
    replace(manifest, sowing=None, format_version=1).write(layout)


def test_the_worker_module_starts_without_heavy_libraries(python, python_env):
    code = (
        "import sys, xyzfarm.node.worker, xyzfarm.node.worker_cli, xyzfarm.worker.__main__\n"
        "heavy = ('xarray', 'h5netcdf', 'pandas', 'jinja2', 'h5py')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [python, "-c", code], env=python_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def result_of(layout, batch):
    return ResultIndex(layout, sowing=sowing(layout)).refresh().load(batch)


def test_growing_a_batch_appends_its_result_to_the_log_and_drops_the_checkpoint():
    layout = sown(lambda x: x * 10, {"x": range(6)}, batchsize=3)
    bundle = LoadedCrop(layout)
    assert grow_batch(bundle, 2) == DONE
    result = result_of(layout, 2)
    assert list(result["indices"]) == [3, 4, 5] and result["outputs"] == [30, 40, 50]
    assert not layout.partial(2).exists()
    assert grow_batch(bundle, 2) == ALREADY
    assert grow_batch(LoadedCrop(layout), 2) == ALREADY  # another grower sees it too
    assert grow_batch(bundle, 1) == DONE
    assert len(list(layout.folder("results").glob("*.log"))) == 1  # one log per grower


def test_fast_cases_are_grown_in_one_chunk_per_batch_once_their_pace_is_known():
    layout = sown(lambda x: x, {"x": range(40)}, batchsize=10)
    bundle = LoadedCrop(layout)
    assert [grow_batch(bundle, b) for b in (1, 2, 3)] == [DONE] * 3
    first, second = result_of(layout, 1)["prov"], result_of(layout, 2)["prov"]
    assert len(first) > 1  # the first batch measures the pace, from a single case up
    assert [seg[0] for seg in second] == [range(10)]  # then one chunk, one segment


def test_a_batch_resumes_from_its_checkpoint_without_recomputing():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    layout = sown(fn, {"x": range(4)}, batchsize=4)
    with open(layout.partial(1), "ab") as f:
        context = (0.0, 0.1, "elsewhere", "7", "3", 1, 0, "0.0.1")
        records.append_record(f, {"out": {0: 0}, "prov": [([0], *context)]}, sowing=sowing(layout))
        records.append_record(f, {"out": {1: 1}, "prov": [([1], *context)]}, sowing=sowing(layout))
    assert grow_batch(LoadedCrop(layout, fn, {}), 1) == DONE
    assert calls == [2, 3]
    result = result_of(layout, 1)
    assert result["outputs"] == [0, 1, 2, 3]
    # resumed cases keep the provenance of the run that computed them
    hosts = {p: seg[3] for seg in result["prov"] for p in seg[0]}
    jobs = {p: seg[4] for seg in result["prov"] for p in seg[0]}
    assert (hosts[0], hosts[1], jobs[2]) == ("elsewhere", "elsewhere", "local")


def test_a_failing_case_is_recorded_with_its_case_and_attempts_and_keeps_progress():
    def fn(x):
        if x == 2:
            raise ValueError("bad x")
        return x

    layout = sown(fn, {"x": range(4)}, batchsize=4)
    bundle = LoadedCrop(layout, fn, {})
    assert grow_batch(bundle, 1) == FAILED
    assert grow_batch(bundle, 1) == FAILED
    data = json.loads(layout.failed(1).read_text())
    last = data["attempts"][-1]
    assert last["attempt"] == 2 and last["error_type"] == "ValueError"
    assert last["case"] == {"x": 2} and "bad x" in last["traceback"]  # typed, not '2'
    checkpoint = records.read_appended(layout.partial(1), sowing=sowing(layout))
    assert [sorted(c["out"]) for c in checkpoint] == [[0, 1]]
    assert not ResultIndex(layout, sowing=sowing(layout)).refresh().has(1)


CLAIM = """
import sys, time, xyzfarm.store.record_locks as s
locks = s.record_locks(sys.argv[1])
assert locks.try_lock(1)
print("claimed", flush=True)
time.sleep(60)
"""


def test_a_batch_claimed_by_another_grower_is_skipped_until_that_grower_dies(python, python_env):
    layout = sown(lambda x: x, {"x": range(2)})
    other = subprocess.Popen(
        [python, "-c", CLAIM, str(layout.running_locks)], env=python_env, stdout=subprocess.PIPE
    )
    assert other.stdout is not None and other.stdout.readline().strip() == b"claimed"
    bundle = LoadedCrop(layout)
    assert grow_batch(bundle, 1) == BUSY
    assert grow_batch(bundle, 2) == DONE
    other.kill()
    other.wait()
    assert grow_batch(bundle, 1) == DONE


def test_locks_held_by_another_process_are_found_in_one_sweep(python, python_env):
    layout = sown(lambda x: x, {"x": range(2)})
    other = subprocess.Popen(
        [python, "-c", CLAIM, str(layout.running_locks)], env=python_env, stdout=subprocess.PIPE
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == b"claimed"
        locks = record_locks.record_locks(layout.running_locks)
        assert locks.try_lock(7)
        assert locks.locked_in(0, 100) == {1, 7}
        assert locks.locked_in(2, 7) == set()
    finally:
        other.kill()
        other.wait()


def test_a_record_lock_held_by_this_process_is_reported_and_not_released_by_a_check():
    locks = record_locks.record_locks("locks")
    assert locks.try_lock(3) and locks.is_locked(3) and not locks.try_lock(3)
    assert not locks.is_locked(4)
    locks.unlock(3)
    assert not locks.is_locked(3)


def test_the_saved_function_and_constants_are_used_when_none_is_given():
    layout = CropLayout("c")
    sow(
        layout,
        fn=lambda x, c: x + c,
        schema=check_schema("v", None, None),
        combos={"x": [1]},
        constants={"c": 100},
    )
    assert grow_batch(LoadedCrop(layout), 1) == DONE
    assert result_of(layout, 1)["outputs"] == [101]


def test_checkpoints_are_flushed_for_cases_slower_than_the_interval_and_on_exit():
    import time

    def slow(x):
        time.sleep(0.03)
        if x == 2:
            raise SystemExit(143)  # as the SIGTERM handler does
        return x

    layout = sown(slow, {"x": range(4)}, batchsize=4)
    with pytest.raises(SystemExit):
        grow_batch(LoadedCrop(layout, slow, {}), 1)
    flushed = {}
    for chunk in records.read_appended(layout.partial(1), sowing=sowing(layout)):
        flushed.update(chunk["out"])
    assert flushed == {0: 0, 1: 1}


def test_a_grower_grows_again_a_batch_whose_only_record_is_damaged_once_planning_read_it():
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    bundle = LoadedCrop(layout)
    assert grow_batch(bundle, 1) == DONE and grow_batch(bundle, 2) == DONE
    (log,) = layout.folder("results").glob("*.log")
    flip(log, log.stat().st_size - 3)  # batch 2's payload
    # growers read the done map, not the logs: the planning pass (crop.grow, a submission)
    # reads every log once and clears the byte of a batch without an intact record
    with pytest.warns(UserWarning, match="batch 2 fails its checksum"):
        assert missing_batches(layout, 2) == [2]
    fresh = LoadedCrop(layout)
    assert grow_batch(fresh, 1) == ALREADY
    assert grow_batch(fresh, 2) == DONE
    assert result_of(layout, 2)["outputs"] == [20, 30]  # the damaged one is listed: skipped


def test_a_grower_grows_again_a_batch_whose_record_was_refused_when_read():
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    assert grow_batch(LoadedCrop(layout), 1) == DONE
    (log,) = layout.folder("results").glob("*.log")
    (layout.folder("results") / "damaged").write_text(f"{log.name} 0\n")  # as reap lists it
    assert missing_batches(layout, 2) == [1, 2]
    assert grow_batch(LoadedCrop(layout), 1) == DONE
    assert ResultIndex(layout, sowing=sowing(layout)).refresh().load(1)["outputs"] == [0, 10]


def test_a_record_refused_by_a_reap_clears_its_batchs_byte_for_growers():
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    # an intact record that does not hold batch 1's cases, its byte set as a grower does
    writer = ResultWriter(layout, sowing=sowing(layout))
    writer.append(1, {"indices": range(2, 4), "outputs": [0, 0], "prov": []})
    DoneMap.open(layout, sowing=sowing(layout)).set(1)
    assert grow_batch(LoadedCrop(layout), 1) == ALREADY
    with pytest.warns(UserWarning, match="holds 2 cases"), pytest.raises(KeyError):
        ResultIndex(layout, sowing=sowing(layout)).refresh().load(1)
    assert grow_batch(LoadedCrop(layout), 1) == DONE
    assert result_of(layout, 1)["outputs"] == [0, 10]


def checkpoint_of_two_records(layout):
    context = (0.0, 0.1, "elsewhere", "7", "3", 1, 0, "0.0.1")
    with open(layout.partial(1), "ab") as f:
        records.append_record(f, {"out": {0: 0}, "prov": [([0], *context)]}, sowing=sowing(layout))
        records.append_record(f, {"out": {1: 1}, "prov": [([1], *context)]}, sowing=sowing(layout))


def counting(calls):
    def fn(x):
        calls.append(x)
        return x

    return fn


@pytest.mark.parametrize("damage", ["flip a payload bit", "flip a length bit", "truncate"])
def test_a_damaged_or_torn_checkpoint_keeps_its_records_before_the_damage(damage):
    calls: list[int] = []
    fn = counting(calls)
    layout = sown(fn, {"x": range(4)}, batchsize=4)
    checkpoint_of_two_records(layout)
    path = layout.partial(1)
    size = path.stat().st_size
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-2])
    else:
        # the second record's header: magic 4 bytes | sowing 8 | length 8 | crc 4
        flip(path, size - 2 if "payload" in damage else size // 2 + 12)
    assert grow_batch(LoadedCrop(layout, fn, {}), 1) == DONE
    assert calls == [1, 2, 3]  # the second record is dropped, and its case grown again
    assert result_of(layout, 1)["outputs"] == [0, 1, 2, 3]


def test_a_checkpoint_written_by_the_previous_release_is_resumed():
    import struct
    import zlib

    calls: list[int] = []
    fn = counting(calls)
    layout = sown(fn, {"x": range(3)}, batchsize=3)
    as_sown_by_the_previous_release(layout)  # its checkpoints hold unbound records
    payload = storage.dumps({"out": {0: 0}, "prov": [([0], 0.0, 0.1, "old", "1", "", 1, 0, "0")]})
    old = struct.pack("<4sQI", b"XYZr", len(payload), zlib.crc32(payload)) + payload
    layout.partial(1).write_bytes(old)
    assert grow_batch(LoadedCrop(layout, fn, {}), 1) == DONE
    assert calls == [1, 2] and result_of(layout, 1)["outputs"] == [0, 1, 2]


# -- pre-flight: a task that cannot start fails fast and says why -------------------------------


def save_function_of_a_module_that_is_then_deleted(layout, folder):
    """function.pkl refers by name to a module that exists only while it is written: as a
    session's module would look from a node that cannot import it."""
    import importlib
    import pickle
    import shutil
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gonemod.py").write_text("def f(x):\n    return x\n")
    sys.path.insert(0, str(folder))
    try:
        gonemod = importlib.import_module("gonemod")
        payload = pickle.dumps({"fn": gonemod.f, "fixed": {}})  # by reference, always
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("gonemod", None)
    (folder / "gonemod.py").unlink()
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    storage.write_bytes(layout.function, payload)
    # saved as a sow saves it: the manifest records the file's sha256
    import hashlib
    from dataclasses import replace

    from xyzfarm.folder.manifest import Manifest

    sown = Manifest.read(layout)
    replace(sown, fn_sha256=hashlib.sha256(payload).hexdigest()).write(layout)


def write_map(tmp_path, tasks):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"tasks": {str(k): v for k, v in tasks.items()}}))
    return path


@pytest.mark.parametrize(
    "content",
    ['{"tasks": {"0": ["--user=root"]}}', "{not json", '{"tasks": {"0": [0]}}', "[]"],
    ids=["an option", "not JSON", "batch 0", "no tasks"],
)
def test_a_crafted_map_file_stops_its_task_with_one_line_naming_it(
    python, python_env, tmp_path, content
):
    from xyzfarm.node.worker import START_FAILED_EXIT

    layout = sown(lambda x: x, {"x": range(6)}, batchsize=2)
    map_file = tmp_path / "map.json"
    map_file.write_text(content)
    out = subprocess.run(
        [
            *(python, "-m", "xyzfarm.worker", "task", str(layout.root)),
            *("--map", str(map_file), "--task", "0"),
        ],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == START_FAILED_EXIT, out.stderr
    assert "Traceback" not in out.stderr and str(map_file) in out.stderr
    assert not (layout.folder("results").exists() and list(layout.folder("results").glob("*.log")))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_whose_function_cannot_load_records_why_for_each_batch_and_exits_in_seconds(
    python, python_env, tmp_path, workers
):
    import time

    from xyzfarm.node.worker import START_FAILED_EXIT

    layout = sown(lambda x: x, {"x": range(6)}, batchsize=2)
    save_function_of_a_module_that_is_then_deleted(layout, tmp_path / "session")
    map_file = write_map(tmp_path, {0: [1, 2, 3]})
    began = time.monotonic()
    out = subprocess.run(
        [
            *(python, "-m", "xyzfarm.worker", "task", str(layout.root)),
            *("--map", str(map_file), "--task", "0", "--workers", str(workers)),
        ],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - began < 10
    assert out.returncode == START_FAILED_EXIT
    assert "No module named 'gonemod'" in out.stderr and out.stderr.count("Traceback") == 0
    for batch in (1, 2, 3):
        (attempt,) = json.loads(layout.failed(batch).read_text())["attempts"]
        assert attempt["error_type"] == "FunctionLoadError" and attempt["start"]
        assert attempt["message"].startswith("No module named 'gonemod' - the function's module")
        assert "PYTHONPATH" in attempt["message"]  # what to do
    assert not layout.failed(4).exists()


@pytest.mark.parametrize("damage", ["empty", "truncated", "missing"])
def test_a_damaged_function_file_is_a_function_load_error_naming_the_file(damage):
    from xyzfarm.errors import FunctionLoadError

    layout = sown(lambda x: x, {"x": range(2)})
    data = layout.function.read_bytes()
    if damage == "missing":
        layout.function.unlink()
    else:
        layout.function.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    with pytest.raises(FunctionLoadError, match=r"function\.pkl") as caught:
        LoadedCrop(layout)
    assert isinstance(caught.value, ImportError)  # what code written for xyzpy catches


def test_a_function_file_that_still_unpickles_into_other_code_is_refused():
    from xyzfarm.errors import FunctionLoadError
    from xyzfarm.store import storage

    layout = sown(lambda x: x * 10.0, {"x": range(2)})
    # a bit flipped in a constant of the pickled code: it loads, and would compute x * 11.0
    saved = storage.loads(layout.function.read_bytes())
    saved["fn"] = lambda x: x * 11.0
    layout.function.write_bytes(storage.dumps(saved))
    with pytest.raises(FunctionLoadError, match=r"function\.pkl is damaged: its sha256"):
        LoadedCrop(layout)


@pytest.mark.parametrize("name", ["cases", "cases_index"])
def test_missing_cases_are_a_crop_load_error_naming_the_file(name):
    from xyzfarm.errors import CropLoadError

    layout = sown(lambda x: x, {"x": range(2)})
    getattr(layout, name).unlink()
    with pytest.raises(CropLoadError, match=getattr(layout, name).name):
        LoadedCrop(layout)


def test_a_serving_worker_whose_preflight_fails_answers_why_and_exits(python, python_env):
    import os

    from xyzfarm.node.worker import START_FAILED_EXIT

    layout = sown(lambda x: x, {"x": range(2)})
    layout.function.write_bytes(b"")
    read_fd, write_fd = os.pipe()
    proc = subprocess.run(
        [python, "-m", "xyzfarm.worker", "serve", str(layout.root), "--reply-fd", str(write_fd)],
        env=python_env,
        pass_fds=(write_fd,),
        capture_output=True,
        timeout=60,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as reply:
        (line,) = reply.read().splitlines()
    assert proc.returncode == START_FAILED_EXIT
    error = json.loads(line)["start_error"]
    assert error["error_type"] == "FunctionLoadError" and "is empty" in error["message"]


def grow_in_another_process(python, python_env, layout, *batches, before=""):
    """Grow ``batches`` with ``python -m xyzfarm.worker grow`` (``before``: code run first)."""
    main = "from xyzfarm.node.worker_cli import main\nsys.exit(main(sys.argv[1:]))"
    code = f"{before}\nimport sys\n{main}"
    argv = [python, "-c", code, "grow", str(layout.root), *map(str, batches)]
    return subprocess.run(argv, env=python_env, capture_output=True, text=True)


def test_a_batch_grown_by_another_process_is_seen_before_claiming_without_reading_logs(
    python, python_env
):
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    bundle = LoadedCrop(layout)  # opened before the other grower wrote anything
    assert grow_in_another_process(python, python_env, layout, 2).returncode == 0
    assert grow_batch(bundle, 2) == ALREADY
    assert grow_batch(bundle, 1) == DONE
    assert len(list(layout.folder("results").glob("*.log"))) == 2


#: a grower that dies by kill -9 right after appending a result, before marking it done
KILLED_BEFORE_MARKING = """
import os, signal
from xyzfarm.folder import results
results.DoneMap.set = lambda self, batch: os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_grower_killed_between_its_append_and_the_map_costs_at_most_one_repeat(
    python, python_env
):
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    killed = grow_in_another_process(python, python_env, layout, 1, 2, before=KILLED_BEFORE_MARKING)
    assert killed.returncode == -9
    index = ResultIndex(layout, sowing=sowing(layout)).refresh()
    assert index.done() == {1}  # its record is there, its byte is not
    bundle = LoadedCrop(layout)
    assert [grow_batch(bundle, b) for b in (1, 2, 1, 2)] == [DONE, DONE, ALREADY, ALREADY]
    index = ResultIndex(layout, sowing=sowing(layout)).refresh()
    assert len(index._where[1]) == 2 and len(index._where[2]) == 1  # batch 1 grown twice
    assert index.load(1)["outputs"] == [0, 10]


def test_a_crop_grown_before_the_done_map_existed_is_read_from_its_logs_on_first_use():
    layout = sown(lambda x: x * 10, {"x": range(4)}, batchsize=2)
    as_sown_by_the_previous_release(layout)  # its map has the name of a crop without an id
    assert grow_batch(LoadedCrop(layout), 1) == DONE
    (layout.folder("results") / ".done.map").unlink()  # as the previous release left it
    bundle = LoadedCrop(layout)
    assert grow_batch(bundle, 1) == ALREADY and grow_batch(bundle, 2) == DONE
    assert len(ResultIndex(layout).refresh()._where[1]) == 1  # batch 1 was not grown again


def metadata_calls(python, python_env, layout, batches, tmp):
    """System calls other than reads and writes on the crop folder, growing ``batches``."""
    trace = tmp / f"trace-{batches[0]}"
    code = "import sys\nfrom xyzfarm.node.worker_cli import main\nsys.exit(main(sys.argv[1:]))"
    argv = ["strace", "-f", "-qq", "-y", "-e", "trace=%file,%desc", "-o", str(trace)]
    argv += [python, "-c", code, "grow", str(layout.root), *map(str, batches)]
    subprocess.run(argv, env=python_env, check=True, capture_output=True)
    data = ("read(", "pread64(", "write(", "pwrite64(", "lseek(")
    lines = [ln.split(" ", 1)[-1] for ln in trace.read_text().splitlines()]
    return sum(1 for ln in lines if str(layout.root) in ln and not ln.startswith(data))


def costs_with_other_growers(python, python_env, tmp, others):
    """(metadata calls per batch, at start-up) of a grower beside ``others`` growers' logs."""
    layout = CropLayout(f"c{others}")
    sow(layout, fn=lambda x: x, schema=check_schema("v", None, None),
        combos={"x": range(others + 12)}, batchsize=1)  # fmt: skip
    for k in range(1, others + 1):  # the logs of other growers, one real record each
        result = {"indices": range(k - 1, k), "outputs": [k - 1], "prov": []}
        frame = records.log_frame(k, result, sowing=sowing(layout))
        (layout.folder("results") / f"node-{k}-1.log").write_bytes(frame)
    missing_batches(layout, others + 12)  # the planning pass, as crop.grow and a submission
    first = others + 1
    two = metadata_calls(python, python_env, layout, [first, first + 1], tmp)
    ten = metadata_calls(python, python_env, layout, list(range(first + 2, first + 12)), tmp)
    per_batch = (ten - two) / 8  # the start-up cost cancels
    return per_batch, two - 2 * per_batch


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_batchs_metadata_calls_are_few_whatever_the_number_of_other_growers(
    python, python_env, tmp_path
):
    few = costs_with_other_growers(python, python_env, tmp_path, 5)
    many = costs_with_other_growers(python, python_env, tmp_path, 400)
    assert few == many  # per batch and at start-up: no other grower's log is touched
    # the stat of crop.json that checks the crop was not sown again meanwhile is made at
    # most every SOWING_CHECK_INTERVAL_S, not per batch: see LoadedCrop.check_sowing
    assert few[0] <= 10, few


def test_python_m_xyzfarm_worker_still_starts_the_worker_from_a_fresh_interpreter(
    python, python_env
):
    # scripts of jobs queued before the modules moved into xyzfarm.node run this command
    out = subprocess.run(
        [python, "-m", "xyzfarm.worker", "--help"],
        env=python_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "serve" in out.stdout and "task" in out.stdout
