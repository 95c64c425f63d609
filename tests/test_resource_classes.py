"""Per-case resources: batches grouped into one array per resource class."""

from __future__ import annotations

import json
import os

import pytest

import xyzfarm as xyz
from xyzfarm.crop.resource_classes import is_per_case, split
from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers import shell

MODEL = """
import json, os

def model(n, z):
    log = os.environ.get("CLASS_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"n": n, "z": z, "mem": os.environ.get("SLURM_MEM_PER_NODE"),
                                "job": os.environ.get("SLURM_ARRAY_JOB_ID")}) + "\\n")
    return n * z
"""


@pytest.fixture
def crop(user_module):
    user_module("classmodel", MODEL)
    import classmodel

    crop = xyz.Runner(classmodel.model, "y").Crop(name="classes", batchsize=3)
    crop.sow_combos({"n": [1, 2], "z": [1, 2, 3]})  # batch 1: n=1, batch 2: n=2
    return crop


def test_a_request_that_does_not_depend_on_the_case_is_one_class(crop):
    assert split(crop.layout, [1, 2], {"mem_gb": 2}) == [({"mem_gb": 2}, [1, 2])]
    assert split(crop.layout, [1, 2], None) == [(None, [1, 2])]
    assert not is_per_case({"mem_gb": 2}, ["n", "z"])


def test_a_mapping_keyed_by_a_swept_argument_gives_one_class_per_value(crop):
    resources = {"walltime": "1:0:0", "n": {1: {"mem_gb": 1}, 2: {"mem": 0, "mem_gb": 8}}}
    with pytest.raises(InvalidInputError, match="unknown resource"):
        split(crop.layout, [1, 2], resources)  # every request is checked, naming the key
    resources["n"][2] = {"mem_gb": 8, "queue": "big"}
    assert split(crop.layout, [1, 2], resources) == [
        ({"walltime": "01:00:00", "mem_gb": 1}, [1]),
        ({"walltime": "01:00:00", "mem_gb": 8, "partition": "big"}, [2]),
    ]


def test_a_function_of_the_case_is_called_with_the_arguments_it_names(crop):
    classes = split(crop.layout, [1, 2], lambda n: {"mem_gb": 2.0 * n})
    assert classes == [({"mem_gb": 2.0}, [1]), ({"mem_gb": 4.0}, [2])]
    classes = split(crop.layout, [2], lambda **case: {"cpus": case["n"] + 1})
    assert classes == [({"cpus_per_task": 3}, [2])]


def test_a_value_missing_from_the_mapping_is_named(crop):
    with pytest.raises(InvalidInputError, match="n=2 has no entry"):
        split(crop.layout, [1, 2], {"n": {1: {"mem_gb": 1}}})


def test_a_batch_of_several_classes_gets_the_request_covering_them_all_with_a_warning(crop):
    def request(z):
        return {"mem_gb": z, "walltime": 60 * z}

    with pytest.warns(UserWarning, match="2 batch"):
        classes = split(crop.layout, [1, 2], request)
    assert classes == [({"mem_gb": 3, "walltime": "00:03:00"}, [1, 2])]


def test_a_batch_whose_cases_ask_for_different_partitions_is_refused(crop):
    with pytest.raises(InvalidInputError, match="batch 1 holds cases asking for different"):
        split(crop.layout, [1], lambda z: {"partition": f"p{z}"})


def test_rendering_per_case_resources_writes_one_script_per_class(crop, monkeypatch):
    monkeypatch.setattr(shell, "run", lambda *a, **k: pytest.fail("submitted"))
    text = crop.render("slurm", resources=lambda n: {"mem_gb": n}, max_array_size=100)
    assert "#SBATCH --mem=1024M" in text
    scripts = sorted((crop.layout.root / "jobs").glob("*/chunk-0.sh"))
    assert sorted("--mem=2048M" in s.read_text() for s in scripts) == [False, True]


def test_two_memory_classes_on_slurm_are_two_arrays_each_case_in_its_own(crop, slurm, tmp_path):
    log = tmp_path / "cases.jsonl"
    os.environ["CLASS_LOG"] = str(log)  # array tasks inherit the submitting environment
    try:
        job = crop.grow(
            scheduler="slurm", resources={"n": {1: {"mem_gb": 0.25}, 2: {"mem_gb": 0.5}}}
        )
    finally:
        del os.environ["CLASS_LOG"]
    assert len(job.job_ids) == 2 and job.resource_classes == 2
    assert job.wait(timeout_s=120, poll_interval_s=0.5) == []
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(seen) == 6
    by_n = {n: {(c["mem"], c["job"]) for c in seen if c["n"] == n} for n in (1, 2)}
    assert by_n[1] == {("256", job.job_ids[0])}
    assert by_n[2] == {("512", job.job_ids[1])}
    assert crop.reap()["y"].sel(n=2, z=3).item() == 6
