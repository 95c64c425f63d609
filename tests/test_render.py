"""Golden array-job scripts for every scheduler x scenario; ``make golden`` regenerates them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from xyzfarm.crop.submit import script_context
from xyzfarm.folder.layout import CropLayout
from xyzfarm.schedulers import REGISTRY
from xyzfarm.schedulers.arrays import plan_arrays
from xyzfarm.schedulers.render import render
from xyzfarm.schedulers.resources import resources_from

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = {
    "basic": ({}, 1),
    "full": (
        {
            "job_name": "sweep-1",
            "walltime": "1:5:0",
            "mem_gb": 8,
            "gpus": 2,
            "partition": "gpu",
            "account": "proj42",
            "qos": "long",
            "constraint": "a100",
            "array_throttle": 4,
            "extra_directives": ["# site: needs exclusive nodes"],
            "threads_per_worker": 2,
            "setup": ["module load python/3.11", "source ~/venvs/sim/bin/activate"],
        },
        4,
    ),
}


def rendered(
    scheduler: str,
    scenario: str,
    parent: str = "/scratch/my project",
    workdir: str = "/home/me/my notebooks",
) -> str:
    mod = REGISTRY[scheduler]
    options, workers = SCENARIOS[scenario]
    res = resources_from(options)
    (chunk,) = plan_arrays(
        list(range(1, 9)),
        max_array_size=1001,
        batches_per_task=workers,
        first_index=mod.FIRST_INDEX,
    )
    layout = CropLayout("sweep", parent)
    context = script_context(
        layout, mod, chunk, f"{layout.root}/jobs/J/chunk-0.map.json", res, workers
    )
    context.update(python="/opt/venv/bin/python", pythonpath="/opt/site", workdir=workdir)
    context.update(submit_command=f"cd {parent}/.xyz-sweep/logs && sbatch chunk-0.sh")
    return render(mod.TEMPLATE, context)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("scheduler", sorted(REGISTRY))
def test_rendered_scripts_match_their_golden_copies_and_parse(scheduler, scenario, tmp_path):
    text = rendered(scheduler, scenario)
    golden = GOLDEN / f"{scheduler}-{scenario}.sh"
    if os.environ.get("XYZ_REGENERATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden.name} differs: `make golden` if intended"
    script = tmp_path / "s.sh"
    script.write_text(text)
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_the_1_5_0_walltime_renders_as_one_hour_five_minutes():
    assert "#SBATCH --time=01:05:00" in rendered("slurm", "full")
    assert "#$ -l h_rt=01:05:00" in rendered("sge", "full")
    assert "#PBS -l walltime=01:05:00" in rendered("pbs", "full")


@pytest.mark.parametrize("scheduler", sorted(REGISTRY))
def test_hostile_paths_render_inert(scheduler, tmp_path):
    """Quotes, spaces, $() and backticks in the crop's path reach the worker as plain text."""
    parent = tmp_path / "it's $(touch PWNED) `touch PWNED2` here"
    workdir = tmp_path / "wd it's $(touch PWNED3)"
    workdir.mkdir()
    text = rendered(scheduler, "basic", parent=str(parent), workdir=str(workdir))
    stub = tmp_path / "python"
    stub.write_text('#!/bin/bash\nprintf "%s\\n" "$PWD" "$PYTHONPATH" "$@"\n')
    stub.chmod(0o755)
    text = text.replace("/opt/venv/bin/python", str(stub))
    script = tmp_path / "job.sh"
    script.write_text(text)
    subprocess.run(["bash", "-n", str(script)], check=True)
    out = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.splitlines()
    assert out[out.index("task") + 1] == str(parent / ".xyz-sweep")
    assert out[out.index("-m") - 2] == str(workdir)  # the task runs in the session's folder
    assert not list(tmp_path.glob("PWNED*")) and not list(workdir.glob("PWNED*"))


def test_a_users_template_folder_overrides_one_block(tmp_path):
    (tmp_path / "slurm.sh.j2").write_text(
        '{% extends "base.sh.j2" %}{% block setup %}echo custom setup\n{% endblock %}'
    )
    mod = REGISTRY["slurm"]
    (chunk,) = plan_arrays([1], max_array_size=10)
    context = script_context(CropLayout("c", tmp_path), mod, chunk, "m.json", resources_from(), 1)
    text = render(mod.TEMPLATE, context, [tmp_path])
    assert "echo custom setup" in text and "#SBATCH --array=0-0" in text


def test_a_template_using_an_undefined_value_fails_loudly(tmp_path):
    import jinja2

    (tmp_path / "slurm.sh.j2").write_text("{{ no_such_value }}")
    with pytest.raises(jinja2.UndefinedError):
        render("slurm.sh.j2", {}, [tmp_path])
