"""PBS: no server can be installed here, so the rendered script's body runs under bash with the
variables a PBS array job would have."""

from __future__ import annotations

import os
import subprocess
import sys

import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop import cluster
from xyzfarm.crop.reap import without_provenance


def test_a_pbs_array_script_grows_its_batches_when_run_with_the_pbs_environment(user_module):
    folder = user_module("pbsmodel", "def f(x):\n    return x * 3.0\n")
    import pbsmodel

    runner = xyz.Runner(pbsmodel.f, "y")
    crop = runner.Crop(name="pbs", batchsize=2)
    crop.sow_combos({"x": range(6)})
    plan = cluster.plan(crop.layout, [1, 2, 3], scheduler="pbs", workers_per_task=1)
    (script,) = plan.scripts
    assert "#PBS -J 0-2" in script.read_text()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    for index in range(3):
        subprocess.run(
            ["bash", str(script)],
            check=True,
            env={**env, "PBS_ARRAY_INDEX": str(index), "PBS_JOBID": f"7[{index}].srv"},
        )
    assert crop.status().done == 3
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos({"x": range(6)}, verbosity=0)
    )


def test_a_single_task_pbs_script_needs_no_array_index(user_module):
    folder = user_module("pbsmodel1", "def f(x):\n    return x + 1.0\n")
    import pbsmodel1

    crop = xyz.Runner(pbsmodel1.f, "y").Crop(name="one")
    crop.sow_combos({"x": [5]})
    (script,) = cluster.plan(crop.layout, [1], scheduler="pbs").scripts
    assert "-J" not in script.read_text()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    env.pop("PBS_ARRAY_INDEX", None)
    subprocess.run(["bash", str(script)], check=True, env=env)
    assert crop.reap().y.item() == 6.0
