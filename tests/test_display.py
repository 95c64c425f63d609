"""What a crop, its status and a cluster submission show in a notebook (``_repr_html_``)."""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import pytest
from kernel import execute, outputs, stream

import xyzfarm as xyz
from xyzfarm.crop.submit import ClusterJob


def halve(n):
    if n == 3:
        raise ValueError("odd <n> & no way to halve it")
    return n / 2


def sown(name="halves", n=4):
    crop = xyz.Runner(halve, "h").Crop(name=name)
    crop.sow_combos({"n": range(n)})
    return crop


def test_a_crop_not_sown_shows_where_it_will_be_and_that_sowing_comes_next():
    crop = xyz.Runner(halve, "h").Crop(name="halves")
    shown = crop._repr_html_()
    assert "not sown" in shown and "crop.sow_combos" in shown
    assert html.escape(crop.location) in shown


def test_a_crop_with_a_failed_batch_shows_its_progress_its_escaped_error_and_what_next():
    crop = sown()
    crop.grow(verbosity=0)
    shown = crop._repr_html_()
    assert "3/4 done, 1 failed, 0 running, 0 missing" in shown
    assert "batch 4: <code>ValueError: odd &lt;n&gt; &amp; no way to halve it" in shown
    assert "<n>" not in shown  # the user's text never becomes markup
    assert html.escape(crop.location) in shown
    assert "crop.grow_missing()" in shown
    # the plain repr stays, for terminals and logs
    assert repr(crop) == f"<xyzfarm.Crop 'halves' at {crop.location}: {crop.status()}>"


def test_a_grown_crop_says_reap_next_and_its_bar_is_full():
    crop = sown(n=3)
    crop.grow(verbosity=0)
    shown = crop._repr_html_()
    assert 'style="width:100.00%;background:#4caf50"' in shown
    assert "<code>crop.reap()</code>" in shown


def test_a_crop_status_shows_a_bar_and_its_failed_batch_ids_and_keeps_its_repr():
    crop = sown()
    crop.grow(verbosity=0)
    status = crop.status()
    shown = status._repr_html_()
    assert "3/4 done, 1 failed" in shown and "failed batches</th>" in shown
    assert repr(status).startswith("CropStatus(total=4, done=3, failed=1")


def test_a_cluster_job_shows_its_ids_progress_failures_folders_and_how_to_cancel():
    crop = sown()
    crop.grow(verbosity=0)
    job_dir = Path(crop.location) / "jobs" / "1"
    job = ClusterJob(crop.layout, "slurm", ["41", "42"], [1, 2, 3, 4], job_dir, attempts_before={})
    shown = job._repr_html_()
    assert "slurm <code>41 42</code>" in shown and "4 submitted" in shown
    assert "batch 4: <code>ValueError: odd &lt;n&gt;" in shown
    assert html.escape(str(job_dir)) in shown and html.escape(crop.location) in shown
    assert html.escape(str(Path(crop.location) / "logs")) in shown  # the scheduler's output
    assert f"xyzfarm cancel halves --dir {crop.parent_dir}" in html.unescape(shown)
    assert repr(job) == "<xyzfarm.ClusterJob slurm 41,42: 4 batches of crop 'halves'>"


WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.mark.slow
@pytest.mark.parametrize("widgets", [True, False], ids=["ipywidgets", "no-ipywidgets"])
def test_in_a_real_kernel_a_crop_displays_as_html_and_grows_with_one_bar(tmp_path, widgets):
    # what a notebook user sees: the last expression of a cell displayed by Jupyter itself
    import ipywidgets  # noqa: F401  (a test extra: the widget case needs it)

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "halving.py").write_text(
        "def halve(n):\n    if n == 3:\n        raise ValueError('odd <n>')\n    return n / 2\n"
    )
    hide = "" if widgets else "import sys; sys.modules['ipywidgets'] = None  # not installed\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            hide + "import xyzfarm as xyz\nfrom halving import halve\n"
            "crop = xyz.Runner(halve, 'h').Crop(name='halves')\n"
            "crop.sow_combos({'n': range(4)})\ncrop.grow()\ncrop"
        ),
    ]
    execute(nb, tmp_path / "work")
    cell = nb.cells[0]
    shown = outputs(cell, "text/html")
    assert len(shown) == 1 and "xyzfarm.Crop &#x27;halves&#x27;" in shown[0]
    assert "3/4 done, 1 failed" in shown[0] and "odd &lt;n&gt;" in shown[0]
    assert outputs(cell, "text/plain")[-1].startswith("<xyzfarm.Crop 'halves' at ")
    errors = stream(cell, "stderr")
    assert "IProgress" not in errors and "TqdmWarning" not in errors, errors
    if widgets:  # one widget, and no text bar beside it
        assert len(outputs(cell, WIDGET)) == 1 and "Grow:" not in errors, errors
    else:  # text, drawn once, with no warning about widgets
        assert outputs(cell, WIDGET) == [] and errors.count("Grow: 100%") == 1, errors


def test_a_crop_whose_manifest_is_damaged_shows_why_instead_of_failing_to_display():
    crop = sown()
    manifest = Path(crop.location) / "crop.json"
    manifest.write_text(manifest.read_text().replace('"n"', '"m"', 1))
    shown = crop._repr_html_()
    assert "cannot be read" in shown and "CropFormatError" in shown
    assert html.escape(crop.location) in shown
