"""PBS: no server can be installed here, so the rendered script's body runs under bash with the
variables a PBS array job would have (the ``task_body`` fixture)."""

from __future__ import annotations

import xarray as xr

import xyzfarm as xyz
from xyzfarm.crop import cluster
from xyzfarm.crop.reap import without_provenance
from xyzfarm.crop.submit_options import SubmitOptions


def test_a_pbs_array_script_grows_its_batches_when_run_with_the_pbs_environment(
    user_module, task_body
):
    user_module("pbsmodel", "def f(x):\n    return x * 3.0\n")
    import pbsmodel

    runner = xyz.Runner(pbsmodel.f, "y")
    crop = runner.Crop(name="pbs", batchsize=2)
    crop.sow_combos({"x": range(6)})
    options = SubmitOptions(scheduler="pbs", workers_per_task=1)
    (script,) = cluster.render_scripts(crop.layout, [1, 2, 3], options).scripts
    assert "#PBS -J 0-2" in script.read_text()
    for index in range(3):
        task_body.run(script, {"PBS_ARRAY_INDEX": str(index), "PBS_JOBID": f"7[{index}].srv"})
    assert crop.status().done == 3
    xr.testing.assert_identical(
        without_provenance(crop.reap()), runner.run_combos({"x": range(6)}, verbosity=0)
    )
    assert set(crop.provenance.xyz_job.values) == {"7[0].srv", "7[1].srv", "7[2].srv"}


def test_a_single_task_pbs_script_needs_no_array_index(user_module, task_body):
    user_module("pbsmodel1", "def f(x):\n    return x + 1.0\n")
    import pbsmodel1

    crop = xyz.Runner(pbsmodel1.f, "y").Crop(name="one")
    crop.sow_combos({"x": [5]})
    (script,) = cluster.render_scripts(crop.layout, [1], SubmitOptions(scheduler="pbs")).scripts
    assert "-J" not in script.read_text()
    task_body.run(script, {})
    assert crop.reap().y.item() == 6.0
