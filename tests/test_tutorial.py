"""docs/tutorial.ipynb runs, as a user runs it: in a real Jupyter kernel, in an empty folder
(submitting to the local SLURM when ``make test`` runs one), and shows what the text says."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from kernel import execute, outputs, stream

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb"


def cell_with(nb, text):
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


def test_the_tutorial_is_kept_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
def test_the_tutorial_runs_in_a_kernel_and_shows_each_step(tmp_path):
    import ipywidgets  # noqa: F401  (a test extra: the bars are widgets, as for most users)

    if os.environ.get("XYZ_REQUIRE_SLURM") and not os.environ.get("SLURM_CONF"):
        pytest.fail("make test runs the tutorial against its local SLURM: SLURM_CONF unset")
    work = tmp_path / "work"
    work.mkdir()
    nb = execute(nbformat.read(NOTEBOOK, as_version=4), work, timeout_s=900)

    sweep = outputs(cell_with(nb, "chain.run_combos"), "text/html")[0]
    assert "xarray.Dataset" in sweep and "energy" in sweep

    sown = outputs(cell_with(nb, 'h.Crop(name="local"'), "text/html")[0]
    assert "0/9 done" in sown and "crop.grow()" in sown and ".xyz-local" in sown
    grown_cell = cell_with(nb, "crop.grow(num_workers=2")
    grown = outputs(grown_cell, "text/html")[0]
    assert "9/9 done, 0 failed" in grown and "<code>crop.reap()</code>" in grown
    # the progress bar: one widget (ipywidgets is a test extra), no text bar, no warning
    assert len(outputs(grown_cell, "application/vnd.jupyter.widget-view+json")) == 1
    assert stream(grown_cell, "stderr") == ""

    script = stream(cell_with(nb, "big.render"))
    assert "#SBATCH --time=00:10:00" in script and "#SBATCH --array=" in script

    submitted = cell_with(nb, "slurm_here")
    if os.environ.get("SLURM_CONF"):
        job = outputs(submitted, "text/html")
        assert len(job) == 1 and "xyzfarm.ClusterJob of crop &#x27;big&#x27;" in job[0]
        assert "slurm <code>" in job[0] and "8 submitted" in job[0]
    status = outputs(cell_with(nb, "big.status()"), "text/html")[0]
    assert "8/8 done, 0 failed, 0 running, 0 missing" in status

    reaped = outputs(cell_with(nb, "big.reap()"), "text/plain")[0]
    assert "n: 4" in reaped and "seed: 3" in reaped and "disorder: 4" in reaped
    # what the notebook says it leaves: the file, and no crop folder
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith("tutorial.h5")) == []
