from __future__ import annotations

import dataclasses
import inspect

import pytest

import xyzfarm as xyz
from xyzfarm.crop.grow_options import GrowOptions
from xyzfarm.cultivation import cultivate_harvester
from xyzfarm.errors import InvalidInputError, InvalidOptionError


def f(x):
    return x + 1.0


def test_options_are_built_by_keyword_only_so_reordering_their_fields_breaks_no_caller():
    with pytest.raises(TypeError):
        GrowOptions("auto", 2)  # type: ignore[misc]
    assert all(field.kw_only for field in dataclasses.fields(GrowOptions))


def test_the_defaults_are_crop_grows_defaults():
    grow = inspect.signature(xyz.Crop.grow).parameters
    for field in dataclasses.fields(GrowOptions):
        assert grow[field.name].default == field.default, field.name


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GrowOptions().retries = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"subprocess": "yes"}, "'yes'"),
        ({"num_workers": 0}, "num_workers=0"),
        ({"num_threads": 1.5}, "num_threads=1.5"),
        ({"retries": -1}, "retries=-1"),
        ({"verbosity": "loud"}, "verbosity='loud'"),
        ({"batch_timeout_s": 0}, "batch_timeout_s=0"),
        ({"max_mem_gb": -2.0}, "max_mem_gb=-2.0"),
        ({"desc": 3}, "desc=3"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_the_value(given, named):
    with pytest.raises(InvalidOptionError, match=named.replace("(", r"\(")):
        GrowOptions(**given)


def test_a_bad_option_is_still_an_invalid_input_and_a_value_error():
    assert issubclass(InvalidOptionError, InvalidInputError)
    assert issubclass(InvalidOptionError, ValueError)


def test_an_unknown_keyword_is_refused_by_name_with_the_list_of_options():
    with pytest.raises(InvalidOptionError, match=r"\['walltime'\].*scheduler.*num_workers"):
        GrowOptions.from_keywords(walltime="1:00:00")


def test_pinning_or_limits_mean_worker_processes_unless_subprocess_says_otherwise():
    assert not GrowOptions().in_workers
    assert GrowOptions(num_threads=2).in_workers
    assert GrowOptions(max_mem_gb=1.0).in_workers
    assert GrowOptions(subprocess=True).in_workers
    assert not GrowOptions(subprocess=False, num_workers=2).in_workers


def test_growing_with_options_is_growing_with_the_same_keywords():
    crop = xyz.Runner(f, "y").Crop(name="opts", batchsize=2)
    crop.sow_combos({"x": range(6)})
    by_options = crop.grow([1, 2], options=GrowOptions(verbosity=0))
    by_keywords = crop.grow([3], verbosity=0)
    assert (by_options.done, by_keywords.done) == (2, 3)


def test_options_and_keywords_together_are_refused():
    crop = xyz.Runner(f, "y").Crop(name="both")
    crop.sow_combos({"x": [1]})
    with pytest.raises(InvalidOptionError, match="not both"):
        crop.grow(options=GrowOptions(), walltime="1:00:00")


def test_cultivate_takes_its_options_by_keyword_only():
    params = list(inspect.signature(cultivate_harvester).parameters.values())
    assert params[0].name == "harvester"
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[1:])


def test_cultivate_builds_grow_options_and_refuses_an_unknown_one_by_name(tmp_path):
    harvester = xyz.Harvester(xyz.Runner(f, "y"), data_name=str(tmp_path / "d.h5"))
    with pytest.raises(InvalidOptionError, match="min_wiat"):
        harvester.cultivate({"x": [1, 2]}, verbosity=0, min_wiat=1)
    ds = harvester.cultivate({"x": [1, 2]}, verbosity=0, retries=1)
    assert ds["y"].values.tolist() == [2.0, 3.0]


def test_submit_options_that_grow_once_named_are_still_accepted_without_a_scheduler():
    crop = xyz.Runner(f, "y").Crop(name="old-keywords")
    crop.sow_combos({"x": [1, 2]})
    assert crop.grow(wait=False, workers_per_task=None, resources=None, verbosity=0).done == 2


@pytest.mark.parametrize(
    "keyword",
    [
        {"resources": {"walltime": "1:00:00"}},
        {"workers_per_task": 2},
        {"max_array_size": 10},
        {"batches_per_task": 3},
        {"template_dirs": ["t"]},
    ],
)
def test_a_submit_option_given_a_value_without_a_scheduler_is_refused_by_name_not_dropped(keyword):
    crop = xyz.Runner(f, "y").Crop(name="dropped")
    crop.sow_combos({"x": [1, 2]})
    (name,) = keyword
    with pytest.raises(InvalidOptionError, match=rf"{name}=.*scheduler="):
        crop.grow(verbosity=0, **keyword)
    assert crop.status().done == 0  # nothing grown under options it would have dropped
