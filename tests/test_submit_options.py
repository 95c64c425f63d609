from __future__ import annotations

import dataclasses

import pytest

from xyzfarm.crop.submit_options import SubmitOptions
from xyzfarm.errors import InvalidOptionError


def test_options_are_built_by_keyword_only_so_reordering_their_fields_breaks_no_caller():
    with pytest.raises(TypeError):
        SubmitOptions("slurm")  # type: ignore[misc]
    assert all(field.kw_only for field in dataclasses.fields(SubmitOptions))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"scheduler": 3}, "scheduler=3"),
        ({"workers_per_task": 0}, "workers_per_task=0"),
        ({"batches_per_task": "2"}, "batches_per_task='2'"),
        ({"max_array_size": -1}, "max_array_size=-1"),
        ({"retries": 1.0}, "retries=1.0"),
        ({"resources": ["walltime"]}, r"resources=\['walltime'\]"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_the_value(given, named):
    with pytest.raises(InvalidOptionError, match=named):
        SubmitOptions(**given)


def test_xyzpy_keywords_become_the_request():
    options = SubmitOptions.from_keywords(scheduler="sge", hours=2, gigabytes=4, num_procs=8)
    assert options.scheduler == "sge"
    assert dict(options.resources) == {"walltime": "02:00:00", "mem_gb": 4.0, "cpus_per_task": 8}


def test_resource_keywords_win_over_the_resources_mapping():
    options = SubmitOptions.from_keywords(resources={"walltime": "1:00:00"}, walltime="2:00:00")
    assert options.resources["walltime"] == "2:00:00"


def test_local_pinning_options_mean_the_same_per_array_task():
    options = SubmitOptions.from_keywords(num_workers=3, num_threads=2, gpus=[0, 1])
    assert options.workers_per_task == 3
    assert options.resources["threads_per_worker"] == 2 and options.resources["gpus"] == [0, 1]
    assert SubmitOptions.from_keywords(num_workers=3, workers_per_task=2).workers_per_task == 2


def test_affinities_are_refused_on_a_cluster():
    with pytest.raises(InvalidOptionError, match=r"affinities=\[0\]"):
        SubmitOptions.from_keywords(affinities=[0])


def test_template_dirs_are_kept_as_a_tuple():
    assert SubmitOptions.from_keywords(template_dirs=["a", "b"]).template_dirs == ("a", "b")
