from __future__ import annotations

from pathlib import Path

import pytest

import xyzfarm as xyz
from xyzfarm.errors import InvalidInputError
from xyzfarm.schedulers.resources import ResourceError


def f(x):
    return x * 2.0


@pytest.fixture
def crop():
    c = xyz.Runner(f, "y").Crop(name="cl", batchsize=2)
    c.sow_combos({"x": range(6)})
    return c


def test_render_returns_the_script_and_writes_what_it_refers_to_without_submitting(crop):
    text = crop.render("slurm", walltime="1:5:0", partition="short")
    assert text.startswith("#!/bin/bash") and "#SBATCH --time=01:05:00" in text
    assert "#SBATCH --partition=short" in text and "#SBATCH --array=0-2" in text
    (job_dir,) = (Path(crop.location) / "jobs").iterdir()
    assert (job_dir / "chunk-0.sh").read_text() == text
    assert str(job_dir / "chunk-0.map.json") in text and (job_dir / "chunk-0.map.json").is_file()
    assert not (job_dir / "submission.json").exists()  # nothing was submitted


def test_xyzpy_names_are_aliases(crop):
    assert crop.gen_cluster_script("sge").startswith("#!/bin/bash")


def test_the_job_is_named_after_the_crop_unless_a_name_is_given_as_in_xyzpy(crop):
    assert "#SBATCH --job-name=cl\n" in crop.gen_cluster_script("slurm", minutes=20)
    assert "#$ -N cl\n" in crop.gen_cluster_script("sge", minutes=20, gigabytes=1)
    assert "#SBATCH --job-name=mine\n" in crop.render("slurm", job_name="mine")


def test_a_profile_supplies_scheduler_and_resources(crop):
    Path("xyzfarm.toml").write_text(
        '[profile.site]\nscheduler = "pbs"\nqueue = "workq"\nworkers_per_task = 2\n'
    )
    text = crop.render(profile="site")
    assert "#PBS -q workq" in text and "--workers 2" in text


def test_resource_options_without_a_scheduler_are_refused(crop):
    with pytest.raises(InvalidInputError, match="walltime"):
        crop.grow(walltime="1:00:00")


def test_unknown_resources_are_refused_before_anything_is_written(crop):
    with pytest.raises(ResourceError, match="walltme"):
        crop.render("slurm", walltme="1:00:00")


def test_affinities_make_no_sense_on_a_cluster(crop):
    with pytest.raises(InvalidInputError, match="affinities"):
        crop.grow(scheduler="slurm", affinities=[0])


def test_a_crop_without_its_saved_function_cannot_be_submitted():
    c = xyz.Crop(fn=f, name="nofn", save_fn=False)
    c.sow_combos({"x": [1]})
    with pytest.raises(InvalidInputError, match="save_fn"):
        c.grow(scheduler="slurm")


def test_submitting_without_the_scheduler_installed_says_so(crop, monkeypatch):
    from xyzfarm.schedulers.shell import SchedulerError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SchedulerError, match="not installed"):
        crop.grow(scheduler="slurm", max_array_size=1001)


def test_grow_with_a_scheduler_still_submits_as_submit_does(slurm, user_module):
    from xyzfarm.crop.submit import ClusterJob
    from xyzfarm.crop.submit_options import SubmitOptions

    user_module("clmodel", "def g(x):\n    return x * 2.0\n")
    import clmodel

    c = xyz.Runner(clmodel.g, "y").Crop(name="both", batchsize=2)
    c.sow_combos({"x": range(6)})
    by_grow = c.grow([1], scheduler="slurm", walltime="0:05:0", wait=True)
    by_submit = c.submit([2], scheduler="slurm", walltime="0:05:0", wait=True)
    options = SubmitOptions(scheduler="slurm", resources={"walltime": "0:05:0"}, wait=True)
    by_options = c.submit([3], options=options)
    jobs = (by_grow, by_submit, by_options)
    assert all(isinstance(j, ClusterJob) for j in jobs)
    assert [j.batches for j in jobs] == [[1], [2], [3]]
    assert by_grow.resources == by_submit.resources == by_options.resources
    assert c.status().done == 3


def test_grow_with_submit_options_forwards_to_submit_and_grow_options_grow_here(crop):
    from xyzfarm.crop.grow_options import GrowOptions
    from xyzfarm.crop.submit_options import SubmitOptions

    unsaved = xyz.Crop(fn=f, name="nofn2", save_fn=False)
    unsaved.sow_combos({"x": [1]})
    with pytest.raises(InvalidInputError, match="save_fn"):  # submit's own check
        unsaved.grow(options=SubmitOptions(scheduler="slurm"))
    assert crop.grow(options=GrowOptions(verbosity=0)).done == 3
